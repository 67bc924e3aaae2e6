// CPU registration: the shared OpKernels with the framework-free CPU core,
// parallelized on TF's intra-op thread pool.
#include <algorithm>
#include <cstdint>
#include <functional>

#include "cc/kernels/core/conv1d_cpu.h"
#include "cc/kernels/core/conv1d_stream_cpu.h"
#include "cc/kernels/core/cpu_isa.h"
#include "cc/kernels/fused_conv1d_op_kernels.h"
#include "cc/kernels/fused_conv1d_stream_kernel.h"
#include "cc/ops/op_names.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/register_types.h"
#include "tensorflow/core/platform/threadpool.h"

namespace tensorflow {
namespace fused_conv1d {
namespace {

class IntraOpRunner : public conv1d::ParallelRunner {
 public:
  explicit IntraOpRunner(OpKernelContext* ctx)
      : pool_(ctx->device()->tensorflow_cpu_worker_threads()->workers) {}
  void For(int64_t units, int64_t cost_per_unit,
           const std::function<void(int64_t, int64_t)>& fn) const override {
    if (units <= 0) return;
    pool_->ParallelFor(units, thread::ThreadPool::SchedulingParams::Fixed(
                                  BlockSize(units, cost_per_unit)), fn);
  }

 private:
  // Several blocks per thread, claimed by whichever thread is free, so the
  // last one to finish leaves the others idle for a small share of the pass;
  // but none so small that handing it out costs more than a little of its work.
  int64_t BlockSize(int64_t units, int64_t cost_per_unit) const {
    constexpr int64_t kBlocksPerThread = 16;
    constexpr int64_t kMinBlockCost = int64_t{1} << 21;  // operations, ~20 us
    const int64_t threads = std::max(1, pool_->NumThreads());
    const int64_t blocks = kBlocksPerThread * threads;
    const int64_t by_count = units / blocks + (units % blocks != 0);
    const int64_t cost = std::max<int64_t>(1, cost_per_unit);
    const int64_t by_cost = cost >= kMinBlockCost ? 1 : (kMinBlockCost + cost - 1) / cost;
    return std::min(units, std::max(by_count, by_cost));
  }

  thread::ThreadPool* pool_;
};

// A TF_CONV1D_ISA that this CPU or build cannot honour fails every call (the
// import of the Python package already refuses it).
absl::Status CheckCpuLevel() {
  const std::string& error = conv1d::cpu_isa::Selected().error;
  if (error.empty()) return absl::OkStatus();
  return absl::FailedPreconditionError("tf_conv1d_op: " + error);
}

struct CpuBackend {
  template <typename T>
  static absl::Status Forward(OpKernelContext* ctx, const conv1d::Conv1DGeometry& g,
                              const conv1d::ActivationSpec& act, const T* input,
                              const T* filter, const T* bias, T* output,
                              T* preactivation) {
    TF_RETURN_IF_ERROR(CheckCpuLevel());
    conv1d::FusedConv1DForwardCpu<T>(g, act, input, filter, bias, output,
                                     preactivation, IntraOpRunner(ctx));
    return absl::OkStatus();
  }
  template <typename T>
  static absl::Status BackpropInput(OpKernelContext* ctx,
                                    const conv1d::Conv1DGeometry& g,
                                    const conv1d::ActivationSpec& act,
                                    const T* filter, const T* grad_output,
                                    const T* operand, T* grad_input) {
    TF_RETURN_IF_ERROR(CheckCpuLevel());
    conv1d::FusedConv1DBackpropInputCpu<T>(g, act, filter, grad_output, operand,
                                           grad_input, IntraOpRunner(ctx));
    return absl::OkStatus();
  }
  template <typename T>
  static absl::Status BackpropFilter(OpKernelContext* ctx,
                                     const conv1d::Conv1DGeometry& g,
                                     const conv1d::ActivationSpec& act,
                                     const T* input, const T* grad_output,
                                     const T* operand, T* grad_filter, T* grad_bias) {
    TF_RETURN_IF_ERROR(CheckCpuLevel());
    conv1d::FusedConv1DBackpropFilterCpu<T>(g, act, input, grad_output, operand,
                                            grad_filter, grad_bias, IntraOpRunner(ctx));
    return absl::OkStatus();
  }
  // The direct loop for the few output steps of a streamed chunk; beyond
  // kDirectSteps the tiled core on a written-out concat(state, chunk).
  template <typename T>
  static absl::Status StreamChunk(OpKernelContext* ctx, const conv1d::StreamGeometry& s,
                             const conv1d::ActivationSpec& act, const T* state,
                             const T* chunk, const T* filter, const T* bias, T* output,
                             T* new_state) {
    constexpr int64_t kDirectSteps = 16;
    TF_RETURN_IF_ERROR(CheckCpuLevel());
    const conv1d::Conv1DGeometry& g = s.conv;
    if (g.output_elements() > 0 && g.out_steps > kDirectSteps && g.in_channels > 0) {
      TensorShape padded_shape;
      TF_RETURN_IF_ERROR(LayoutShape(g, g.in_steps, g.in_channels, &padded_shape));
      Tensor padded;
      TF_RETURN_IF_ERROR(ctx->allocate_temp(DataTypeToEnum<T>::value, padded_shape, &padded));
      conv1d::StreamConcatCpu<T>(s, state, chunk, padded.flat<T>().data());
      conv1d::FusedConv1DForwardCpu<T>(g, act, padded.flat<T>().data(), filter, bias, output,
                                       nullptr, IntraOpRunner(ctx));
    } else if (g.output_elements() > 0) {
      conv1d::FusedConv1DStreamCpu<T>(s, act, state, chunk, filter, bias, output,
                                      IntraOpRunner(ctx));
    }
    conv1d::StreamNewStateCpu<T>(s, state, chunk, new_state);
    return absl::OkStatus();
  }
};

#define REGISTER_CPU(T, CudaT, name)                                           \
  REGISTER_KERNEL_BUILDER(                                                     \
      Name(tf_conv1d_op::kForwardOpName)                                       \
          .Device(DEVICE_CPU)                                                  \
          .TypeConstraint<T>("T"),                                             \
      FusedConv1DOp<CpuBackend, T>);                                           \
  REGISTER_KERNEL_BUILDER(                                                     \
      Name(tf_conv1d_op::kBackpropInputOpName)                                 \
          .Device(DEVICE_CPU)                                                  \
          .TypeConstraint<T>("T"),                                             \
      FusedConv1DBackpropInputOp<CpuBackend, T>);                              \
  REGISTER_KERNEL_BUILDER(                                                     \
      Name(tf_conv1d_op::kBackpropFilterOpName)                                \
          .Device(DEVICE_CPU)                                                  \
          .TypeConstraint<T>("T"),                                             \
      FusedConv1DBackpropFilterOp<CpuBackend, T>);                             \
  REGISTER_KERNEL_BUILDER(                                                     \
      Name(tf_conv1d_op::kStreamOpName)                                        \
          .Device(DEVICE_CPU)                                                  \
          .TypeConstraint<T>("T"),                                             \
      FusedConv1DStreamOp<CpuBackend, T>);

CONV1D_DTYPES(REGISTER_CPU)
#undef REGISTER_CPU

}  // namespace
}  // namespace fused_conv1d
}  // namespace tensorflow
