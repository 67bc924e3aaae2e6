// The gradients of grouped convolutions (1 < groups < in_channels) on the
// dense passes: each group's channels are copied out into tensors of their
// own, run through the dense pass of the selected level, and the results
// copied back. The copies cost one read and write of each tensor per call,
// next to a dense pass over groups of several channels; the forward pass
// reads the groups in place instead (conv1d_cpu.cc), and depthwise
// convolutions have passes of their own (depthwise_cpu.h).
#ifndef TF_CONV1D_OP_CORE_GROUPED_CPU_H_
#define TF_CONV1D_OP_CORE_GROUPED_CPU_H_

#include "cc/kernels/core/activations.h"
#include "cc/kernels/core/channel_groups.h"  // IsDepthwise
#include "cc/kernels/core/conv1d_geometry.h"
#include "cc/kernels/core/cpu_passes.h"
#include "cc/kernels/core/parallel_runner.h"

namespace conv1d {

// The gradient passes of conv1d_cpu.h for 1 < g.groups < in_channels, with
// `dense` run per group (the forward pass takes groups itself).
template <typename T>
void GroupedBackpropInput(const PassesOf<T>& dense, const Conv1DGeometry& g,
                          const ActivationSpec& act, const T* filter, const T* grad_output,
                          const T* operand, T* grad_input, const ParallelRunner& runner);

template <typename T>
void GroupedBackpropFilter(const PassesOf<T>& dense, const Conv1DGeometry& g,
                           const ActivationSpec& act, const T* input, const T* grad_output,
                           const T* operand, T* grad_filter, T* grad_bias,
                           const ParallelRunner& runner);

}  // namespace conv1d

#endif  // TF_CONV1D_OP_CORE_GROUPED_CPU_H_
