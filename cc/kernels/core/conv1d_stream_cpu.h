// CPU arithmetic of the streaming convolution (conv1d_stream.h): a direct
// loop over the taps that reads the state and the chunk in place, for the
// few output steps of a streamed chunk, and the copy of the new state.
// Needs no memory but its outputs (the accumulators live on the stack).
#ifndef TF_CONV1D_OP_CORE_CONV1D_STREAM_CPU_H_
#define TF_CONV1D_OP_CORE_CONV1D_STREAM_CPU_H_

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "cc/kernels/core/activations.h"
#include "cc/kernels/core/conv1d_stream.h"
#include "cc/kernels/core/parallel_runner.h"

namespace conv1d {

// output = activation(VALID conv1d(concat(state, chunk), filter) + bias);
// bias may be null. s comes from ResolveStreamGeometry and ComputeGeometry
// (s.conv has the taps the kernels run). Parallel over (item, output step).
template <typename T>
void FusedConv1DStreamCpu(const StreamGeometry& s, const ActivationSpec& act,
                          const T* state, const T* chunk, const T* filter, const T* bias,
                          T* output, const ParallelRunner& runner) {
  using A = std::conditional_t<std::is_same_v<T, double>, double, float>;
  constexpr int64_t kBlock = 128;  // output channels accumulated at once
  const Conv1DGeometry& g = s.conv;
  const StreamInput<T> input = MakeStreamInput(s, state, chunk);
  const int64_t channels = g.in_channels, filters = g.out_channels;
  const bool nwc = g.layout == Layout::kNWC;
  auto rows = [&](int64_t begin, int64_t end) {
    A acc[kBlock];
    for (int64_t row = begin; row < end; ++row) {
      const int64_t b = row / g.out_steps, t = row % g.out_steps;
      for (int64_t f0 = 0; f0 < filters; f0 += kBlock) {
        const int64_t width = std::min(kBlock, filters - f0);
        for (int64_t f = 0; f < width; ++f) acc[f] = bias ? A(bias[f0 + f]) : A(0);
        for (int64_t k = 0; k < g.kernel_size; ++k) {
          const int64_t p = t * g.stride + k * g.dilation;
          for (int64_t c = 0; c < channels; ++c) {
            const A x = A(input.At(b, p, c));
            const T* w = filter + (k * channels + c) * filters + f0;
            for (int64_t f = 0; f < width; ++f) acc[f] += x * A(w[f]);
          }
        }
        for (int64_t f = 0; f < width; ++f) {
          const T y = T(Activate<A>(act, acc[f]));
          output[nwc ? row * filters + f0 + f : (b * filters + f0 + f) * g.out_steps + t] = y;
        }
      }
    }
  };
  runner.For(g.batch * g.out_steps, g.kernel_size * channels * filters, rows);
}

// new_state = the last state_steps steps of concat(state, chunk): those of
// the state from step chunk_steps on, then the chunk's last ones. Each is a
// contiguous run of every item (NWC) or every (item, channel) row (NCW).
template <typename T>
void StreamNewStateCpu(const StreamGeometry& s, const T* state, const T* chunk,
                       T* new_state) {
  const int64_t S = s.state_steps, n = s.chunk_steps;
  const bool nwc = s.conv.layout == Layout::kNWC;
  const int64_t rows = nwc ? s.conv.batch : s.conv.batch * s.conv.in_channels;
  const int64_t unit = nwc ? s.conv.in_channels : 1;  // elements per step in a row
  if (rows == 0 || unit == 0 || S == 0) return;
  const int64_t from_state = n < S ? S - n : 0;
  const int64_t from_chunk = S - from_state;
  for (int64_t r = 0; r < rows; ++r) {
    T* out = new_state + r * S * unit;
    const T* state_row = state + r * S * unit;
    const T* chunk_row = chunk + r * n * unit;
    out = std::copy(state_row + (S - from_state) * unit, state_row + S * unit, out);
    std::copy(chunk_row + (n - from_chunk) * unit, chunk_row + n * unit, out);
  }
}

// concat(state, chunk) written out, for long chunks, where the tiled core
// (conv1d_cpu.h) run on it outpaces the direct loop by far more than the copy costs.
template <typename T>
void StreamConcatCpu(const StreamGeometry& s, const T* state, const T* chunk, T* padded) {
  const int64_t S = s.state_steps, n = s.chunk_steps;
  const bool nwc = s.conv.layout == Layout::kNWC;
  const int64_t rows = nwc ? s.conv.batch : s.conv.batch * s.conv.in_channels;
  const int64_t unit = nwc ? s.conv.in_channels : 1;
  for (int64_t r = 0; r < rows; ++r) {
    T* out = padded + r * (S + n) * unit;
    out = std::copy(state + r * S * unit, state + (r + 1) * S * unit, out);
    std::copy(chunk + r * n * unit, chunk + (r + 1) * n * unit, out);
  }
}

}  // namespace conv1d

#endif  // TF_CONV1D_OP_CORE_CONV1D_STREAM_CPU_H_
