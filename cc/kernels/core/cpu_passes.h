// The three CPU passes of one instruction-set level as a table: each copy of
// conv1d_cpu.cc (cpu_level.h) defines LevelPasses() in its level's namespace,
// and cpu_dispatch.cc calls the table of the level selected at load time.
#ifndef TF_CONV1D_OP_CORE_CPU_PASSES_H_
#define TF_CONV1D_OP_CORE_CPU_PASSES_H_

#include <type_traits>

#include "Eigen/Core"
#include "cc/kernels/core/activations.h"
#include "cc/kernels/core/conv1d_geometry.h"
#include "cc/kernels/core/parallel_runner.h"

namespace conv1d {

// The signatures of conv1d_cpu.h.
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
};

struct CpuPasses {
  PassesOf<Eigen::half> half;
  PassesOf<Eigen::bfloat16> bfloat16;
  PassesOf<float> float32;
  PassesOf<double> float64;

  template <typename T>
  const PassesOf<T>& Of() const {
    if constexpr (std::is_same_v<T, Eigen::half>) return half;
    else if constexpr (std::is_same_v<T, Eigen::bfloat16>) return bfloat16;
    else if constexpr (std::is_same_v<T, float>) return float32;
    else return float64;
  }
};

}  // namespace conv1d

#endif  // TF_CONV1D_OP_CORE_CPU_PASSES_H_
