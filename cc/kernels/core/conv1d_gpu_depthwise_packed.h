// Depthwise passes in 16-byte packs of channels, for the common case: NWC,
// one filter per channel (multiplier 1), channels a multiple of the pack
// (8 half or bfloat16, 4 float, 2 double). Mamba's and Conformer's
// convolutions are such. The passes are bound by memory, and a thread that
// loads one 2-byte element at a time cannot keep enough bytes in flight:
// the element-wise kernels of conv1d_gpu_depthwise.cu.cc reached 12% of the
// copy bandwidth on an H200 in float16 (docs/benchmarks.md). Here each
// thread loads and stores whole packs. The element-wise kernels remain for
// everything else (NCW outputs, multipliers, odd channel counts, unaligned
// tensors); conv1d_gpu_depthwise.cu.cc chooses.
#ifndef TF_CONV1D_OP_CORE_CONV1D_GPU_DEPTHWISE_PACKED_H_
#define TF_CONV1D_OP_CORE_CONV1D_GPU_DEPTHWISE_PACKED_H_

#include <cstdint>

#include "cc/kernels/core/activations.h"
#include "cc/kernels/core/conv1d_geometry.h"
#include "cc/kernels/core/conv1d_gpu.h"
#include "cc/kernels/core/gpu_tile_gemm.h"

namespace conv1d {
namespace gpu {

// Whether the geometry allows packs: NWC, multiplier 1, channels a multiple
// of the pack. The tensors' alignment is the caller's to check.
template <typename T>
bool PackedDepthwiseFits(const Conv1DGeometry& g);

// One depthwise correlation over NWC tensors of `channels` channels:
//   out[n, o, c] = act(bias[c] + sum over k of
//                      in[n, o * stride + offset + k * tap_step, c] * filter[k, c])
// for o < out_rows, rows of `in` outside [0, in_rows) reading zero. The
// forward is offset -pad_left, tap_step dilation; the stride-1 input
// gradient is in = dz, offset pad_left, tap_step -dilation, no bias, linear.
// Every pointer 16-byte aligned; preactivation and bias may be null.
template <typename T>
struct PackedCorrelation {
  const T* in = nullptr;
  const T* filter = nullptr;  // [kernel_size, channels]
  const T* bias = nullptr;
  T* out = nullptr;
  T* preactivation = nullptr;
  int64_t batch = 0, in_rows = 0, out_rows = 0, channels = 0;
  int64_t kernel_size = 0, stride = 1, offset = 0, tap_step = 1;
  ActivationSpec act;
};

template <typename T>
GpuStatus PackedCorrelate(const PackedCorrelation<T>& c, cudaStream_t stream);

// How many slices the packed filter gradient splits the rows (n, o) into;
// the partial sums take slices * (kernel_size + 1) * channels accumulators.
template <typename T>
int64_t PackedFilterGradSlices(const Conv1DGeometry& g);

// partials[s, k, c] = sum over the rows of slice s of
// x[n, o * stride - pad_left + k * dilation, c] * dz[n, o, c], and
// partials[s, kernel_size, c] = the sum of dz[n, o, c] (the bias row).
// x and dz NWC, x, dz and partials 16-byte aligned.
template <typename T>
GpuStatus PackedFilterGradPartials(const Conv1DGeometry& g, const T* x, const T* dz,
                                   typename Num<T>::Acc* partials, int64_t slices,
                                   cudaStream_t stream);

}  // namespace gpu
}  // namespace conv1d

#endif  // TF_CONV1D_OP_CORE_CONV1D_GPU_DEPTHWISE_PACKED_H_
