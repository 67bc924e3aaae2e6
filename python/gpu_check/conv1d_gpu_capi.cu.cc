// C entry points of the framework-free CUDA core, for the standalone harness
// (ctypes). Built with nvcc for a GPU, or with g++ against the host
// emulation (emulation/cuda_emulation.h) for the CPU tests.
//
// geometry: batch, in_steps, in_channels, kernel_size, out_channels, stride,
// dilation. dtype: the row of CONV1D_DTYPES (dtypes.h), from 0. op: 0 forward,
// 1 input gradient, 2 filter gradient. pointers, by op:
//   0: input, filter, bias (or null), output, preactivation (or null)
//   1: filter, grad_output, operand, grad_input
//   2: input, grad_output, operand, grad_filter, grad_bias
// Every function returns 0 on success, else writes a message to `error`.
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>

#include "cc/kernels/core/activations.h"
#include "cc/kernels/core/conv1d_geometry.h"
#include "cc/kernels/core/conv1d_gpu.h"
#include "cc/kernels/core/dtypes.h"
#include "cc/kernels/core/gpu_tile_gemm.h"

namespace {

using conv1d::ActivationSpec;
using conv1d::Conv1DGeometry;
using conv1d::GpuStatus;

int Report(const std::string& message, char* error, int error_size) {
  if (error != nullptr && error_size > 0) {
    std::strncpy(error, message.c_str(), error_size - 1);
    error[error_size - 1] = '\0';
  }
  return 1;
}

std::string Parse(const int64_t* sizes, const char* padding, const char* layout,
                  const char* activation, float negative_slope, Conv1DGeometry* g,
                  ActivationSpec* act) {
  g->batch = sizes[0];
  g->in_steps = sizes[1];
  g->in_channels = sizes[2];
  g->kernel_size = sizes[3];
  g->out_channels = sizes[4];
  g->stride = sizes[5];
  g->dilation = sizes[6];
  g->groups = sizes[7];
  if (!conv1d::ParsePadding(padding, &g->padding)) return std::string("bad padding ") + padding;
  if (!conv1d::ParseLayout(layout, &g->layout)) return std::string("bad layout ") + layout;
  if (!conv1d::ParseActivation(activation, &act->kind)) {
    return std::string("bad activation ") + activation;
  }
  act->negative_slope = negative_slope;
  return conv1d::ResolveGeometry(g);
}

template <typename T>
size_t WorkspaceBytes(int op, const Conv1DGeometry& g, const ActivationSpec& act) {
  switch (op) {
    case 0: return conv1d::FusedConv1DForwardGpuWorkspaceBytes<T>(g, act);
    case 1: return conv1d::FusedConv1DBackpropInputGpuWorkspaceBytes<T>(g, act);
    default: return conv1d::FusedConv1DBackpropFilterGpuWorkspaceBytes<T>(g, act);
  }
}

template <typename T>
GpuStatus Run(int op, const Conv1DGeometry& g, const ActivationSpec& act, void* const* ptrs,
              void* workspace, cudaStream_t stream) {
  auto in = [&](int i) { return static_cast<const T*>(ptrs[i]); };
  auto out = [&](int i) { return static_cast<T*>(ptrs[i]); };
  switch (op) {
    case 0:
      return conv1d::FusedConv1DForwardGpu<T>(g, act, in(0), in(1), in(2), out(3), out(4),
                                              workspace, stream);
    case 1:
      return conv1d::FusedConv1DBackpropInputGpu<T>(g, act, in(0), in(1), in(2), out(3),
                                                    workspace, stream);
    default:
      return conv1d::FusedConv1DBackpropFilterGpu<T>(g, act, in(0), in(1), in(2), out(3),
                                                     out(4), workspace, stream);
  }
}

// Calls f(static_cast<CudaT*>(nullptr)) for row `dtype` of CONV1D_DTYPES;
// false where there is no such row.
template <typename F>
bool WithDtype(int dtype, F&& f) {
  int row = 0;
#define CONV1D_DTYPE_ROW(T, CudaT, name) \
  if (dtype == row++) {                  \
    f(static_cast<CudaT*>(nullptr));     \
    return true;                         \
  }
  CONV1D_DTYPES(CONV1D_DTYPE_ROW)
#undef CONV1D_DTYPE_ROW
  return false;
}

}  // namespace

extern "C" {

// The kernels' fast division (exposed to test it against exact division).
uint32_t conv1d_gpu_fast_divide(uint32_t numerator, uint32_t divisor) {
  return conv1d::gpu::FastDivmod::Make(divisor).Div(numerator);
}

// out: out_steps, pad_left.
int conv1d_gpu_resolve(const int64_t* sizes, const char* padding, const char* layout,
                       int64_t* out, char* error, int error_size) {
  Conv1DGeometry g;
  ActivationSpec act;
  const std::string problem = Parse(sizes, padding, layout, "linear", 0.2f, &g, &act);
  if (!problem.empty()) return Report(problem, error, error_size);
  out[0] = g.out_steps;
  out[1] = g.pad_left;
  return 0;
}

int conv1d_gpu_workspace_bytes(int op, int dtype, const int64_t* sizes, const char* padding,
                               const char* layout, const char* activation,
                               float negative_slope, uint64_t* bytes, char* error,
                               int error_size) {
  Conv1DGeometry g;
  ActivationSpec act;
  const std::string problem = Parse(sizes, padding, layout, activation, negative_slope, &g, &act);
  if (!problem.empty()) return Report(problem, error, error_size);
  const bool known = WithDtype(dtype, [&](auto* type) {
    *bytes = WorkspaceBytes<std::remove_pointer_t<decltype(type)>>(op, g, act);
  });
  return known ? 0 : Report("bad dtype", error, error_size);
}

int conv1d_gpu_run(int op, int dtype, const int64_t* sizes, const char* padding,
                   const char* layout, const char* activation, float negative_slope,
                   void* const* pointers, void* workspace, void* stream, char* error,
                   int error_size) {
  Conv1DGeometry g;
  ActivationSpec act;
  const std::string problem = Parse(sizes, padding, layout, activation, negative_slope, &g, &act);
  if (!problem.empty()) return Report(problem, error, error_size);
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  GpuStatus status;
  const bool known = WithDtype(dtype, [&](auto* type) {
    status = Run<std::remove_pointer_t<decltype(type)>>(op, g, act, pointers, workspace, s);
  });
  if (!known) return Report("bad dtype", error, error_size);
  return status.ok() ? 0 : Report(status.message, error, error_size);
}

}  // extern "C"
