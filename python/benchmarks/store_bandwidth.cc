// Memory bandwidth of N threads, one per core (pinned), each over its own
// 128 MiB: a read (a sum), plain stores (each line read for ownership before
// it is written), streamed stores (written past the caches, no read), and the
// two copies. Tells what a pass that writes large outputs can expect from the
// machine, and what streaming its stores would save. See docs/performance.md.
//   g++ -O2 -mavx512f python/benchmarks/store_bandwidth.cc -pthread -o /tmp/store_bandwidth
//   /tmp/store_bandwidth 1; /tmp/store_bandwidth 2
#include <immintrin.h>
#include <sched.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

namespace {

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
  const __m512 ones = _mm512_set1_ps(1.0f);
  if (mode == kRead) {
    __m512 sum = _mm512_setzero_ps();
    for (size_t i = 0; i < kFloats; i += 16) sum = _mm512_add_ps(sum, _mm512_load_ps(in + i));
    volatile float keep = _mm512_reduce_add_ps(sum);
    (void)keep;
  } else if (mode == kStore || mode == kStream) {
    for (size_t i = 0; i < kFloats; i += 16) {
      mode == kStore ? _mm512_store_ps(out + i, ones) : _mm512_stream_ps(out + i, ones);
    }
  } else {
    for (size_t i = 0; i < kFloats; i += 16) {
      const __m512 v = _mm512_load_ps(in + i);
      mode == kCopy ? _mm512_store_ps(out + i, v) : _mm512_stream_ps(out + i, v);
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
