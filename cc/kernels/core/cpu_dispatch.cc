// The CPU passes of conv1d_cpu.h, forwarded to the level selected at load
// time (cpu_isa.h): dense, depthwise, or dense per group (grouped_cpu.h). Compiled for the baseline, like everything outside the
// per-level copies.
#include <cstdlib>
#include <string>

#include "cc/kernels/core/conv1d_cpu.h"
#include "cc/kernels/core/cpu_isa.h"
#include "cc/kernels/core/cpu_passes.h"
#include "cc/kernels/core/dtypes.h"
#include "cc/kernels/core/grouped_cpu.h"

namespace conv1d {

// The table of each copy. Only the baseline copy is always linked; the others
// are weak references, null where a build (another architecture, a
// single-level test build) leaves them out.
namespace isa_baseline {
const CpuPasses& LevelPasses();
}
namespace isa_avx2 {
__attribute__((weak)) const CpuPasses& LevelPasses();
}
namespace isa_avx512 {
__attribute__((weak)) const CpuPasses& LevelPasses();
}

namespace cpu_isa {
namespace {

using LevelTable = const CpuPasses& (*)();

LevelTable TableOf(Level level) {
  switch (level) {
    case Level::kBaseline: return &isa_baseline::LevelPasses;
    case Level::kAvx2: return &isa_avx2::LevelPasses;
    case Level::kAvx512: return &isa_avx512::LevelPasses;
  }
  return nullptr;
}

std::string NamesOf(const std::vector<Level>& levels) {
  std::string names;
  for (Level level : levels) names += (names.empty() ? "" : ", ") + std::string(Name(level));
  return names;
}

}  // namespace

std::vector<Level> CompiledLevels() {
  std::vector<Level> levels;
  for (Level level : kAllLevels) {
    if (TableOf(level) != nullptr) levels.push_back(level);
  }
  return levels;
}

std::vector<Level> SupportedLevels() {
  std::vector<Level> levels;
  for (Level level : CompiledLevels()) {
    if (CpuSupports(level)) levels.push_back(level);
  }
  return levels;
}

Selection Select(const char* forced) {
  Selection selection;
  const std::vector<Level> supported = SupportedLevels();
  selection.level = supported.back();  // the baseline at least
  if (forced == nullptr || *forced == '\0') return selection;
  const std::string name = forced;
  for (Level level : kAllLevels) {
    if (name != Name(level)) continue;
    if (TableOf(level) == nullptr) {
      selection.error = "this build has no " + name + " code (it has " +
                        NamesOf(CompiledLevels()) + ")";
    } else if (!CpuSupports(level)) {
      selection.error = "this CPU does not support the " + name + " level (it supports " +
                        NamesOf(supported) + ")";
    } else {
      selection.level = level;
    }
    return selection;
  }
  selection.error = "unknown level '" + name + "' (expected one of baseline, avx2, avx512)";
  return selection;
}

const Selection& Selected() {
  static const Selection selection = [] {
    Selection s = Select(std::getenv(kForceVariable));
    if (!s.error.empty()) s.error = std::string(kForceVariable) + ": " + s.error;
    return s;
  }();
  return selection;
}

}  // namespace cpu_isa

namespace {

// The selected level's passes. Callers check cpu_isa::Selected().error first;
// a standalone caller that does not gets the baseline on a refused selection.
template <typename T>
const PassesOf<T>& Passes() {
  static const CpuPasses& passes = cpu_isa::TableOf(
      cpu_isa::Selected().error.empty() ? cpu_isa::Selected().level
                                        : cpu_isa::Level::kBaseline)();
  return passes.Of<T>();
}

}  // namespace

template <typename T>
void FusedConv1DForwardCpu(const Conv1DGeometry& g, const ActivationSpec& act, const T* input,
                           const T* filter, const T* bias, T* output, T* preactivation,
                           const ParallelRunner& runner) {
  const PassesOf<T>& passes = Passes<T>();
  if (IsDepthwise(g)) {
    passes.depthwise_forward(g, act, input, filter, bias, output, preactivation, runner);
  } else {  // dense, or a GEMM per group
    passes.forward(g, act, input, filter, bias, output, preactivation, runner);
  }
}

template <typename T>
void FusedConv1DBackpropInputCpu(const Conv1DGeometry& g, const ActivationSpec& act,
                                 const T* filter, const T* grad_output, const T* operand,
                                 T* grad_input, const ParallelRunner& runner) {
  const PassesOf<T>& passes = Passes<T>();
  if (g.groups == 1) {
    passes.backprop_input(g, act, filter, grad_output, operand, grad_input, runner);
  } else if (IsDepthwise(g)) {
    passes.depthwise_backprop_input(g, act, filter, grad_output, operand, grad_input, runner);
  } else {
    GroupedBackpropInput<T>(passes, g, act, filter, grad_output, operand, grad_input, runner);
  }
}

template <typename T>
void FusedConv1DBackpropFilterCpu(const Conv1DGeometry& g, const ActivationSpec& act,
                                  const T* input, const T* grad_output, const T* operand,
                                  T* grad_filter, T* grad_bias, const ParallelRunner& runner) {
  const PassesOf<T>& passes = Passes<T>();
  if (g.groups == 1) {
    passes.backprop_filter(g, act, input, grad_output, operand, grad_filter, grad_bias, runner);
  } else if (IsDepthwise(g)) {
    passes.depthwise_backprop_filter(g, act, input, grad_output, operand, grad_filter,
                                     grad_bias, runner);
  } else {
    GroupedBackpropFilter<T>(passes, g, act, input, grad_output, operand, grad_filter,
                             grad_bias, runner);
  }
}

#define CONV1D_INSTANTIATE(T, CudaT, name)                                                \
  template void FusedConv1DForwardCpu<T>(const Conv1DGeometry&, const ActivationSpec&,    \
                                         const T*, const T*, const T*, T*, T*,            \
                                         const ParallelRunner&);                           \
  template void FusedConv1DBackpropInputCpu<T>(const Conv1DGeometry&, const ActivationSpec&, \
                                               const T*, const T*, const T*, T*,          \
                                               const ParallelRunner&);                     \
  template void FusedConv1DBackpropFilterCpu<T>(const Conv1DGeometry&,                     \
                                                const ActivationSpec&, const T*, const T*, \
                                                const T*, T*, T*, const ParallelRunner&);

CONV1D_DTYPES(CONV1D_INSTANTIATE)
#undef CONV1D_INSTANTIATE

}  // namespace conv1d
