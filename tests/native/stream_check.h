// Checks the streaming op's CPU core (conv1d_stream_cpu.h) on one case, under
// the sanitizers of core_test: the case's input is the chunk, a random state
// of (kernel - 1) * dilation steps comes before it. The direct loop against
// the core's VALID forward pass on the written-out concatenation (itself
// checked against the naive reference by core_check.h), serial and threaded
// bitwise equal; the concatenation and the new state exactly.
#ifndef TF_CONV1D_OP_TESTS_NATIVE_STREAM_CHECK_H_
#define TF_CONV1D_OP_TESTS_NATIVE_STREAM_CHECK_H_

#include <cstdio>
#include <string>
#include <vector>

#include "cc/kernels/core/conv1d_stream_cpu.h"
#include "tests/native/core_check.h"

namespace core_check {

template <typename T>
void CheckStreamCase(const Case& c, const char* dtype, double tol, uint64_t seed,
                     Stats* stats) {
  // A chunk whose state is asked for: steps a positive multiple of the
  // stride; states beyond a few thousand steps are the forward tests' job.
  // The streaming op is dense: grouped cases are core_check.h's alone.
  if (c.steps < 1 || c.steps % c.stride != 0 || c.dilation > 1024 || c.groups != 1) return;
  conv1d::StreamGeometry s;
  s.conv.stride = c.stride;
  s.conv.dilation = c.dilation;
  s.conv.layout = c.layout;
  const int64_t state_steps = (c.kernel - 1) * c.dilation;
  if (!conv1d::ResolveStreamGeometry(c.batch, state_steps, c.steps, c.cin, c.kernel, c.cout, &s)
           .empty()) {
    return;
  }
  s.conv = conv1d::ComputeGeometry(s.conv);
  ++stats->cases;
  std::mt19937_64 rng(seed);
  const std::vector<T> state = Draw<T>(rng, c.batch * state_steps * c.cin, 1.0);
  const std::vector<T> chunk = Draw<T>(rng, c.batch * c.steps * c.cin, 1.0);
  const std::vector<T> w = Draw<T>(rng, c.kernel * c.cin * c.cout, 0.5);
  const std::vector<T> b = c.bias ? Draw<T>(rng, c.cout, 0.5) : std::vector<T>();
  const int64_t out_n = s.conv.output_elements();
  auto fail = [&](const std::string& what) {
    ++stats->failures;
    std::printf("FAIL stream %s: %s\n", Describe(c, dtype).c_str(), what.c_str());
  };

  // The concatenation, by its definition.
  std::vector<T> padded(c.batch * (state_steps + c.steps) * c.cin);
  for (int64_t n = 0; n < c.batch; ++n) {
    for (int64_t t = 0; t < state_steps + c.steps; ++t) {
      for (int64_t i = 0; i < c.cin; ++i) {
        padded[At(c.layout, state_steps + c.steps, c.cin, n, t, i)] =
            t < state_steps ? state[At(c.layout, state_steps, c.cin, n, t, i)]
                            : chunk[At(c.layout, c.steps, c.cin, n, t - state_steps, i)];
      }
    }
  }
  std::vector<T> written = Unwritten<T>(padded.size());
  conv1d::StreamConcatCpu<T>(s, Ptr(state), Ptr(chunk), Ptr(written));
  if (!BitwiseEqual(written, padded)) fail("the written-out concatenation");

  std::vector<T> expected_state(c.batch * state_steps * c.cin);
  for (int64_t n = 0; n < c.batch; ++n) {
    for (int64_t t = 0; t < state_steps; ++t) {
      for (int64_t i = 0; i < c.cin; ++i) {
        expected_state[At(c.layout, state_steps, c.cin, n, t, i)] =
            padded[At(c.layout, state_steps + c.steps, c.cin, n, c.steps + t, i)];
      }
    }
  }
  std::vector<T> new_state = Unwritten<T>(expected_state.size());
  conv1d::StreamNewStateCpu<T>(s, Ptr(state), Ptr(chunk), Ptr(new_state));
  if (!BitwiseEqual(new_state, expected_state)) fail("the new state");

  std::vector<T> y = Unwritten<T>(out_n), threaded = Unwritten<T>(out_n);
  std::vector<T> forward = Unwritten<T>(out_n);
  if (out_n > 0) {
    const T* bias = b.empty() ? nullptr : Ptr(b);
    conv1d::FusedConv1DStreamCpu<T>(s, c.act, Ptr(state), Ptr(chunk), Ptr(w), bias, Ptr(y),
                                    conv1d::SerialRunner());
    conv1d::FusedConv1DStreamCpu<T>(s, c.act, Ptr(state), Ptr(chunk), Ptr(w), bias,
                                    Ptr(threaded), RandomThreadRunner(3, seed));
    conv1d::FusedConv1DForwardCpu<T>(s.conv, c.act, Ptr(padded), Ptr(w), bias, Ptr(forward),
                                     nullptr, conv1d::SerialRunner());
  }
  if (!BitwiseEqual(y, threaded)) fail("serial and threaded outputs differ");
  std::vector<double> want(forward.begin(), forward.end());
  const double err = Error(y, want, want);
  if (!(err <= tol)) fail("output error " + std::to_string(err) + " > " + std::to_string(tol));
  stats->elements += out_n + new_state.size();
}

inline void CheckStreamAllDtypes(const Case& c, uint64_t seed, Stats* stats) {
  // Two roundings (each way's own) apart: twice the forward tolerances.
  CheckStreamCase<double>(c, "float64", 2e-12, seed, stats);
  CheckStreamCase<float>(c, "float32", 2e-5, seed, stats);
  CheckStreamCase<Eigen::half>(c, "float16", 4e-3, seed, stats);
  CheckStreamCase<Eigen::bfloat16>(c, "bfloat16", 2e-2, seed, stats);
}

}  // namespace core_check

#endif  // TF_CONV1D_OP_TESTS_NATIVE_STREAM_CHECK_H_
