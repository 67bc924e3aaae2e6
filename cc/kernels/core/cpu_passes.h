// The three CPU passes of one instruction-set level as a table: each copy of
// conv1d_cpu.cc (cpu_level.h) defines LevelPasses() in its level's namespace,
// and cpu_dispatch.cc calls the table of the level selected at load time.
#ifndef TF_CONV1D_OP_CORE_CPU_PASSES_H_
#define TF_CONV1D_OP_CORE_CPU_PASSES_H_

#include <type_traits>

#include "Eigen/Core"
#include "cc/kernels/core/activations.h"
#include "cc/kernels/core/conv1d_geometry.h"
#include "cc/kernels/core/dtypes.h"
#include "cc/kernels/core/parallel_runner.h"

namespace conv1d {

// The signatures of conv1d_cpu.h: the dense passes (groups == 1), and the
// depthwise ones (groups == in_channels; depthwise_cpu.h).
template <typename T>
struct PassesOf {
  void (*forward)(const Conv1DGeometry& g, const ActivationSpec& act, const T* input,
                  const T* filter, const T* bias, T* output, T* preactivation,
                  const ParallelRunner& runner);
  void (*backprop_input)(const Conv1DGeometry& g, const ActivationSpec& act, const T* filter,
                         const T* grad_output, const T* operand, T* grad_input,
                         const ParallelRunner& runner);
  void (*backprop_filter)(const Conv1DGeometry& g, const ActivationSpec& act, const T* input,
                          const T* grad_output, const T* operand, T* grad_filter,
                          T* grad_bias, const ParallelRunner& runner);
  decltype(forward) depthwise_forward;
  decltype(backprop_input) depthwise_backprop_input;
  decltype(backprop_filter) depthwise_backprop_filter;
};

// One PassesOf per element type (dtypes.h), of_ and the name in the op's T
// attribute, in the list's order.
struct CpuPasses {
#define CONV1D_PASSES_MEMBER(T, CudaT, name) PassesOf<T> of_##name;
  CONV1D_DTYPES(CONV1D_PASSES_MEMBER)
#undef CONV1D_PASSES_MEMBER

  template <typename T>
  const PassesOf<T>& Of() const {
#define CONV1D_PASSES_OF(Type, CudaT, name) \
  if constexpr (std::is_same_v<T, Type>) return of_##name;
    CONV1D_DTYPES(CONV1D_PASSES_OF)
#undef CONV1D_PASSES_OF
  }
};

}  // namespace conv1d

#endif  // TF_CONV1D_OP_CORE_CPU_PASSES_H_
