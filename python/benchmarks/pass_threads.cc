// One forward pass of the CPU core on N std::threads, outside TensorFlow:
// what the pass itself costs with its data and cores warm, with its data
// pushed out of the caches first, and with the cores idle a while first as
// well (as they are after the stock layer's call in `python -m tf_conv1d_op
// bench`). Set against depthwise_probe.py's figures for the op in
// TensorFlow, it tells the pass from what surrounds it. Built with the op
// library's own objects of the core, so it runs the level the library would
// (TF_CONV1D_ISA forces one):
//
//   mapfile -t core < <(python -m build_tools.op_library core)
//   g++ ${core[0]} python/benchmarks/pass_threads.cc "${core[@]:1}" -pthread -o /tmp/pass_threads
//   /tmp/pass_threads BATCH STEPS IN_CH FILTERS KERNEL STRIDE DILATION PADDING GROUPS THREADS
//                     STATE [TRIALS] [ACTIVATION] [DTYPE]
//   e.g. /tmp/pass_threads 16 512 256 256 31 1 1 same 256 2 cold   # the Conformer forward
//        /tmp/pass_threads 8 2048 1536 1536 4 1 1 causal 1536 2 cold 41 silu   # Mamba's
//
// STATE: hot (the calls one after another), cold (256 MiB written between
// calls), idle (the same after a 100 ms sleep).
// ACTIVATION: an op attribute name (default linear).
// DTYPE: float (the default), bfloat16, float16 or double.
// Prints the median and fastest milliseconds, the median GFLOP/s, and the
// sum of the outputs (the same for every thread count).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "Eigen/Core"
#include "cc/kernels/core/conv1d_cpu.h"
#include "cc/kernels/core/cpu_isa.h"
#include "python/benchmarks/geometry_args.h"

using namespace conv1d;

namespace {

class ThreadRunner : public ParallelRunner {
 public:
  explicit ThreadRunner(int threads) : threads_(threads) {}
  void For(int64_t units, int64_t /*cost_per_unit*/,
           const std::function<void(int64_t, int64_t)>& fn) const override {
    // Blocks of consecutive units, 16 per thread, as the op hands them out
    // (fused_conv1d_cpu_kernels.cc, which also keeps each above a minimum cost).
    const int64_t block = std::max<int64_t>(1, (units + 16 * threads_ - 1) / (16 * threads_));
    std::atomic<int64_t> next{0};
    const auto claim = [&] {
      for (int64_t u = next.fetch_add(block); u < units; u = next.fetch_add(block)) {
        fn(u, std::min(units, u + block));
      }
    };
    std::vector<std::thread> helpers;
    for (int t = 1; t < threads_; ++t) helpers.emplace_back(claim);
    claim();
    for (auto& h : helpers) h.join();
  }

 private:
  const int threads_;
};

// 64-byte aligned, as TensorFlow allocates tensors.
template <typename T>
std::vector<T> Aligned(int64_t elements, T** data) {
  std::vector<T> storage(elements + 64);
  const auto address = reinterpret_cast<uintptr_t>(storage.data());
  *data = storage.data() + (64 - address % 64) % 64 / sizeof(T);
  return storage;
}

template <typename T>
int Run(Conv1DGeometry g, const ActivationSpec& act, int threads, const std::string& state,
        int trials);

}  // namespace

int main(int argc, char** argv) {
  if (argc < 12) {
    std::fprintf(stderr,
                 "usage: %s %s GROUPS THREADS hot|cold|idle [TRIALS] [ACTIVATION] [DTYPE]\n",
                 argv[0], geometry_args::kUsage);
    return 2;
  }
  Conv1DGeometry g;
  const bool padding_known = geometry_args::Parse(argv + 1, &g);
  g.groups = std::atol(argv[9]);
  const int threads = std::atoi(argv[10]);
  const std::string state = argv[11];
  const int trials = argc > 12 ? std::atoi(argv[12]) : 41;
  ActivationSpec act;  // linear unless named
  const bool act_known = argc <= 13 || ParseActivation(argv[13], &act.kind);
  const std::string error = ResolveGeometry(&g);
  if (!error.empty() || !padding_known || !act_known || threads < 1 || trials < 1 ||
      (state != "hot" && state != "cold" && state != "idle")) {
    std::fprintf(stderr, "bad arguments %s\n", error.c_str());
    return 2;
  }
  const std::string dtype = argc > 14 ? argv[14] : "float";
  if (dtype == "float") return Run<float>(g, act, threads, state, trials);
  if (dtype == "bfloat16") return Run<Eigen::bfloat16>(g, act, threads, state, trials);
  if (dtype == "float16") return Run<Eigen::half>(g, act, threads, state, trials);
  if (dtype == "double") return Run<double>(g, act, threads, state, trials);
  std::fprintf(stderr, "bad dtype %s (float, bfloat16, float16 or double)\n", dtype.c_str());
  return 2;
}

namespace {

template <typename T>
int Run(Conv1DGeometry g, const ActivationSpec& act, int threads, const std::string& state,
        int trials) {
  T *x, *w, *b, *y;
  auto x_storage = Aligned(g.input_elements(), &x);
  auto w_storage = Aligned(g.filter_elements(), &w);
  auto b_storage = Aligned(g.out_channels, &b);
  auto y_storage = Aligned(g.output_elements(), &y);
  std::mt19937 rng(1);
  std::normal_distribution<float> normal;
  for (auto [p, n] : {std::pair{x, g.input_elements()}, {w, g.filter_elements()},
                      {b, g.out_channels}}) {
    for (int64_t i = 0; i < n; ++i) p[i] = static_cast<T>(normal(rng));
  }
  std::vector<char> other(256 << 20, 1);
  const ThreadRunner runner(threads);
  const cpu_isa::Selection& level = cpu_isa::Selected();
  if (!level.error.empty()) {
    std::fprintf(stderr, "%s\n", level.error.c_str());
    return 2;
  }
  std::vector<double> ms;
  for (int t = -1; t < trials; ++t) {  // the first call touches the output
    if (state == "idle") std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (state != "hot") {
      for (size_t i = 0; i < other.size(); i += 64) ++other[i];
    }
    const auto start = std::chrono::steady_clock::now();
    FusedConv1DForwardCpu<T>(g, act, x, w, b, y, nullptr, runner);
    const std::chrono::duration<double, std::milli> took = std::chrono::steady_clock::now() - start;
    if (t >= 0) ms.push_back(took.count());
  }
  std::sort(ms.begin(), ms.end());
  const double flops = 2.0 * g.output_elements() * g.kernel_size * g.group_in_channels();
  double checksum = 0;
  for (int64_t i = 0; i < g.output_elements(); ++i) checksum += static_cast<double>(y[i]);
  std::printf("level %s, %d threads, %s: median %.3f ms, fastest %.3f ms, %.1f GFLOP/s, "
              "checksum %.17g\n", cpu_isa::Name(level.level), threads, state.c_str(),
              ms[ms.size() / 2], ms[0], flops / ms[ms.size() / 2] / 1e6, checksum);
  return 0;
}

}  // namespace
