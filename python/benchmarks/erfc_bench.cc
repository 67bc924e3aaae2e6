// Scalar std::erfc against Eigen's vectorized erfc for the exact gelu on
// 350K floats (the layer size of the demo's gelu layer): time per pass and
// the largest relative error against a double reference. See
// docs/performance.md. Build and run (TensorFlow's headers carry Eigen), for
// the avx512 level as below or x86-64-v3 for avx2; not -march=native, which
// g++ 12 cannot compile Eigen with on a CPU with AVX512-FP16:
//   g++ -O3 -march=x86-64-v4 -std=c++17 -I"$(python -c "import tensorflow as tf; print(tf.sysconfig.get_include())")" \
//       python/benchmarks/erfc_bench.cc -o /tmp/erfc_bench && /tmp/erfc_bench
#include <chrono>
#include <cmath>
#include <cstdio>
#include <vector>
#include "Eigen/Core"
#include "unsupported/Eigen/SpecialFunctions"
int main() {
  const int n = 350000;
  std::vector<float> x(n), y(n), z(n);
  for (int i = 0; i < n; ++i) x[i] = -12.f + 24.f * (i % 9973) / 9973.f;
  auto t0 = std::chrono::steady_clock::now();
  for (int r = 0; r < 10; ++r) for (int i = 0; i < n; ++i) y[i] = 0.5f * x[i] * std::erfc(-x[i] * 0.70710678f);
  auto t1 = std::chrono::steady_clock::now();
  for (int r = 0; r < 10; ++r) {
    Eigen::Map<Eigen::ArrayXf> v(x.data(), n), o(z.data(), n);
    o = 0.5f * v * (-v * 0.70710678f).erfc();
  }
  auto t2 = std::chrono::steady_clock::now();
  double maxrel = 0;
  for (int i = 0; i < n; ++i) {
    double ref = 0.5 * (double)x[i] * std::erfc(-(double)x[i] * 0.7071067811865476);
    double e = std::fabs(z[i] - ref) / std::max(std::fabs(ref), 1e-38);
    if (e > maxrel) maxrel = e;
  }
  double maxrel_s = 0;
  for (int i = 0; i < n; ++i) {
    double ref = 0.5 * (double)x[i] * std::erfc(-(double)x[i] * 0.7071067811865476);
    double e = std::fabs(y[i] - ref) / std::max(std::fabs(ref), 1e-38);
    if (e > maxrel_s) maxrel_s = e;
  }
  printf("scalar %.2f ms, eigen %.2f ms per pass; max rel err eigen %.2e scalar %.2e\n",
         std::chrono::duration<double, std::milli>(t1 - t0).count() / 10,
         std::chrono::duration<double, std::milli>(t2 - t1).count() / 10, maxrel, maxrel_s);
}
