// The deterministic last step of the CUDA filter gradients: the reduction
// over output rows is split into slices fixed by the problem size, each
// slice's sums are written to the workspace with plain stores, and one
// kernel adds them in a fixed order. The partials of a slice are the filter
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
// A block sums kSumColumns consecutive elements; its kSumLanes rows of
// threads each add every kSumLanes-th slice, in slice order, and the lanes'
// sums are then added in lane order. Hundreds of slices over a few thousand
// elements (the filter gradient of a long sequence) would otherwise be a
// few blocks of long serial chains of loads.
constexpr int kSumColumns = 32, kSumLanes = 8;
constexpr int kSumThreads = kSumColumns * kSumLanes;
constexpr int64_t kMaxSumBlocks = 8192;  // grid-stride beyond

// First item of slice s when `items` are dealt to `slices` as evenly as
// possible, in order.
__host__ __device__ __forceinline__ int64_t SliceBegin(int64_t s, int64_t items,
                                                       int64_t slices) {
  return items / slices * s + (s < items % slices ? s : items % slices);
}

// grad_filter, then grad_bias, = the partials summed in a fixed order.
template <typename T>
__global__ void __launch_bounds__(kSumThreads)
    SumPartialsKernel(const typename Num<T>::Acc* partials, int64_t slices,
                      int64_t per_slice, int64_t filter_elements, T* grad_filter,
                      T* grad_bias) {
  using Acc = typename Num<T>::Acc;
  __shared__ Acc lane_sums[kSumLanes][kSumColumns];
  const int column = static_cast<int>(threadIdx.x) % kSumColumns;
  const int lane = static_cast<int>(threadIdx.x) / kSumColumns;
  const int64_t groups = CeilDiv(per_slice, int64_t{kSumColumns});
  for (int64_t group = blockIdx.x; group < groups; group += gridDim.x) {  // uniform
    const int64_t e = group * kSumColumns + column;
    Acc sum = Acc(0);
    if (e < per_slice) {
      for (int64_t s = lane; s < slices; s += kSumLanes) sum += partials[s * per_slice + e];
    }
    lane_sums[lane][column] = sum;
    __syncthreads();
    if (lane == 0 && e < per_slice) {
      Acc total = lane_sums[0][column];
      for (int l = 1; l < kSumLanes; ++l) total += lane_sums[l][column];
      if (e < filter_elements) {
        grad_filter[e] = Num<T>::FromAcc(total);
      } else {
        grad_bias[e - filter_elements] = Num<T>::FromAcc(total);
      }
    }
    __syncthreads();  // the sums are read before the next group writes them
  }
}

// per_slice = filter_elements + out_channels >= 1.
template <typename T>
GpuStatus SumPartials(const typename Num<T>::Acc* partials, int64_t slices, int64_t per_slice,
                      int64_t filter_elements, T* grad_filter, T* grad_bias,
                      cudaStream_t stream) {
  dim3 grid;
  MakeGrid(std::min(CeilDiv(per_slice, int64_t{kSumColumns}), kMaxSumBlocks), 1, 1, &grid);
  return CheckLaunch(Launch(SumPartialsKernel<T>, grid, dim3(kSumThreads), stream, partials,
                            slices, per_slice, filter_elements, grad_filter, grad_bias),
                     "the filter-gradient reduction");
}

}  // namespace gpu
}  // namespace conv1d

#endif  // TF_CONV1D_OP_CORE_GPU_PARTIAL_SUMS_H_
