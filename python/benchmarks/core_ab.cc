// Two builds of the CPU core in one process, timed alternately on one thread:
// how a change to cc/kernels/core is measured on a VM whose speed drifts by
// 30% from minute to minute (both builds see the same drift, so their ratio
// holds still). Each build's passes live in their own namespace (isa_a,
// isa_b: core_ab.sh compiles them so).
//
//   core_ab BATCH STEPS IN_CH FILTERS KERNEL STRIDE DILATION PADDING PASS [TRIALS] [GROUPS]
//           [ACTIVATION] [DTYPE] [STATE]
//
// PADDING is valid, same or causal; PASS is forward, input_grad or filter_grad;
// GROUPS 1 (dense, the default) or IN_CH (depthwise); ACTIVATION one of the
// op's names (relu by default); DTYPE float (the default), bfloat16,
// float16 or double; STATE hot (the default: each call finds its tensors in
// the caches, as the call before left them) or cold (256 MiB written before
// each call, outside its timing, so its tensors come from memory as in a
// training step, where other layers' tensors pass through the caches
// between two calls of one layer).
// Prints each build's median GFLOP/s and the median of the per-trial ratios
// B/A with its quartiles. Swapping the builds (A <-> B) shows the harness's
// own bias (code placement), a few percent.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <random>
#include <string>
#include <vector>

#include "Eigen/Core"
#include "cc/kernels/core/cpu_passes.h"
#include "python/benchmarks/geometry_args.h"

namespace conv1d {
namespace isa_a {
const CpuPasses& LevelPasses();
}
namespace isa_b {
const CpuPasses& LevelPasses();
}
}  // namespace conv1d

using namespace conv1d;

template <typename T>
struct Aligned64 {
  using value_type = T;
  Aligned64() = default;
  template <typename U>
  Aligned64(const Aligned64<U>&) {}
  T* allocate(size_t n) {
    return static_cast<T*>(std::aligned_alloc(64, (n * sizeof(T) + 63) / 64 * 64));
  }
  void deallocate(T* p, size_t) { std::free(p); }
  bool operator==(const Aligned64&) const { return true; }
  bool operator!=(const Aligned64&) const { return false; }
};

double ThreadSeconds() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

// Prints the medians for builds A and B of one pass in dtype T.
template <typename T>
int Compare(const Conv1DGeometry& g, const ActivationSpec& act, const std::string& pass,
            int trials, bool cold) {
  const bool depthwise = g.groups > 1 && g.groups == g.in_channels;
  std::mt19937 rng(1);
  std::normal_distribution<float> normal;
  using Buffer = std::vector<T, Aligned64<T>>;  // as TensorFlow aligns tensors
  Buffer x(g.input_elements()), w(g.filter_elements()), b(g.out_channels),
      y(g.output_elements()), dy(g.output_elements()), dx(g.input_elements()),
      dw(g.filter_elements()), db(g.out_channels);
  for (auto* v : {&x, &w, &b, &dy}) {
    for (T& e : *v) e = static_cast<T>(normal(rng));
  }
  const SerialRunner serial;
  const double flops = 2.0 * g.output_elements() * g.kernel_size * g.group_in_channels();

  // GFLOP/s of one call of build A (0) or B (1), over the thread's CPU time:
  // the time slices other processes take on a shared machine do not count.
  std::vector<char> other(cold ? 256 << 20 : 0, 1);  // written to evict the tensors
  const auto gflops = [&](int build) {
    for (size_t i = 0; i < other.size(); i += 64) ++other[i];
    const double start = ThreadSeconds();
    const PassesOf<T>& passes =
        (build ? isa_b::LevelPasses() : isa_a::LevelPasses()).Of<T>();
    if (pass == "forward") {
      (depthwise ? passes.depthwise_forward : passes.forward)(g, act, x.data(), w.data(), b.data(), y.data(), nullptr, serial);
    } else if (pass == "input_grad") {
      (depthwise ? passes.depthwise_backprop_input : passes.backprop_input)(g, act, w.data(), dy.data(), y.data(), dx.data(), serial);
    } else {
      (depthwise ? passes.depthwise_backprop_filter : passes.backprop_filter)(g, act, x.data(), dy.data(), y.data(), dw.data(), db.data(),
                             serial);
    }
    return flops / (ThreadSeconds() - start) / 1e9;
  };

  // The gradients' operand as the op passes it: the output, or the
  // preactivation where the activation's derivative needs it (relu's
  // half-zero output, not zeros, so that its branches predict as they would).
  {
    const PassesOf<T>& passes = isa_a::LevelPasses().Of<T>();
    Buffer z(NeedsPreactivation(act) ? g.output_elements() : 0);
    (depthwise ? passes.depthwise_forward : passes.forward)(
        g, act, x.data(), w.data(), b.data(), y.data(), z.empty() ? nullptr : z.data(), serial);
    if (!z.empty()) y = z;
  }
  gflops(0), gflops(1);  // first touch of the buffers
  std::vector<double> rate_a, rate_b, ratio;
  for (int t = 0; t < trials; ++t) {
    // Alternate which build goes first, so neither always follows the other.
    double a = 0, bb = 0;
    if (t % 2 == 0) a = gflops(0), bb = gflops(1);
    else bb = gflops(1), a = gflops(0);
    rate_a.push_back(a);
    rate_b.push_back(bb);
    ratio.push_back(bb / a);
  }
  for (auto* v : {&rate_a, &rate_b, &ratio}) std::sort(v->begin(), v->end());
  const int mid = trials / 2, quarter = trials / 4;
  std::printf("%s: A %.1f GFLOP/s, B %.1f GFLOP/s, B/A %.3f (quartiles %.3f..%.3f)\n",
              pass.c_str(), rate_a[mid], rate_b[mid], ratio[mid], ratio[quarter],
              ratio[trials - 1 - quarter]);
  return 0;
}

int main(int argc, char** argv) {
  if (argc < 10) {
    std::fprintf(stderr, "usage: %s %s PASS [TRIALS] [GROUPS] [ACTIVATION] [DTYPE] [STATE]\n",
                 argv[0], geometry_args::kUsage);
    return 2;
  }
  Conv1DGeometry g;
  const bool padding_known = geometry_args::Parse(argv + 1, &g);
  const std::string pass = argv[9];
  const int trials = argc > 10 ? std::atoi(argv[10]) : 41;
  g.groups = argc > 11 ? std::atol(argv[11]) : 1;
  ActivationSpec act;
  act.kind = Activation::kRelu;
  const bool act_known = argc <= 12 || ParseActivation(argv[12], &act.kind);
  const std::string error = ResolveGeometry(&g);
  // The grouped passes of other group counts are the dense ones per group.
  const bool depthwise = g.groups > 1 && g.groups == g.in_channels;
  if (!error.empty() || !padding_known || !act_known || trials < 1 || (g.groups != 1 && !depthwise) ||
      (pass != "forward" && pass != "input_grad" && pass != "filter_grad")) {
    std::fprintf(stderr, "bad arguments %s\n", error.c_str());
    return 2;
  }

  const std::string state = argc > 14 ? argv[14] : "hot";
  if (state != "hot" && state != "cold") {
    std::fprintf(stderr, "bad state %s (hot or cold)\n", state.c_str());
    return 2;
  }
  const bool cold = state == "cold";
  const std::string dtype = argc > 13 ? argv[13] : "float";
  if (dtype == "float") return Compare<float>(g, act, pass, trials, cold);
  if (dtype == "bfloat16") return Compare<Eigen::bfloat16>(g, act, pass, trials, cold);
  if (dtype == "float16") return Compare<Eigen::half>(g, act, pass, trials, cold);
  if (dtype == "double") return Compare<double>(g, act, pass, trials, cold);
  std::fprintf(stderr, "bad dtype %s (float, bfloat16, float16 or double)\n", dtype.c_str());
  return 2;
}
