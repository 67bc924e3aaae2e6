// The deterministic last step of the CUDA filter gradients: the reduction
// over output rows is split into slices fixed by the problem size, each
// slice's sums are written to the workspace with plain stores, and one
// kernel adds them in slice order. The partials of a slice are the filter
// gradient's elements followed by the bias gradient's (out_channels), in
// the accumulator type. No atomics: results are bitwise reproducible.
#ifndef TF_CONV1D_OP_CORE_GPU_PARTIAL_SUMS_H_
#define TF_CONV1D_OP_CORE_GPU_PARTIAL_SUMS_H_

#include <algorithm>
#include <cstdint>

#include "cc/kernels/core/conv1d_gpu_common.h"
#include "cc/kernels/core/gpu_tile_gemm.h"

namespace conv1d {
namespace gpu {

// The partial sums stay within this many bytes (unless one slice is bigger).
constexpr int64_t kMaxPartialBytes = int64_t{256} << 20;
constexpr int kSumThreads = 256;
constexpr int64_t kMaxSumBlocks = 8192;  // grid-stride beyond

// First item of slice s when `items` are dealt to `slices` as evenly as
// possible, in order.
__host__ __device__ __forceinline__ int64_t SliceBegin(int64_t s, int64_t items,
                                                       int64_t slices) {
  return items / slices * s + (s < items % slices ? s : items % slices);
}

// grad_filter, then grad_bias, = the partials summed in slice order.
template <typename T>
__global__ void __launch_bounds__(kSumThreads)
    SumPartialsKernel(const typename Num<T>::Acc* partials, int64_t slices,
                      int64_t per_slice, int64_t filter_elements, T* grad_filter,
                      T* grad_bias) {
  using Acc = typename Num<T>::Acc;
  const int64_t step = static_cast<int64_t>(gridDim.x) * kSumThreads;
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * kSumThreads + threadIdx.x;
       e < per_slice; e += step) {
    Acc sum = Acc(0);
    for (int64_t s = 0; s < slices; ++s) sum += partials[s * per_slice + e];
    if (e < filter_elements) {
      grad_filter[e] = Num<T>::FromAcc(sum);
    } else {
      grad_bias[e - filter_elements] = Num<T>::FromAcc(sum);
    }
  }
}

// per_slice = filter_elements + out_channels >= 1.
template <typename T>
GpuStatus SumPartials(const typename Num<T>::Acc* partials, int64_t slices, int64_t per_slice,
                      int64_t filter_elements, T* grad_filter, T* grad_bias,
                      cudaStream_t stream) {
  dim3 grid;
  MakeGrid(std::min(CeilDiv(per_slice, kSumThreads), kMaxSumBlocks), 1, 1, &grid);
  return CheckLaunch(Launch(SumPartialsKernel<T>, grid, dim3(kSumThreads), stream, partials,
                            slices, per_slice, filter_elements, grad_filter, grad_bias),
                     "the filter-gradient reduction");
}

}  // namespace gpu
}  // namespace conv1d

#endif  // TF_CONV1D_OP_CORE_GPU_PARTIAL_SUMS_H_
