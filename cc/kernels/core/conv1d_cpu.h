// Framework-free CPU arithmetic of the fused 1D convolution and its gradients.
// The TF OpKernels only adapt tensors and the thread pool to these calls, so
// the same code is tested standalone under sanitizers.
//
// Tensor layouts (row-major): input [batch, in_steps, in_channels] (NWC) or
// [batch, in_channels, in_steps] (NCW); output likewise with out_steps and
// out_channels; filter [kernel_size, in_channels, out_channels] (Keras');
// bias [out_channels] or null.
//
// Each call runs the passes of the instruction-set level chosen when the
// library was loaded (cpu_isa.h).
#ifndef TF_CONV1D_OP_CORE_CONV1D_CPU_H_
#define TF_CONV1D_OP_CORE_CONV1D_CPU_H_

#include <cstdint>

#include "cc/kernels/core/activations.h"
#include "cc/kernels/core/conv1d_geometry.h"
#include "cc/kernels/core/parallel_runner.h"

namespace conv1d {

// output = activation(conv1d(input, filter) + bias). When preactivation is not
// null it receives conv1d(input, filter) + bias (needed by the backward pass
// for activations where NeedsPreactivation() is true).
template <typename T>
void FusedConv1DForwardCpu(const Conv1DGeometry& g, const ActivationSpec& act,
                           const T* input, const T* filter, const T* bias,
                           T* output, T* preactivation,
                           const ParallelRunner& runner);

// grad_input from grad_output (dL/dy). `operand` is the forward output y, or
// the pre-activation z where NeedsPreactivation(act); both in output layout.
template <typename T>
void FusedConv1DBackpropInputCpu(const Conv1DGeometry& g,
                                 const ActivationSpec& act, const T* filter,
                                 const T* grad_output, const T* operand,
                                 T* grad_input, const ParallelRunner& runner);

// grad_filter [kernel_size, in_channels, out_channels] and grad_bias
// [out_channels]. The reduction over batch and steps is split into a number
// of partial sums fixed by the problem size alone, then added in a fixed
// order, so results are bitwise reproducible for any thread count.
template <typename T>
void FusedConv1DBackpropFilterCpu(const Conv1DGeometry& g,
                                  const ActivationSpec& act, const T* input,
                                  const T* grad_output, const T* operand,
                                  T* grad_filter, T* grad_bias,
                                  const ParallelRunner& runner);

}  // namespace conv1d

#endif  // TF_CONV1D_OP_CORE_CONV1D_CPU_H_
