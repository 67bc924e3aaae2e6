// Depthwise convolutions (IsDepthwise: groups == in_channels, out_channels =
// m * in_channels) on the CUDA core: kernels of their own, without a channel
// reduction, since each output element is a K-tap dot product along steps of
// one input channel and the passes are bound by memory. The grouped entry
// points (conv1d_gpu_groups.h) forward here; same contracts as conv1d_gpu.h.
// Design and limits: docs/cuda.md.
#ifndef TF_CONV1D_OP_CORE_CONV1D_GPU_DEPTHWISE_H_
#define TF_CONV1D_OP_CORE_CONV1D_GPU_DEPTHWISE_H_

#include <cstddef>

#include "cc/kernels/core/activations.h"
#include "cc/kernels/core/conv1d_geometry.h"
#include "cc/kernels/core/conv1d_gpu.h"

namespace conv1d {
namespace gpu {

template <typename T>
size_t DepthwiseForwardWorkspaceBytes(const Conv1DGeometry& g, const ActivationSpec& act);
template <typename T>
GpuStatus DepthwiseForward(const Conv1DGeometry& g, const ActivationSpec& act, const T* input,
                           const T* filter, const T* bias, T* output, T* preactivation,
                           void* workspace, cudaStream_t stream);

template <typename T>
size_t DepthwiseBackpropInputWorkspaceBytes(const Conv1DGeometry& g, const ActivationSpec& act);
template <typename T>
GpuStatus DepthwiseBackpropInput(const Conv1DGeometry& g, const ActivationSpec& act,
                                 const T* filter, const T* grad_output, const T* operand,
                                 T* grad_input, void* workspace, cudaStream_t stream);

template <typename T>
size_t DepthwiseBackpropFilterWorkspaceBytes(const Conv1DGeometry& g,
                                             const ActivationSpec& act);
template <typename T>
GpuStatus DepthwiseBackpropFilter(const Conv1DGeometry& g, const ActivationSpec& act,
                                  const T* input, const T* grad_output, const T* operand,
                                  T* grad_filter, T* grad_bias, void* workspace,
                                  cudaStream_t stream);

}  // namespace gpu
}  // namespace conv1d

#endif  // TF_CONV1D_OP_CORE_CONV1D_GPU_DEPTHWISE_H_
