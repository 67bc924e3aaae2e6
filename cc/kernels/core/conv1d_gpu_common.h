// Host-side helpers shared by the CUDA launchers: statuses, size limits,
// grid checks and the carving of the caller's workspace.
#ifndef TF_CONV1D_OP_CORE_CONV1D_GPU_COMMON_H_
#define TF_CONV1D_OP_CORE_CONV1D_GPU_COMMON_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "cc/kernels/core/conv1d_geometry.h"
#include "cc/kernels/core/conv1d_gpu.h"

namespace conv1d {
namespace gpu {

inline GpuStatus Unsupported(const std::string& what) {
  return GpuStatus{GpuStatus::kUnsupported, "the CUDA kernels do not support " + what};
}

inline GpuStatus CheckLaunch(cudaError_t error, const char* kernel) {
  if (error == cudaSuccess) return GpuStatus{};
  return GpuStatus{GpuStatus::kCudaError,
                   std::string("launching ") + kernel + " failed: " + ErrorString(error)};
}

// Reduction lengths (kernel_size * channels) are split with 32-bit index
// math; step arithmetic is 64-bit but must not overflow.
constexpr int64_t kMaxReduction = int64_t{1} << 30;
constexpr int64_t kMaxSteps = int64_t{1} << 62;

inline GpuStatus CheckSizes(const Conv1DGeometry& g) {
  if (g.kernel_size * g.in_channels >= kMaxReduction ||
      g.kernel_size * g.out_channels >= kMaxReduction) {
    return Unsupported("kernel_size * channels >= 2^30 (kernel_size " +
                       std::to_string(g.kernel_size) + ", in_channels " +
                       std::to_string(g.in_channels) + ", out_channels " +
                       std::to_string(g.out_channels) + ")");
  }
  if (g.in_steps >= kMaxSteps || g.kernel_extent >= kMaxSteps ||
      g.stride >= kMaxSteps || g.pad_left >= kMaxSteps) {
    return Unsupported("steps, strides or dilated kernel extents >= 2^62");
  }
  return GpuStatus{};
}

// Grid dimensions as CUDA allows them, or false.
inline bool MakeGrid(int64_t x, int64_t y, int64_t z, dim3* grid) {
  if (x < 1 || y < 1 || z < 1 || x > 0x7fffffff || y > 65535 || z > 65535) return false;
  *grid = dim3(static_cast<unsigned>(x), static_cast<unsigned>(y), static_cast<unsigned>(z));
  return true;
}

inline bool Aligned16(const void* p) {
  return reinterpret_cast<uintptr_t>(p) % 16 == 0;
}

// Hands out pieces of the workspace at multiples of 256 bytes from its
// start. With a null base it
// only adds up sizes, so the size query and the launch share one plan.
class WorkspaceArena {
 public:
  explicit WorkspaceArena(void* base) : base_(static_cast<char*>(base)) {}

  template <typename E>
  E* Take(int64_t count) {
    if (count <= 0) return nullptr;
    char* p = base_ == nullptr ? nullptr : base_ + used_;
    used_ += (static_cast<size_t>(count) * sizeof(E) + 255) / 256 * 256;
    return reinterpret_cast<E*>(p);
  }
  size_t used() const { return used_; }

 private:
  char* base_;
  size_t used_ = 0;
};

inline GpuStatus CheckWorkspace(const void* workspace, size_t needed) {
  if (needed > 0 && (workspace == nullptr ||
                     !Aligned16(workspace))) {
    return GpuStatus{GpuStatus::kUnsupported,
                     "the CUDA kernels need a 16-byte aligned workspace of " +
                         std::to_string(needed) + " bytes"};
  }
  return GpuStatus{};
}

}  // namespace gpu
}  // namespace conv1d

#endif  // TF_CONV1D_OP_CORE_CONV1D_GPU_COMMON_H_
