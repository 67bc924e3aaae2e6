// The FMA peak of one core: 12 independent chains of fused multiply-adds on
// the widest float vectors the compiler targets (16 floats with AVX-512, 8
// with AVX2: build it for the level to measure; enough chains to cover the FMA latency on two pipes), nothing
// loaded or stored. Run one copy per core at once to see the machine's peak
// with every core busy (a boost clock may drop). See docs/performance.md.
//   g++ -O2 -march=x86-64-v4 python/benchmarks/fma_peak.cc -o /tmp/fma_peak   # or x86-64-v3
//   /tmp/fma_peak & /tmp/fma_peak; wait
#include <immintrin.h>

#include <chrono>
#include <cstdio>

#if defined(__AVX512F__)
using V = __m512;
constexpr int kLanes = 16;
V Set(float x) { return _mm512_set1_ps(x); }
V Fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
float First(V v) { return _mm512_cvtss_f32(v); }
#else
using V = __m256;
constexpr int kLanes = 8;
V Set(float x) { return _mm256_set1_ps(x); }
V Fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
float First(V v) { return _mm256_cvtss_f32(v); }
#endif

int main() {
  V acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = Set(1e-3f * static_cast<float>(i));
  V scale = Set(0.999f);
  const V offset = Set(1e-4f);
  const long steps = 200000000;
  for (int run = 0; run < 5; ++run) {
    const auto start = std::chrono::steady_clock::now();
    for (long k = 0; k < steps; ++k) {
#pragma GCC unroll 12
      for (int i = 0; i < 12; ++i) acc[i] = Fma(scale, acc[i], offset);
      __asm__ volatile("" : "+v"(scale));  // keep the loop from being folded
    }
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    std::printf("%.1f GFLOP/s on this core (%d-float vectors)\n",
                steps * 12.0 * 2 * kLanes / took.count() / 1e9, kLanes);
  }
  float sum = 0;
  for (int i = 0; i < 12; ++i) sum += First(acc[i]);
  std::printf("(checksum %g)\n", sum);
  return 0;
}
