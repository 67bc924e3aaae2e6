// Memory bandwidth of N threads, one per core (pinned), each over its own
// 128 MiB: a read (a sum), plain stores (each line read for ownership before
// it is written), streamed stores (written past the caches, no read), and the
// two copies. Tells what a pass that writes large outputs can expect from the
// machine, and what streaming its stores would save. See docs/performance.md.
// The widest vectors the build targets: AVX-512 as below, AVX with
// -march=x86-64-v3 (a machine without AVX-512).
//   g++ -O2 -march=x86-64-v4 python/benchmarks/store_bandwidth.cc -pthread -o /tmp/store_bandwidth
//   /tmp/store_bandwidth 1; /tmp/store_bandwidth 2
#include <immintrin.h>
#include <sched.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

namespace {

#if defined(__AVX512F__)
using Vector = __m512;
constexpr size_t kLanes = 16;
Vector Zero() { return _mm512_setzero_ps(); }
Vector Ones() { return _mm512_set1_ps(1.0f); }
Vector Load(const float* p) { return _mm512_load_ps(p); }
Vector Add(Vector a, Vector b) { return _mm512_add_ps(a, b); }
void Store(float* p, Vector v) { _mm512_store_ps(p, v); }
void Stream(float* p, Vector v) { _mm512_stream_ps(p, v); }
float Sum(Vector v) { return _mm512_reduce_add_ps(v); }
#elif defined(__AVX__)
using Vector = __m256;
constexpr size_t kLanes = 8;
Vector Zero() { return _mm256_setzero_ps(); }
Vector Ones() { return _mm256_set1_ps(1.0f); }
Vector Load(const float* p) { return _mm256_load_ps(p); }
Vector Add(Vector a, Vector b) { return _mm256_add_ps(a, b); }
void Store(float* p, Vector v) { _mm256_store_ps(p, v); }
void Stream(float* p, Vector v) { _mm256_stream_ps(p, v); }
float Sum(Vector v) {
  alignas(32) float lanes[kLanes];
  _mm256_store_ps(lanes, v);
  float sum = 0;
  for (float lane : lanes) sum += lane;
  return sum;
}
#else
#error "build for x86-64-v3 or x86-64-v4 (the header's command)"
#endif

constexpr size_t kFloats = (size_t{128} << 20) / sizeof(float);
enum Mode { kRead, kStore, kStream, kCopy, kStreamCopy, kModes };
const char* const kNames[] = {"read", "store", "streamed store", "copy", "streamed copy"};

void Pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  sched_setaffinity(0, sizeof(set), &set);
}

// GB/s of one pass over the thread's arrays (bytes read plus bytes written).
double Run(Mode mode, const float* in, float* out) {
  const auto start = std::chrono::steady_clock::now();
  const Vector ones = Ones();
  if (mode == kRead) {
    Vector sum = Zero();
    for (size_t i = 0; i < kFloats; i += kLanes) sum = Add(sum, Load(in + i));
    volatile float keep = Sum(sum);
    (void)keep;
  } else if (mode == kStore || mode == kStream) {
    for (size_t i = 0; i < kFloats; i += kLanes) {
      mode == kStore ? Store(out + i, ones) : Stream(out + i, ones);
    }
  } else {
    for (size_t i = 0; i < kFloats; i += kLanes) {
      const Vector v = Load(in + i);
      mode == kCopy ? Store(out + i, v) : Stream(out + i, v);
    }
  }
  _mm_sfence();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double bytes = (mode == kCopy || mode == kStreamCopy ? 2.0 : 1.0) * kFloats * 4;
  return bytes / seconds / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 1;
  std::vector<float*> in(threads), out(threads);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {  // each thread touches its own pages first
    pool.emplace_back([&, t] {
      Pin(t);
      in[t] = static_cast<float*>(std::aligned_alloc(64, kFloats * 4));
      out[t] = static_cast<float*>(std::aligned_alloc(64, kFloats * 4));
      for (size_t i = 0; i < kFloats; ++i) in[t][i] = out[t][i] = 1.0f;
    });
  }
  for (auto& thread : pool) thread.join();
  for (int mode = 0; mode < kModes; ++mode) {
    for (int repeat = 0; repeat < 3; ++repeat) {
      std::vector<double> rate(threads);
      pool.clear();
      for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] {
          Pin(t);
          rate[t] = Run(static_cast<Mode>(mode), in[t], out[t]);
        });
      }
      for (auto& thread : pool) thread.join();
      double total = 0;
      for (double r : rate) total += r;
      std::printf("%d threads, %-15s %6.1f GB/s\n", threads, kNames[mode], total);
    }
  }
}
