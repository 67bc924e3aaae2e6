// Framework-free CUDA arithmetic of the fused 1D convolution and its
// gradients: the GPU counterpart of conv1d_cpu.h. The TF OpKernels and the
// standalone harness (python/gpu_check) call the same functions.
//
// T is __half, __nv_bfloat16, float or double; all pointers are device
// pointers in the layouts of conv1d_cpu.h. Every call only enqueues work on
// `stream` (no synchronization) and returns whether the launches succeeded.
// Results are bitwise reproducible: no atomics, fixed reduction orders.
//
// Each call needs a caller-provided device workspace of at least
// ...WorkspaceBytes(g, act) bytes, 16-byte aligned (null when 0 bytes).
#ifndef TF_CONV1D_OP_CORE_CONV1D_GPU_H_
#define TF_CONV1D_OP_CORE_CONV1D_GPU_H_

#include <cstddef>
#include <string>

#include "cc/kernels/core/activations.h"
#include "cc/kernels/core/conv1d_geometry.h"
#include "cc/kernels/core/conv1d_stream.h"
#include "cc/kernels/core/gpu_platform.h"

namespace conv1d {

struct GpuStatus {
  enum Code {
    kOk,
    kUnsupported,  // sizes beyond what the kernels index (see docs/cuda.md)
    kCudaError,    // a launch failed
  };
  Code code = kOk;
  std::string message;

  bool ok() const { return code == kOk; }
};

// output = activation(conv1d(input, filter) + bias); preactivation (when not
// null) receives conv1d(input, filter) + bias. bias may be null.
template <typename T>
size_t FusedConv1DForwardGpuWorkspaceBytes(const Conv1DGeometry& g,
                                           const ActivationSpec& act);
template <typename T>
GpuStatus FusedConv1DForwardGpu(const Conv1DGeometry& g,
                                const ActivationSpec& act, const T* input,
                                const T* filter, const T* bias, T* output,
                                T* preactivation, void* workspace,
                                cudaStream_t stream);

// grad_input from grad_output; operand as in conv1d_cpu.h.
template <typename T>
size_t FusedConv1DBackpropInputGpuWorkspaceBytes(const Conv1DGeometry& g,
                                                 const ActivationSpec& act);
template <typename T>
GpuStatus FusedConv1DBackpropInputGpu(const Conv1DGeometry& g,
                                      const ActivationSpec& act,
                                      const T* filter, const T* grad_output,
                                      const T* operand, T* grad_input,
                                      void* workspace, cudaStream_t stream);

// grad_filter and grad_bias (always computed, out_channels elements).
template <typename T>
size_t FusedConv1DBackpropFilterGpuWorkspaceBytes(const Conv1DGeometry& g,
                                                  const ActivationSpec& act);
template <typename T>
GpuStatus FusedConv1DBackpropFilterGpu(const Conv1DGeometry& g,
                                       const ActivationSpec& act,
                                       const T* input, const T* grad_output,
                                       const T* operand, T* grad_filter,
                                       T* grad_bias, void* workspace,
                                       cudaStream_t stream);

// The streaming op (conv1d_stream.h): output and new_state from the state and
// the chunk read in place. A direct kernel, one thread per output element,
// for the few steps of a streamed chunk; needs no workspace. s.conv as
// ComputeGeometry leaves it; bias may be null.
template <typename T>
GpuStatus FusedConv1DStreamGpu(const StreamGeometry& s, const ActivationSpec& act,
                               const T* state, const T* chunk, const T* filter,
                               const T* bias, T* output, T* new_state, cudaStream_t stream);

}  // namespace conv1d

#endif  // TF_CONV1D_OP_CORE_CONV1D_GPU_H_
