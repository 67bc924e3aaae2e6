// The packet silu and sigmoid of activation_arrays.h (ActivateValues on float
// runs): nanoseconds per element over a hot 4096-float run, and the largest
// relative error against a double reference over [-120, 120] plus the
// special values (below -87 the packet exp gives 0 for e^x, or with AVX-512
// the denormal: the largest absolute error there is reported apart). See docs/performance.md. Build and run at one level's flags
// (x86-64-v4, x86-64-v3, x86-64-v2), from the repository root (TensorFlow's
// headers carry Eigen); for another revision, run it in a worktree of it:
//   g++ -O3 -march=x86-64-v4 -std=c++17 -I. -DTF_CONV1D_LEVEL_NAMESPACE=bench \
//       -isystem "$(python -c "import tensorflow as tf; print(tf.sysconfig.get_include())")" \
//       python/benchmarks/sigmoid_packets.cc cc/kernels/core/activations.cc -o /tmp/sigmoid_packets \
//     && /tmp/sigmoid_packets
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

#include "cc/kernels/core/activation_arrays.h"

using namespace conv1d;

double Reference(Activation kind, double x) {
  const double s = x >= 0 ? 1 / (1 + std::exp(-x)) : std::exp(x) / (1 + std::exp(x));
  return kind == Activation::kSilu ? x * s : s;
}

int main() {
  for (const Activation kind : {Activation::kSilu, Activation::kSigmoid}) {
    ActivationSpec act;
    act.kind = kind;
    const char* name = kind == Activation::kSilu ? "silu" : "sigmoid";

    std::vector<float> source(4096), run(4096);
    for (size_t i = 0; i < source.size(); ++i) source[i] = (i % 200) * 0.05f - 5;
    double best = 1e30;
    for (int trial = 0; trial < 5; ++trial) {
      constexpr int kRepeats = 5000;
      const auto start = std::chrono::steady_clock::now();
      for (int r = 0; r < kRepeats; ++r) {
        std::memcpy(run.data(), source.data(), source.size() * sizeof(float));
        ActivateValues<float>(act, run.data(), static_cast<int64_t>(run.size()));
      }
      const std::chrono::duration<double, std::nano> took =
          std::chrono::steady_clock::now() - start;
      best = std::min(best, took.count() / kRepeats / run.size());
    }

    std::vector<float> x;
    for (float v = -120; v <= 120; v += 0.0007f) x.push_back(v);
    const std::vector<float> special = {0.0f, -0.0f, INFINITY, -INFINITY, NAN};
    x.insert(x.end(), special.begin(), special.end());
    std::vector<float> y = x;
    ActivateValues<float>(act, y.data(), static_cast<int64_t>(y.size()));
    double worst = 0, worst_at = 0, worst_flushed = 0;
    int mismatches = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      const double want = Reference(kind, x[i]);
      if (!std::isfinite(want) || !std::isfinite(y[i])) {
        const bool same = std::isnan(want) ? std::isnan(y[i]) : want == y[i];
        mismatches += same ? 0 : 1;
        continue;
      }
      const double error = std::fabs(y[i] - want);
      if (x[i] < -87.0f) {
        worst_flushed = std::max(worst_flushed, error);
      } else if (error / std::fabs(want) > worst) {
        worst = error / std::fabs(want), worst_at = x[i];
      }
    }
    std::printf("%s: %.3f ns per element; worst relative error %.3g at %g; below -87 off by "
                "at most %.3g; non-finite mismatches %d\n",
                name, best, worst, worst_at, worst_flushed, mismatches);
  }
  return 0;
}
