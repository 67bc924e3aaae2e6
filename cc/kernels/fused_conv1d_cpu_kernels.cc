// CPU registration: the shared OpKernels with the framework-free CPU core,
// parallelized on TF's intra-op thread pool.
#include "cc/kernels/core/conv1d_cpu.h"
#include "cc/kernels/fused_conv1d_op_kernels.h"
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
    if (units > 0) pool_->ParallelFor(units, cost_per_unit, fn);
  }

 private:
  thread::ThreadPool* pool_;
};

struct CpuBackend {
  template <typename T>
  static absl::Status Forward(OpKernelContext* ctx, const conv1d::Conv1DGeometry& g,
                              const conv1d::ActivationSpec& act, const T* input,
                              const T* filter, const T* bias, T* output,
                              T* preactivation) {
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
    conv1d::FusedConv1DBackpropFilterCpu<T>(g, act, input, grad_output, operand,
                                            grad_filter, grad_bias, IntraOpRunner(ctx));
    return absl::OkStatus();
  }
};

#define REGISTER_CPU(T)                                                        \
  REGISTER_KERNEL_BUILDER(                                                     \
      Name("FusedConv1D").Device(DEVICE_CPU).TypeConstraint<T>("T"),           \
      FusedConv1DOp<CpuBackend, T>);                                           \
  REGISTER_KERNEL_BUILDER(                                                     \
      Name("FusedConv1DBackpropInput").Device(DEVICE_CPU).TypeConstraint<T>("T"), \
      FusedConv1DBackpropInputOp<CpuBackend, T>);                              \
  REGISTER_KERNEL_BUILDER(                                                     \
      Name("FusedConv1DBackpropFilter").Device(DEVICE_CPU).TypeConstraint<T>("T"), \
      FusedConv1DBackpropFilterOp<CpuBackend, T>);

REGISTER_CPU(Eigen::half)
REGISTER_CPU(bfloat16)
REGISTER_CPU(float)
REGISTER_CPU(double)
#undef REGISTER_CPU

}  // namespace
}  // namespace fused_conv1d
}  // namespace tensorflow
