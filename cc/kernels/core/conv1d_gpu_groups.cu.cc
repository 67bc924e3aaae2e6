// The grouped passes on the GPU (conv1d_gpu_passes.h): each group's channels
// gathered into the workspace, the dense passes of conv1d_gpu.h run on them,
// the results scattered back.
#include <algorithm>
#include <cstdint>

#include "cc/kernels/core/channel_groups.h"
#include "cc/kernels/core/conv1d_gpu_common.h"
#include "cc/kernels/core/conv1d_gpu_passes.h"
#include "cc/kernels/core/dtypes.h"
#include "cc/kernels/core/gpu_grid_stride.h"
#include "cc/kernels/core/gpu_tile_gemm.h"

namespace conv1d {
namespace gpu {
namespace {

using namespace channel_groups;  // NOLINT: the groups this file copies out and back

// `count / width` runs of `width` elements, from_pitch apart in `from` and
// to_pitch apart in `to`.
template <typename T>
__global__ void __launch_bounds__(kStrideThreads)
    CopyRunsKernel(const T* from, int64_t from_pitch, T* to, int64_t to_pitch, int64_t width,
                   int64_t count) {
  ForEachStrided(count, [&](int64_t i) {
    const int64_t r = i / width, c = i - r * width;
    to[r * to_pitch + c] = from[r * from_pitch + c];
  });
}

template <typename T>
GpuStatus CopyRuns(int64_t rows, int64_t width, const T* from, int64_t from_pitch, T* to,
                   int64_t to_pitch, cudaStream_t stream) {
  const int64_t count = rows * width;  // at most a tensor's size
  if (count == 0) return GpuStatus{};
  return CheckLaunch(Launch(CopyRunsKernel<T>, StrideGrid(count), dim3(kStrideThreads), stream,
                            from, from_pitch, to, to_pitch, width, count),
                     "the grouped convolution's channel copy");
}

template <typename T>
GpuStatus Gather(const ChannelRuns& runs, const T* whole, T* group, cudaStream_t stream) {
  if (runs.rows * runs.width == 0) return GpuStatus{};
  return CopyRuns(runs.rows, runs.width, whole + runs.offset, runs.pitch, group, runs.width,
                  stream);
}

template <typename T>
GpuStatus Scatter(const ChannelRuns& runs, const T* group, T* whole, cudaStream_t stream) {
  if (runs.rows * runs.width == 0) return GpuStatus{};
  return CopyRuns(runs.rows, runs.width, group, runs.width, whole + runs.offset, runs.pitch,
                  stream);
}

// The workspace: the group's tensors, then the dense call's own workspace.
template <typename T>
struct GroupPlan {
  T* x = nullptr;        // the group's input (or, for the input gradient, unused)
  T* w = nullptr;        // its filter columns
  T* y = nullptr;        // its output, or output gradient
  T* z = nullptr;        // its preactivation, or activation operand
  T* result = nullptr;   // input gradient (input-shaped), or filter gradient + bias
  void* dense = nullptr;
  size_t bytes = 0;
};

enum class Pass { kForward, kBackpropInput, kBackpropFilter };

template <typename T>
GroupPlan<T> Plan(Pass pass, const Conv1DGeometry& g, const ActivationSpec& act, void* base) {
  const Conv1DGeometry sub = GroupGeometry(g);
  WorkspaceArena arena(base);
  GroupPlan<T> p;
  p.w = arena.Take<T>(sub.filter_elements());
  p.y = arena.Take<T>(sub.output_elements());
  p.z = arena.Take<T>(sub.output_elements());
  size_t dense = 0;
  switch (pass) {
    case Pass::kForward:
      p.x = arena.Take<T>(sub.input_elements());
      dense = FusedConv1DForwardGpuWorkspaceBytes<T>(sub, act);
      break;
    case Pass::kBackpropInput:
      p.result = arena.Take<T>(sub.input_elements());
      dense = FusedConv1DBackpropInputGpuWorkspaceBytes<T>(sub, act);
      break;
    case Pass::kBackpropFilter:
      p.x = arena.Take<T>(sub.input_elements());
      p.result = arena.Take<T>(sub.filter_elements() + sub.out_channels);
      dense = FusedConv1DBackpropFilterGpuWorkspaceBytes<T>(sub, act);
      break;
  }
  p.dense = arena.Take<char>(static_cast<int64_t>(dense));
  p.bytes = arena.used();
  return p;
}

#define RETURN_IF_ERROR(expr)         \
  do {                                \
    const GpuStatus s_ = (expr);      \
    if (!s_.ok()) return s_;          \
  } while (0)

template <typename T>
size_t ForwardWorkspaceBytes(const Conv1DGeometry& g, const ActivationSpec& act) {
  return Plan<T>(Pass::kForward, g, act, nullptr).bytes;
}

template <typename T>
GpuStatus Forward(const Conv1DGeometry& g, const ActivationSpec& act, const T* input,
                  const T* filter, const T* bias, T* output, T* preactivation,
                  void* workspace, cudaStream_t stream) {
  if (g.output_elements() == 0) return GpuStatus{};
  const GroupPlan<T> p = Plan<T>(Pass::kForward, g, act, workspace);
  RETURN_IF_ERROR(CheckWorkspace(workspace, p.bytes));
  const Conv1DGeometry sub = GroupGeometry(g);
  for (int64_t j = 0; j < g.groups; ++j) {
    RETURN_IF_ERROR(Gather(InputRuns(g, j), input, p.x, stream));
    RETURN_IF_ERROR(Gather(FilterRuns(g, j), filter, p.w, stream));
    RETURN_IF_ERROR(FusedConv1DForwardGpu<T>(
        sub, act, p.x, p.w, bias != nullptr ? bias + j * sub.out_channels : nullptr, p.y,
        preactivation != nullptr ? p.z : nullptr, p.dense, stream));
    RETURN_IF_ERROR(Scatter(OutputRuns(g, j), p.y, output, stream));
    if (preactivation != nullptr) {
      RETURN_IF_ERROR(Scatter(OutputRuns(g, j), p.z, preactivation, stream));
    }
  }
  return GpuStatus{};
}

template <typename T>
size_t BackpropInputWorkspaceBytes(const Conv1DGeometry& g, const ActivationSpec& act) {
  return Plan<T>(Pass::kBackpropInput, g, act, nullptr).bytes;
}

template <typename T>
GpuStatus BackpropInput(const Conv1DGeometry& g, const ActivationSpec& act,
                        const T* filter, const T* grad_output, const T* operand,
                        T* grad_input, void* workspace, cudaStream_t stream) {
  if (g.input_elements() == 0) return GpuStatus{};
  const GroupPlan<T> p = Plan<T>(Pass::kBackpropInput, g, act, workspace);
  RETURN_IF_ERROR(CheckWorkspace(workspace, p.bytes));
  const Conv1DGeometry sub = GroupGeometry(g);
  for (int64_t j = 0; j < g.groups; ++j) {
    RETURN_IF_ERROR(Gather(FilterRuns(g, j), filter, p.w, stream));
    RETURN_IF_ERROR(Gather(OutputRuns(g, j), grad_output, p.y, stream));
    RETURN_IF_ERROR(Gather(OutputRuns(g, j), operand, p.z, stream));
    RETURN_IF_ERROR(FusedConv1DBackpropInputGpu<T>(sub, act, p.w, p.y, p.z, p.result,
                                                   p.dense, stream));
    RETURN_IF_ERROR(Scatter(InputRuns(g, j), p.result, grad_input, stream));
  }
  return GpuStatus{};
}

template <typename T>
size_t BackpropFilterWorkspaceBytes(const Conv1DGeometry& g,
                                    const ActivationSpec& act) {
  return Plan<T>(Pass::kBackpropFilter, g, act, nullptr).bytes;
}

template <typename T>
GpuStatus BackpropFilter(const Conv1DGeometry& g, const ActivationSpec& act,
                         const T* input, const T* grad_output, const T* operand,
                         T* grad_filter, T* grad_bias, void* workspace,
                         cudaStream_t stream) {
  const GroupPlan<T> p = Plan<T>(Pass::kBackpropFilter, g, act, workspace);
  RETURN_IF_ERROR(CheckWorkspace(workspace, p.bytes));
  const Conv1DGeometry sub = GroupGeometry(g);
  T* grad_filter_g = p.result;
  T* grad_bias_g = p.result + sub.filter_elements();
  for (int64_t j = 0; j < g.groups; ++j) {
    RETURN_IF_ERROR(Gather(InputRuns(g, j), input, p.x, stream));
    RETURN_IF_ERROR(Gather(OutputRuns(g, j), grad_output, p.y, stream));
    RETURN_IF_ERROR(Gather(OutputRuns(g, j), operand, p.z, stream));
    RETURN_IF_ERROR(FusedConv1DBackpropFilterGpu<T>(sub, act, p.x, p.y, p.z, grad_filter_g,
                                                    grad_bias_g, p.dense, stream));
    RETURN_IF_ERROR(Scatter(FilterRuns(g, j), grad_filter_g, grad_filter, stream));
    RETURN_IF_ERROR(CopyRuns<T>(1, sub.out_channels, grad_bias_g, 0,
                                grad_bias + j * sub.out_channels, 0, stream));
  }
  return GpuStatus{};
}

// Of internal linkage, at namespace scope: see GpuPasses.
template <typename T>
constexpr GpuPasses<T> kPasses{ForwardWorkspaceBytes<T>,        Forward<T>,
                               BackpropInputWorkspaceBytes<T>,  BackpropInput<T>,
                               BackpropFilterWorkspaceBytes<T>, BackpropFilter<T>};

}  // namespace

template <typename T>
const GpuPasses<T>& GroupedPasses() {
  return kPasses<T>;
}

#define CONV1D_INSTANTIATE(CpuT, T, name) template const GpuPasses<T>& GroupedPasses<T>();
CONV1D_DTYPES(CONV1D_INSTANTIATE)
#undef CONV1D_INSTANTIATE
#undef RETURN_IF_ERROR

}  // namespace gpu
}  // namespace conv1d
