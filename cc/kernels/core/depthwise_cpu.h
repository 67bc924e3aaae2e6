// The depthwise passes (groups == in_channels, out_channels = m * in_channels)
// of one instruction-set level, with the signatures of conv1d_cpu.h; the
// level's table (conv1d_cpu.cc, LevelPasses) holds them next to the dense ones.
#ifndef TF_CONV1D_OP_CORE_DEPTHWISE_CPU_H_
#define TF_CONV1D_OP_CORE_DEPTHWISE_CPU_H_

#include "cc/kernels/core/activations.h"
#include "cc/kernels/core/conv1d_geometry.h"
#include "cc/kernels/core/cpu_level.h"
#include "cc/kernels/core/parallel_runner.h"

namespace conv1d {
inline namespace TF_CONV1D_LEVEL_NAMESPACE {

template <typename T>
void DepthwiseForwardPass(const Conv1DGeometry& g, const ActivationSpec& act, const T* input,
                          const T* filter, const T* bias, T* output, T* preactivation,
                          const ParallelRunner& runner);

template <typename T>
void DepthwiseBackpropInputPass(const Conv1DGeometry& g, const ActivationSpec& act,
                                const T* filter, const T* grad_output, const T* operand,
                                T* grad_input, const ParallelRunner& runner);

template <typename T>
void DepthwiseBackpropFilterPass(const Conv1DGeometry& g, const ActivationSpec& act,
                                 const T* input, const T* grad_output, const T* operand,
                                 T* grad_filter, T* grad_bias, const ParallelRunner& runner);

}  // namespace TF_CONV1D_LEVEL_NAMESPACE
}  // namespace conv1d

#endif  // TF_CONV1D_OP_CORE_DEPTHWISE_CPU_H_
