// The CUDA passes of convolutions with groups > 1, as tables of the calls of
// conv1d_gpu.h (same signatures, same contracts): those calls hand such a
// geometry to PassesForGroups.
//
// - Grouped (conv1d_gpu_groups.cu.cc): each group's channels copied into
//   tensors of their own in the workspace, the dense kernels run on them, the
//   results copied back, group after group on the stream (as grouped_cpu.h
//   does on the CPU).
// - Depthwise (IsDepthwise: groups == in_channels, out_channels =
//   m * in_channels; conv1d_gpu_depthwise.cu.cc): kernels of their own,
//   without a channel reduction, since each output element is a K-tap dot
//   product along steps of one input channel and the passes are bound by
//   memory.
// Design and limits: docs/cuda.md.
#ifndef TF_CONV1D_OP_CORE_CONV1D_GPU_PASSES_H_
#define TF_CONV1D_OP_CORE_CONV1D_GPU_PASSES_H_

#include <cstddef>

#include "cc/kernels/core/activations.h"
#include "cc/kernels/core/channel_groups.h"
#include "cc/kernels/core/conv1d_geometry.h"
#include "cc/kernels/core/conv1d_gpu.h"

namespace conv1d {
namespace gpu {

// Each file's table is a variable template of internal linkage at namespace
// scope. A static inside the getter would be one object across the process
// (GCC makes it a GNU unique symbol): with the CUDA emulation (tests/gpu/) and
// the op library both loaded, the emulation's getters would return the op
// library's table, and the emulated calls would reach the real CUDA kernels.
template <typename T>
struct GpuPasses {
  size_t (*forward_workspace_bytes)(const Conv1DGeometry& g, const ActivationSpec& act);
  GpuStatus (*forward)(const Conv1DGeometry& g, const ActivationSpec& act, const T* input,
                       const T* filter, const T* bias, T* output, T* preactivation,
                       void* workspace, cudaStream_t stream);
  size_t (*backprop_input_workspace_bytes)(const Conv1DGeometry& g, const ActivationSpec& act);
  GpuStatus (*backprop_input)(const Conv1DGeometry& g, const ActivationSpec& act,
                              const T* filter, const T* grad_output, const T* operand,
                              T* grad_input, void* workspace, cudaStream_t stream);
  size_t (*backprop_filter_workspace_bytes)(const Conv1DGeometry& g, const ActivationSpec& act);
  GpuStatus (*backprop_filter)(const Conv1DGeometry& g, const ActivationSpec& act,
                               const T* input, const T* grad_output, const T* operand,
                               T* grad_filter, T* grad_bias, void* workspace,
                               cudaStream_t stream);
};

template <typename T>
const GpuPasses<T>& GroupedPasses();
template <typename T>
const GpuPasses<T>& DepthwisePasses();

// The passes of a geometry with groups > 1.
template <typename T>
const GpuPasses<T>& PassesForGroups(const Conv1DGeometry& g) {
  return IsDepthwise(g) ? DepthwisePasses<T>() : GroupedPasses<T>();
}

}  // namespace gpu
}  // namespace conv1d

#endif  // TF_CONV1D_OP_CORE_CONV1D_GPU_PASSES_H_
