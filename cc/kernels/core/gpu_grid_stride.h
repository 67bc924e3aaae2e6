// Element-wise kernels: one thread per element of a flat range, blocks of
// kStrideThreads, at most kMaxStrideBlocks of them, each thread striding over
// the elements past the grid. The copies, gathers and activation passes of the
// CUDA launchers share these, so their launch shape is decided here once.
#ifndef TF_CONV1D_OP_CORE_GPU_GRID_STRIDE_H_
#define TF_CONV1D_OP_CORE_GPU_GRID_STRIDE_H_

#include <algorithm>
#include <cstdint>

#include "cc/kernels/core/conv1d_gpu_common.h"
#include "cc/kernels/core/gpu_platform.h"

namespace conv1d {
namespace gpu {

constexpr int kStrideThreads = 256;
// About eight times the blocks an H200 (132 SMs of 2048 threads) holds at
// once; more would only add scheduling work, and the stride covers any count.
constexpr int64_t kMaxStrideBlocks = 8192;

// The grid of an element-wise launch over `count` elements (a tensor's size
// at most, so the rounding up cannot overflow; one block for none).
inline dim3 StrideGrid(int64_t count) {
  dim3 grid;
  MakeGrid(std::clamp<int64_t>((count + kStrideThreads - 1) / kStrideThreads, 1,
                               kMaxStrideBlocks),
           1, 1, &grid);
  return grid;
}

// f(i) for the elements i < count this thread takes, in a kernel launched
// with StrideGrid and kStrideThreads.
template <typename F>
__device__ __forceinline__ void ForEachStrided(int64_t count, F&& f) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * kStrideThreads;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * kStrideThreads + threadIdx.x; i < count;
       i += step) {
    f(i);
  }
}

}  // namespace gpu
}  // namespace conv1d

#endif  // TF_CONV1D_OP_CORE_GPU_GRID_STRIDE_H_
