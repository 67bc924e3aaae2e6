// CPU registration: the shared OpKernels with the framework-free CPU core,
// parallelized on TF's intra-op thread pool.
#include <algorithm>
#include <cstdint>
#include <functional>

#include "cc/kernels/core/conv1d_cpu.h"
#include "cc/kernels/core/cpu_isa.h"
#include "cc/kernels/fused_conv1d_op_kernels.h"
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
      FusedConv1DBackpropFilterOp<CpuBackend, T>);

CONV1D_DTYPES(REGISTER_CPU)
#undef REGISTER_CPU

}  // namespace
}  // namespace fused_conv1d
}  // namespace tensorflow
