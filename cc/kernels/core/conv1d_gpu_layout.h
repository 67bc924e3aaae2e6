// Element-wise and layout passes the CUDA GEMM kernels run before their main
// kernel: NCW -> NWC transposes, and dz = dy * activation'(operand).
// The GEMM kernels then only ever gather from NWC tensors, whose channel
// axis is contiguous.
#ifndef TF_CONV1D_OP_CORE_CONV1D_GPU_LAYOUT_H_
#define TF_CONV1D_OP_CORE_CONV1D_GPU_LAYOUT_H_

#include <cstdint>

#include "cc/kernels/core/activations.h"
#include "cc/kernels/core/conv1d_geometry.h"
#include "cc/kernels/core/conv1d_gpu.h"

namespace conv1d {
namespace gpu {

// dst [batch, steps, channels] = src [batch, channels, steps] transposed.
template <typename T>
GpuStatus TransposeNcwToNwc(const T* src, T* dst, int64_t batch, int64_t channels,
                            int64_t steps, cudaStream_t stream);

// dz [batch, steps, channels] = grad_output * activation'(operand) in the
// accumulator type, rounded to T; the two inputs are in `layout`.
template <typename T>
GpuStatus ActivationGradToNwc(const ActivationSpec& act, Layout layout,
                              const T* grad_output, const T* operand, T* dz,
                              int64_t batch, int64_t steps, int64_t channels,
                              cudaStream_t stream);

// Whether the GEMM kernels can read grad_output directly as dz.
inline bool GradOutputIsDz(const ActivationSpec& act, Layout layout) {
  return act.kind == Activation::kLinear && layout == Layout::kNWC;
}

}  // namespace gpu
}  // namespace conv1d

#endif  // TF_CONV1D_OP_CORE_CONV1D_GPU_LAYOUT_H_
