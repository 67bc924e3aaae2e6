// Checks one case of the framework-free CPU core, without TensorFlow: the
// forward pass and both gradients against a naive double-precision
// implementation written here (indices in 128 bits; grouped and depthwise
// convolutions from the definition, not from the core's channel_groups.h,
// so that a wrong group geometry in the core fails), with every output
// buffer sized exactly and prefilled with NaN; the same case also runs on
// several std::threads with a random partition of the work, which must give
// bitwise the serial result. Used by core_test.cc (seeded sweeps) and
// core_fuzz.cc (libFuzzer).
#ifndef TF_CONV1D_OP_TESTS_NATIVE_CORE_CHECK_H_
#define TF_CONV1D_OP_TESTS_NATIVE_CORE_CHECK_H_
#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "Eigen/Core"
#include "cc/kernels/core/activations.h"
#include "cc/kernels/core/conv1d_cpu.h"
#include "cc/kernels/core/conv1d_geometry.h"

namespace core_check {

using conv1d::Activation;
using conv1d::ActivationSpec;
using conv1d::Conv1DGeometry;
using conv1d::Layout;
using conv1d::Padding;
using int128 = __int128;

// ---------------------------------------------------------------- runners

// Splits [0, units) into random chunks, run in a random order on `threads`
// threads: the core's results must not depend on how the work is cut. The
// threads live as long as the runner, as a TF intra-op pool's do (starting
// threads per call cost more than the work of most calls, under ASan most
// of all: the grouped passes call For several times per group).
class RandomThreadRunner : public conv1d::ParallelRunner {
 public:
  RandomThreadRunner(int threads, uint64_t seed) : threads_(threads), seed_(seed) {
    for (int t = 0; t < threads_; ++t) pool_.emplace_back([this, t] { Work(t); });
  }
  ~RandomThreadRunner() override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    for (auto& thread : pool_) thread.join();
  }

  void For(int64_t units, int64_t, const std::function<void(int64_t, int64_t)>& fn) const override {
    if (units <= 0) return;
    std::mt19937_64 rng(seed_ + static_cast<uint64_t>(units));
    std::vector<std::pair<int64_t, int64_t>> chunks;
    for (int64_t begin = 0; begin < units;) {
      const int64_t size = 1 + static_cast<int64_t>(rng() % static_cast<uint64_t>(
                                   std::max<int64_t>(1, units / threads_)));
      chunks.emplace_back(begin, std::min(units, begin + size));
      begin = chunks.back().second;
    }
    std::shuffle(chunks.begin(), chunks.end(), rng);
    std::unique_lock<std::mutex> lock(mutex_);
    if (fn_ != nullptr) std::abort();  // a nested or concurrent For: the core makes none
    fn_ = &fn;
    chunks_ = &chunks;
    busy_ = threads_;
    ++generation_;
    wake_.notify_all();
    done_.wait(lock, [&] { return busy_ == 0; });
    fn_ = nullptr;
  }

 private:
  // Worker t runs chunks t, t + threads, ... of each call.
  void Work(int t) const {
    uint64_t seen = 0;
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      const auto& fn = *fn_;
      const auto& chunks = *chunks_;
      lock.unlock();
      for (size_t c = t; c < chunks.size(); c += threads_) fn(chunks[c].first, chunks[c].second);
      lock.lock();
      if (--busy_ == 0) done_.notify_all();
    }
  }

  const int threads_;
  const uint64_t seed_;
  std::vector<std::thread> pool_;
  mutable std::mutex mutex_;
  mutable std::condition_variable wake_, done_;
  mutable const std::function<void(int64_t, int64_t)>* fn_ = nullptr;
  mutable const std::vector<std::pair<int64_t, int64_t>>* chunks_ = nullptr;
  mutable int busy_ = 0;
  mutable uint64_t generation_ = 0;
  bool stop_ = false;
};

// ---------------------------------------------------------------- reference

struct Case {
  int64_t batch, steps, cin, kernel, cout, stride, dilation;
  Padding padding;
  Layout layout;
  ActivationSpec act;
  bool bias;
  // Input and output channels in `groups` equal groups, output group j
  // reading input group j only; the filter is [kernel, cin / groups, cout].
  int64_t groups = 1;
};

const char* const kActivationNames[] = {
    "linear", "relu", "relu6", "leaky_relu", "elu", "selu", "gelu",
    "gelu_tanh", "silu", "sigmoid", "hard_sigmoid", "tanh", "softplus"};
const char* const kPaddingNames[] = {"VALID", "SAME", "CAUSAL"};

inline std::string Describe(const Case& c, const char* dtype) {
  char buf[512];
  std::snprintf(buf, sizeof(buf),
                "%s batch=%lld steps=%lld cin=%lld kernel=%lld cout=%lld stride=%lld "
                "dilation=%lld padding=%s layout=%s activation=%s slope=%g bias=%d groups=%lld",
                dtype, (long long)c.batch, (long long)c.steps, (long long)c.cin,
                (long long)c.kernel, (long long)c.cout, (long long)c.stride,
                (long long)c.dilation, kPaddingNames[static_cast<int>(c.padding)],
                c.layout == Layout::kNWC ? "NWC" : "NCW",
                kActivationNames[static_cast<int>(c.act.kind)], c.act.negative_slope, c.bias,
                (long long)c.groups);
  return buf;
}

// Output length and left padding from the definitions (TF's VALID and SAME,
// Keras' causal), in 128-bit arithmetic; false where no output exists.
inline bool ReferenceGeometry(const Case& c, int128* out, int128* pad) {
  const int128 extent = int128(c.kernel - 1) * c.dilation + 1;
  const int128 w = c.steps, s = c.stride;
  if (c.padding == Padding::kValid) {
    if (w < extent) return false;
    *out = (w - extent) / s + 1;
    *pad = 0;
  } else {
    *out = (w + s - 1) / s;
    if (c.padding == Padding::kSame) {
      const int128 total = *out == 0 ? 0 : std::max<int128>(0, (*out - 1) * s + extent - w);
      *pad = total / 2;
    } else {
      *pad = extent - 1;
    }
  }
  return true;
}

inline double Sigmoid(double z) { return 1.0 / (1.0 + std::exp(-z)); }

// keras.activations' definitions, in double.
inline double Act(const ActivationSpec& a, double z) {
  constexpr double kAlpha = 1.6732632423543772848170429916717;
  constexpr double kScale = 1.0507009873554804934193349852946;
  switch (a.kind) {
    case Activation::kLinear: return z;
    case Activation::kRelu: return std::max(z, 0.0);
    case Activation::kRelu6: return std::min(std::max(z, 0.0), 6.0);
    case Activation::kLeakyRelu: return z > 0 ? z : a.negative_slope * z;
    case Activation::kElu: return z > 0 ? z : std::expm1(z);
    case Activation::kSelu: return kScale * (z > 0 ? z : kAlpha * std::expm1(z));
    case Activation::kGelu: return 0.5 * z * (1 + std::erf(z / std::sqrt(2.0)));
    case Activation::kGeluTanh:
      return 0.5 * z * (1 + std::tanh(std::sqrt(2 / M_PI) * (z + 0.044715 * z * z * z)));
    case Activation::kSilu: return z * Sigmoid(z);
    case Activation::kSigmoid: return Sigmoid(z);
    case Activation::kHardSigmoid: return std::min(std::max(z / 6 + 0.5, 0.0), 1.0);
    case Activation::kTanh: return std::tanh(z);
    case Activation::kSoftplus: return std::log1p(std::exp(z));
  }
  return z;
}

// d activation / dz, from the operand the backward pass receives (z for gelu,
// gelu_tanh, silu and leaky_relu with a negative slope, else y), with TF's
// subgradients at the kinks.
inline double ActDerivative(const ActivationSpec& a, double v) {
  constexpr double kAlpha = 1.6732632423543772848170429916717;
  constexpr double kScale = 1.0507009873554804934193349852946;
  switch (a.kind) {
    case Activation::kLinear: return 1;
    case Activation::kRelu: return v > 0;
    case Activation::kRelu6: return v > 0 && v < 6;
    case Activation::kLeakyRelu: return v > 0 ? 1 : a.negative_slope;
    case Activation::kElu: return v < 0 ? v + 1 : 1;
    case Activation::kSelu: return v < 0 ? v + kScale * kAlpha : kScale;
    case Activation::kGelu:
      return 0.5 * (1 + std::erf(v / std::sqrt(2.0))) + v * std::exp(-v * v / 2) / std::sqrt(2 * M_PI);
    case Activation::kGeluTanh: {
      const double c = std::sqrt(2 / M_PI), t = std::tanh(c * (v + 0.044715 * v * v * v));
      return 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * c * (1 + 3 * 0.044715 * v * v);
    }
    case Activation::kSilu: return Sigmoid(v) * (1 + v * (1 - Sigmoid(v)));
    case Activation::kSigmoid: return v * (1 - v);
    case Activation::kHardSigmoid: return v > 0 && v < 1 ? 1.0 / 6 : 0;
    case Activation::kTanh: return 1 - v * v;
    case Activation::kSoftplus: return 1 - std::exp(-v);
  }
  return 1;
}

// Index of (n, t, c) in a [batch, steps, channels] tensor of the given layout.
inline int64_t At(Layout layout, int64_t steps, int64_t channels, int64_t n, int64_t t, int64_t c) {
  return layout == Layout::kNWC ? (n * steps + t) * channels + c : (n * channels + c) * steps + t;
}

// Visits every (n, o, k, i) with input step i = o * stride - pad + k * dilation
// inside the input, the index computed in 128 bits.
template <typename F>
void ForEachTap(const Case& c, int128 out, int128 pad, F f) {
  for (int64_t n = 0; n < c.batch; ++n) {
    for (int64_t o = 0; o < out; ++o) {
      for (int64_t k = 0; k < c.kernel; ++k) {
        const int128 i = int128(o) * c.stride - pad + int128(k) * c.dilation;
        if (i >= 0 && i < c.steps) f(n, o, k, static_cast<int64_t>(i));
      }
    }
  }
}

// ---------------------------------------------------------------- checks

struct Stats {
  long cases = 0, refused = 0, failures = 0, elements = 0;
};

template <typename T>
std::vector<T> Draw(std::mt19937_64& rng, int64_t n, double scale) {
  std::normal_distribution<double> normal(0.0, scale);
  std::vector<T> v(n);
  for (auto& e : v) e = static_cast<T>(normal(rng));
  return v;
}

template <typename T>
const T* Ptr(const std::vector<T>& v) { return v.empty() ? nullptr : v.data(); }
template <typename T>
T* Ptr(std::vector<T>& v) { return v.empty() ? nullptr : v.data(); }

// Outputs start as NaN so that an element the core forgets to write fails.
template <typename T>
std::vector<T> Unwritten(int64_t n) {
  return std::vector<T>(n, static_cast<T>(std::numeric_limits<float>::quiet_NaN()));
}

// max |got - want| / max(scale), NaN-safe; scale 0 demands exact zeros.
template <typename T>
double Error(const std::vector<T>& got, const std::vector<double>& want,
             const std::vector<double>& scale) {
  double worst = 0, top = 0;
  for (size_t e = 0; e < want.size(); ++e) {
    const double diff = std::fabs(static_cast<double>(got[e]) - want[e]);
    if (!(diff <= worst)) worst = diff;  // NaN sticks
    top = std::max(top, std::fabs(scale[e]));
  }
  if (top == 0) return worst == 0 ? 0 : std::numeric_limits<double>::infinity();
  return worst / top;
}

template <typename T>
bool BitwiseEqual(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0);
}

template <typename T>
struct Results {
  std::vector<T> y, z, dx, dw, db;
};

// Runs the core's three passes on one runner.
template <typename T>
Results<T> RunCore(const Conv1DGeometry& g, const ActivationSpec& act, const std::vector<T>& x,
                   const std::vector<T>& w, const std::vector<T>& b, const std::vector<T>& dy,
                   bool keep_z, const conv1d::ParallelRunner& runner) {
  Results<T> r;
  r.y = Unwritten<T>(g.output_elements());
  if (keep_z) r.z = Unwritten<T>(g.output_elements());
  if (g.output_elements() > 0) {
    conv1d::FusedConv1DForwardCpu<T>(g, act, Ptr(x), Ptr(w), b.empty() ? nullptr : Ptr(b),
                                     Ptr(r.y), keep_z ? Ptr(r.z) : nullptr, runner);
  }
  const bool by_z = conv1d::NeedsPreactivation(act);
  const std::vector<T>& operand = by_z ? r.z : r.y;
  r.dx = Unwritten<T>(g.input_elements());
  if (g.input_elements() > 0) {
    conv1d::FusedConv1DBackpropInputCpu<T>(g, act, Ptr(w), Ptr(dy), Ptr(operand), Ptr(r.dx), runner);
  }
  r.dw = Unwritten<T>(g.filter_elements());
  r.db = Unwritten<T>(g.out_channels);
  conv1d::FusedConv1DBackpropFilterCpu<T>(g, act, Ptr(x), Ptr(dy), Ptr(operand), Ptr(r.dw),
                                          Ptr(r.db), runner);
  return r;
}

struct Tolerance {
  double forward, gradient;
};

template <typename T>
void CheckCase(const Case& c, const char* dtype, Tolerance tol, uint64_t seed, Stats* stats) {
  Conv1DGeometry g;
  g.batch = c.batch, g.in_steps = c.steps, g.in_channels = c.cin, g.kernel_size = c.kernel;
  g.out_channels = c.cout, g.stride = c.stride, g.dilation = c.dilation;
  g.padding = c.padding, g.layout = c.layout, g.groups = c.groups;
  const std::string error = conv1d::ResolveGeometry(&g);
  int128 out = 0, pad = 0;
  const bool defined = ReferenceGeometry(c, &out, &pad);
  // Groups split both channel counts evenly, or there is no convolution.
  const bool grouped = c.groups >= 1 && c.cin % c.groups == 0 && c.cout % c.groups == 0;
  // Channels per group (the filter's dimension 1 and each group's filters).
  const int64_t cin_g = grouped ? c.cin / c.groups : c.cin;
  const int64_t cout_g = grouped ? c.cout / c.groups : c.cout;
  auto fail = [&](const std::string& what) {
    ++stats->failures;
    std::printf("FAIL %s: %s\n", what.c_str(), Describe(c, dtype).c_str());
  };
  ++stats->cases;
  if (!error.empty()) {
    // Refusals must be for want of an output, for groups that do not split
    // the channels, or for sizes past int64.
    const int128 padded = pad + c.steps + int128(c.kernel - 1) * c.dilation + 1;
    const int128 limit = std::numeric_limits<int64_t>::max();
    auto overflows = [&](int128 a, int128 b, int128 c) {
      return a * b > limit || a * c > limit || b * c > limit || a * b * c > limit;
    };
    const bool too_big = padded > limit || overflows(c.batch, c.steps, c.cin) ||
                         overflows(c.kernel, cin_g, c.cout) ||
                         (defined && overflows(c.batch, out, c.cout));
    if (grouped && defined && !too_big) fail("refused a valid geometry (" + error + ")");
    ++stats->refused;
    return;
  }
  if (!grouped) {
    fail("accepted groups that do not split the channels evenly");
    return;
  }
  if (!defined || g.out_steps != out || g.pad_left != pad ||
      g.filter_elements() != int128(c.kernel) * cin_g * c.cout) {
    fail("geometry differs from the definition");
    return;
  }
  std::mt19937_64 rng(seed);
  const auto x = Draw<T>(rng, g.input_elements(), 1.0);
  const auto w = Draw<T>(rng, g.filter_elements(), 1.0 / std::sqrt(double(std::max<int64_t>(1, c.kernel * cin_g))));
  const auto b = c.bias ? Draw<T>(rng, c.cout, 1.0) : std::vector<T>();
  const auto dy = Draw<T>(rng, g.output_elements(), 1.0);
  const bool by_z = conv1d::NeedsPreactivation(c.act);

  const Results<T> r = RunCore<T>(g, c.act, x, w, b, dy, by_z, conv1d::SerialRunner());
  const Results<T> threaded = RunCore<T>(g, c.act, x, w, b, dy, by_z, RandomThreadRunner(3, seed));
  const char* differs = !BitwiseEqual(r.y, threaded.y)     ? "output"
                        : !BitwiseEqual(r.z, threaded.z)   ? "preactivation"
                        : !BitwiseEqual(r.dx, threaded.dx) ? "grad_input"
                        : !BitwiseEqual(r.dw, threaded.dw) ? "grad_filter"
                        : !BitwiseEqual(r.db, threaded.db) ? "grad_bias"
                                                           : nullptr;
  if (differs) fail(std::string("threaded ") + differs + " differs bitwise from the serial one");
  if (by_z && g.output_elements() > 0) {  // inference: no preactivation buffer
    std::vector<T> y = Unwritten<T>(g.output_elements());
    conv1d::FusedConv1DForwardCpu<T>(g, c.act, Ptr(x), Ptr(w), b.empty() ? nullptr : Ptr(b),
                                     Ptr(y), nullptr, conv1d::SerialRunner());
    if (!BitwiseEqual(y, r.y)) fail("output without preactivation differs");
  }

  // Reference forward: z and y, from the inputs as rounded to T. Output
  // channel co is in group co / cout_g and reads that group's cin_g input
  // channels (from channel co / cout_g * cin_g on), through filter column
  // co. Indices as element offsets: in_channel apart from channel to channel
  // of the input, cout apart from row to row of the filter.
  const int64_t out_n = g.output_elements();
  const int64_t cout = c.cout, in_channel = c.layout == Layout::kNWC ? 1 : c.steps;
  const T* const xp = Ptr(x);
  const T* const wp = Ptr(w);
  // z_mag: the sums of absolute terms, which the outputs are judged by (as
  // the gradients are): max |y| alone can be far below the terms' rounding
  // when an activation such as relu6 cuts most outputs to zero.
  std::vector<double> z(out_n, 0.0), z_mag(out_n, 0.0), y(out_n), dz(out_n);
  ForEachTap(c, out, pad, [&, cin_g, cout_g, cout, in_channel, xp, wp](int64_t n, int64_t o,
                                                                       int64_t k, int64_t i) {
    const int64_t x_step = At(c.layout, c.steps, c.cin, n, i, 0);
    for (int64_t co = 0; co < cout; ++co) {
      const int64_t x0 = x_step + co / cout_g * cin_g * in_channel, w0 = k * cin_g * cout + co;
      double sum = 0, mag = 0;
      for (int64_t ci = 0; ci < cin_g; ++ci) {
        const double term = double(xp[x0 + ci * in_channel]) * double(wp[w0 + ci * cout]);
        sum += term;
        mag += std::fabs(term);
      }
      z[At(c.layout, g.out_steps, cout, n, o, co)] += sum;
      z_mag[At(c.layout, g.out_steps, cout, n, o, co)] += mag;
    }
  });
  for (int64_t n = 0; n < c.batch; ++n) {
    for (int64_t o = 0; o < g.out_steps; ++o) {
      for (int64_t co = 0; co < c.cout; ++co) {
        const int64_t e = At(c.layout, g.out_steps, c.cout, n, o, co);
        if (c.bias) z[e] += double(b[co]), z_mag[e] += std::fabs(double(b[co]));
        y[e] = Act(c.act, z[e]);
        // The backward passes get the operand as the core stored it.
        dz[e] = double(dy[e]) * ActDerivative(c.act, double(by_z ? r.z[e] : r.y[e]));
      }
    }
  }
  // Reference gradients, with the sums of absolute terms they are judged by.
  std::vector<double> dx(g.input_elements(), 0.0), dx_mag(dx.size(), 0.0);
  std::vector<double> dw(g.filter_elements(), 0.0), dw_mag(dw.size(), 0.0);
  std::vector<double> db(c.cout, 0.0), db_mag(c.cout, 0.0);
  double* const dxp = Ptr(dx);
  double* const dx_magp = Ptr(dx_mag);
  double* const dwp = Ptr(dw);
  double* const dw_magp = Ptr(dw_mag);
  ForEachTap(c, out, pad, [&, cin_g, cout_g, cout, in_channel, xp, wp, dxp, dx_magp, dwp,
                           dw_magp](int64_t n, int64_t o, int64_t k, int64_t i) {
    const int64_t x_step = At(c.layout, c.steps, c.cin, n, i, 0);
    for (int64_t co = 0; co < cout; ++co) {
      const double d = dz[At(c.layout, g.out_steps, cout, n, o, co)];
      const int64_t x0 = x_step + co / cout_g * cin_g * in_channel, w0 = k * cin_g * cout + co;
      for (int64_t ci = 0; ci < cin_g; ++ci) {
        const int64_t xi = x0 + ci * in_channel, wi = w0 + ci * cout;
        const double wd = double(wp[wi]) * d, xd = double(xp[xi]) * d;
        dxp[xi] += wd;
        dx_magp[xi] += std::fabs(wd);
        dwp[wi] += xd;
        dw_magp[wi] += std::fabs(xd);
      }
    }
  });
  for (int64_t n = 0; n < c.batch; ++n) {
    for (int64_t o = 0; o < g.out_steps; ++o) {
      for (int64_t co = 0; co < c.cout; ++co) {
        const double d = dz[At(c.layout, g.out_steps, c.cout, n, o, co)];
        db[co] += d;
        db_mag[co] += std::fabs(d);
      }
    }
  }
  stats->elements += out_n + dx.size() + dw.size() + db.size();
  auto check = [&](const char* name, double err, double limit) {
    if (!(err <= limit)) {
      char buf[128];
      std::snprintf(buf, sizeof(buf), "%s error %.3g > %g", name, err, limit);
      fail(buf);
    }
  };
  std::vector<double> y_scale(out_n);
  for (int64_t e = 0; e < out_n; ++e) y_scale[e] = std::max(std::fabs(y[e]), z_mag[e]);
  check("output", Error(r.y, y, y_scale), tol.forward);
  if (by_z) check("preactivation", Error(r.z, z, z_mag), tol.forward);
  check("grad_input", Error(r.dx, dx, dx_mag), tol.gradient);
  check("grad_filter", Error(r.dw, dw, dw_mag), tol.gradient);
  check("grad_bias", Error(r.db, db, db_mag), tol.gradient);
}

inline void CheckAllDtypes(const Case& c, uint64_t seed, Stats* stats) {
  // Tolerances as in tests/op/test_fused_conv1d_grid.py.
  CheckCase<double>(c, "float64", {1e-12, 1e-12}, seed, stats);
  CheckCase<float>(c, "float32", {1e-5, 1e-4}, seed, stats);
  CheckCase<Eigen::half>(c, "float16", {2e-3, 1e-2}, seed, stats);
  CheckCase<Eigen::bfloat16>(c, "bfloat16", {1e-2, 4e-2}, seed, stats);
}

}  // namespace core_check

#endif  // TF_CONV1D_OP_TESTS_NATIVE_CORE_CHECK_H_
