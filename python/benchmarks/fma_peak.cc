// The FMA peak of one core: 12 independent chains of 8-float fused
// multiply-adds (enough to cover the FMA latency on two pipes), nothing
// loaded or stored. Run one copy per core at once to see the machine's peak
// with every core busy (a boost clock may drop). See docs/performance.md.
//   g++ -O2 -march=native python/benchmarks/fma_peak.cc -o /tmp/fma_peak
//   /tmp/fma_peak & /tmp/fma_peak; wait
#include <immintrin.h>

#include <chrono>
#include <cstdio>

int main() {
  __m256 acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = _mm256_set1_ps(1e-3f * static_cast<float>(i));
  __m256 scale = _mm256_set1_ps(0.999f);
  const __m256 offset = _mm256_set1_ps(1e-4f);
  const long steps = 200000000;
  for (int run = 0; run < 5; ++run) {
    const auto start = std::chrono::steady_clock::now();
    for (long k = 0; k < steps; ++k) {
#pragma GCC unroll 12
      for (int i = 0; i < 12; ++i) acc[i] = _mm256_fmadd_ps(scale, acc[i], offset);
      __asm__ volatile("" : "+x"(scale));  // keep the loop from being folded
    }
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    std::printf("%.1f GFLOP/s on this core\n", steps * 12.0 * 16.0 / took.count() / 1e9);
  }
  float sum = 0;
  for (int i = 0; i < 12; ++i) sum += _mm256_cvtss_f32(acc[i]);
  std::printf("(checksum %g)\n", sum);
  return 0;
}
