// The single-step streaming convolution (the FusedConv1DStream op): the VALID
// convolution of concat(state, chunk) along steps, and the new state, its
// last state_steps steps, where state_steps = (kernel_size - 1) * dilation.
// The concatenation is never built: StreamInput reads each padded step from
// whichever tensor holds it. Framework-free, for host and device code.
#ifndef TF_CONV1D_OP_CORE_CONV1D_STREAM_H_
#define TF_CONV1D_OP_CORE_CONV1D_STREAM_H_

#include <cstdint>
#include <string>

#include "cc/kernels/core/activations.h"  // CONV1D_HD
#include "cc/kernels/core/conv1d_geometry.h"

namespace conv1d {

struct StreamGeometry {
  // VALID over the padded sequence: in_steps = state_steps + chunk_steps.
  Conv1DGeometry conv;
  int64_t state_steps = 0;
  int64_t chunk_steps = 0;
};

// Fills in `s` from the sizes and the attributes in s->conv (stride,
// dilation, layout), or returns what is wrong (empty on success). Every check
// is overflow-safe, then ResolveGeometry checks the padded convolution.
inline std::string ResolveStreamGeometry(int64_t batch, int64_t state_steps,
                                         int64_t chunk_steps, int64_t channels,
                                         int64_t kernel_size, int64_t out_channels,
                                         StreamGeometry* s) {
  Conv1DGeometry& g = s->conv;
  if (kernel_size < 1) {
    return "kernel_size (filter dimension 0) must be >= 1, got " + std::to_string(kernel_size);
  }
  int64_t wanted = 0;
  if (__builtin_mul_overflow(kernel_size - 1, g.dilation, &wanted)) {
    return "the state would need (kernel_size - 1) * dilation = (" +
           std::to_string(kernel_size) + " - 1) * " + std::to_string(g.dilation) +
           " steps, more than 2^63 - 1";
  }
  if (state_steps != wanted) {
    return "state must hold (kernel_size - 1) * dilation = " + std::to_string(wanted) +
           " steps (kernel_size " + std::to_string(kernel_size) + ", dilation " +
           std::to_string(g.dilation) + "), got " + std::to_string(state_steps);
  }
  if (chunk_steps < 1 || chunk_steps % g.stride != 0) {
    return "chunk must have a number of steps >= 1 that is a multiple of the stride " +
           std::to_string(g.stride) + " (the next chunk starts at an output step), got " +
           std::to_string(chunk_steps);
  }
  int64_t padded = 0;
  if (__builtin_add_overflow(state_steps, chunk_steps, &padded)) {
    return "state steps + chunk steps (" + std::to_string(state_steps) + " + " +
           std::to_string(chunk_steps) + ") exceed 2^63 - 1";
  }
  g.padding = Padding::kValid;
  g.batch = batch;
  g.in_steps = padded;
  g.in_channels = channels;
  g.kernel_size = kernel_size;
  g.out_channels = out_channels;
  s->state_steps = state_steps;
  s->chunk_steps = chunk_steps;
  return ResolveGeometry(&g);
}

// concat(state, chunk) along steps, read in place; both in `layout`.
template <typename T>
struct StreamInput {
  const T* state;
  const T* chunk;
  int64_t state_steps;
  int64_t chunk_steps;
  int64_t channels;
  Layout layout;

  // Padded step p (0 <= p < state_steps + chunk_steps) of item b, channel c.
  CONV1D_HD T At(int64_t b, int64_t p, int64_t c) const {
    const bool in_state = p < state_steps;
    const T* data = in_state ? state : chunk;
    const int64_t steps = in_state ? state_steps : chunk_steps;
    const int64_t q = in_state ? p : p - state_steps;
    return layout == Layout::kNWC ? data[(b * steps + q) * channels + c]
                                  : data[(b * channels + c) * steps + q];
  }
};

template <typename T>
StreamInput<T> MakeStreamInput(const StreamGeometry& s, const T* state, const T* chunk) {
  return StreamInput<T>{state, chunk, s.state_steps, s.chunk_steps, s.conv.in_channels,
                        s.conv.layout};
}

}  // namespace conv1d

#endif  // TF_CONV1D_OP_CORE_CONV1D_STREAM_H_
