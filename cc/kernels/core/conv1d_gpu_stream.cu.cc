// CUDA kernels of the streaming op (conv1d_gpu.h): a direct convolution with
// one thread per output element, and the copy of the new state, both reading
// concat(state, chunk) in place through StreamInput. Simple rather than fast:
// a streamed chunk has few output steps, and the launch dominates.
#include <algorithm>

#include "cc/kernels/core/conv1d_gpu.h"
#include "cc/kernels/core/conv1d_gpu_common.h"
#include "cc/kernels/core/conv1d_stream.h"
#include "cc/kernels/core/dtypes.h"
#include "cc/kernels/core/gpu_grid_stride.h"
#include "cc/kernels/core/gpu_tile_gemm.h"

namespace conv1d {
namespace gpu {
namespace {

// Element i of the output, in its layout: (item, step, filter).
template <typename T>
__global__ void __launch_bounds__(kStrideThreads)
    StreamOutputKernel(StreamInput<T> input, Conv1DGeometry g, ActivationSpec act,
                       const T* filter, const T* bias, T* output, int64_t count) {
  using A = typename Num<T>::Acc;
  const bool nwc = g.layout == Layout::kNWC;
  ForEachStrided(count, [&](int64_t i) {
    const int64_t f = nwc ? i % g.out_channels : (i / g.out_steps) % g.out_channels;
    const int64_t t = nwc ? (i / g.out_channels) % g.out_steps : i % g.out_steps;
    const int64_t b = i / (g.out_steps * g.out_channels);
    A acc = bias != nullptr ? Num<T>::ToAcc(bias[f]) : A(0);
    for (int64_t k = 0; k < g.kernel_size; ++k) {
      const int64_t p = t * g.stride + k * g.dilation;
      for (int64_t c = 0; c < g.in_channels; ++c) {
        acc = Fma(Num<T>::ToAcc(input.At(b, p, c)),
                  Num<T>::ToAcc(filter[(k * g.in_channels + c) * g.out_channels + f]), acc);
      }
    }
    output[i] = Num<T>::FromAcc(Activate<A>(act, acc));
  });
}

// Element i of the new state (item, step j, channel) = padded step
// chunk_steps + j.
template <typename T>
__global__ void __launch_bounds__(kStrideThreads)
    StreamStateKernel(StreamInput<T> input, T* new_state, int64_t count) {
  const bool nwc = input.layout == Layout::kNWC;
  const int64_t S = input.state_steps, C = input.channels;
  ForEachStrided(count, [&](int64_t i) {
    const int64_t c = nwc ? i % C : (i / S) % C;
    const int64_t j = nwc ? (i / C) % S : i % S;
    const int64_t b = i / (S * C);
    new_state[i] = input.At(b, input.chunk_steps + j, c);
  });
}

}  // namespace
}  // namespace gpu

template <typename T>
GpuStatus FusedConv1DStreamGpu(const StreamGeometry& s, const ActivationSpec& act,
                               const T* state, const T* chunk, const T* filter,
                               const T* bias, T* output, T* new_state, cudaStream_t stream) {
  using namespace gpu;
  const GpuStatus sizes = CheckSizes(s.conv);
  if (!sizes.ok()) return sizes;
  const StreamInput<T> input = MakeStreamInput(s, state, chunk);
  const int64_t outputs = s.conv.output_elements();
  if (outputs > 0) {
    const GpuStatus launched = CheckLaunch(
        Launch(StreamOutputKernel<T>, StrideGrid(outputs), dim3(kStrideThreads), stream, input,
               s.conv, act, filter, bias, output, outputs),
        "the streaming convolution");
    if (!launched.ok()) return launched;
  }
  const int64_t states = s.conv.batch * s.state_steps * s.conv.in_channels;
  if (states == 0) return GpuStatus{};
  return CheckLaunch(Launch(StreamStateKernel<T>, StrideGrid(states), dim3(kStrideThreads),
                            stream, input, new_state, states),
                     "the streaming state copy");
}

#define CONV1D_INSTANTIATE(CpuT, T, name)                                                  \
  template GpuStatus FusedConv1DStreamGpu<T>(const StreamGeometry&, const ActivationSpec&, \
                                             const T*, const T*, const T*, const T*, T*,   \
                                             T*, cudaStream_t);
CONV1D_DTYPES(CONV1D_INSTANTIATE)
#undef CONV1D_INSTANTIATE

}  // namespace conv1d
