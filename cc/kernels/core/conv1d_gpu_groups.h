// Grouped convolutions (groups > 1) on the CUDA core: each group's channels
// copied into tensors of their own in the workspace, the dense kernels run on
// them, the results copied back, group after group on the stream (as
// grouped_cpu.h does on the CPU). Depthwise convolutions (IsDepthwise) go
// to kernels of their own instead (conv1d_gpu_depthwise.h). The calls of
// conv1d_gpu.h forward here when g.groups > 1; same contracts.
#ifndef TF_CONV1D_OP_CORE_CONV1D_GPU_GROUPS_H_
#define TF_CONV1D_OP_CORE_CONV1D_GPU_GROUPS_H_

#include <cstddef>

#include "cc/kernels/core/activations.h"
#include "cc/kernels/core/conv1d_geometry.h"
#include "cc/kernels/core/conv1d_gpu.h"

namespace conv1d {
namespace gpu {

template <typename T>
size_t GroupedForwardWorkspaceBytes(const Conv1DGeometry& g, const ActivationSpec& act);
template <typename T>
GpuStatus GroupedForward(const Conv1DGeometry& g, const ActivationSpec& act, const T* input,
                         const T* filter, const T* bias, T* output, T* preactivation,
                         void* workspace, cudaStream_t stream);

template <typename T>
size_t GroupedBackpropInputWorkspaceBytes(const Conv1DGeometry& g, const ActivationSpec& act);
template <typename T>
GpuStatus GroupedBackpropInput(const Conv1DGeometry& g, const ActivationSpec& act,
                               const T* filter, const T* grad_output, const T* operand,
                               T* grad_input, void* workspace, cudaStream_t stream);

template <typename T>
size_t GroupedBackpropFilterWorkspaceBytes(const Conv1DGeometry& g, const ActivationSpec& act);
template <typename T>
GpuStatus GroupedBackpropFilter(const Conv1DGeometry& g, const ActivationSpec& act,
                                const T* input, const T* grad_output, const T* operand,
                                T* grad_filter, T* grad_bias, void* workspace,
                                cudaStream_t stream);

}  // namespace gpu
}  // namespace conv1d

#endif  // TF_CONV1D_OP_CORE_CONV1D_GPU_GROUPS_H_
