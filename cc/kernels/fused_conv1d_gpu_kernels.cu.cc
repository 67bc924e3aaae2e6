// GPU registration: the shared OpKernels with the framework-free CUDA core
// (cc/kernels/core/conv1d_gpu.h). Kernels are enqueued on the op's stream
// with no synchronization; workspaces come from TF's allocator. The launches
// bind to the CUDA runtime TensorFlow exports (docs/cuda.md).
#define EIGEN_USE_GPU

#include <cstdint>
#include <limits>

#include "cc/kernels/core/conv1d_gpu.h"
#include "cc/kernels/fused_conv1d_op_kernels.h"
#include "cc/ops/op_names.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/register_types.h"
#include "tensorflow/core/framework/types.h"
#include "unsupported/Eigen/CXX11/Tensor"

namespace tensorflow {
namespace fused_conv1d {
namespace {

// TF's 16-bit types and CUDA's have the same layout, so tensors are handed
// to the core as CUDA's.
template <typename T>
struct CudaType;
#define CONV1D_CUDA_TYPE(T, CudaT, name)                                      \
  template <>                                                                 \
  struct CudaType<T> {                                                        \
    using type = CudaT;                                                       \
  };                                                                          \
  static_assert(sizeof(T) == sizeof(CudaT) && alignof(T) == alignof(CudaT),   \
                #name " layouts differ");
CONV1D_DTYPES(CONV1D_CUDA_TYPE)
#undef CONV1D_CUDA_TYPE

template <typename T>
using Cuda = typename CudaType<T>::type;

template <typename T>
const Cuda<T>* AsCuda(const T* p) {
  return reinterpret_cast<const Cuda<T>*>(p);
}
template <typename T>
Cuda<T>* AsCuda(T* p) {
  return reinterpret_cast<Cuda<T>*>(p);
}

absl::Status ToStatus(const conv1d::GpuStatus& status) {
  switch (status.code) {
    case conv1d::GpuStatus::kOk:
      return absl::OkStatus();
    case conv1d::GpuStatus::kUnsupported:
      return absl::InvalidArgumentError("FusedConv1D: " + status.message);
    case conv1d::GpuStatus::kCudaError:
      break;
  }
  return absl::InternalError("FusedConv1D: " + status.message);
}

// A scratch buffer from TF's allocator for this op's device, alive until the
// OpKernel returns; TF keeps it valid for the work enqueued on the stream.
class Workspace {
 public:
  absl::Status Allocate(OpKernelContext* ctx, size_t bytes) {
    if (bytes == 0) return absl::OkStatus();
    if (bytes > static_cast<size_t>(std::numeric_limits<int64_t>::max())) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "FusedConv1D: the GPU workspace would need ", bytes, " bytes"));
    }
    TensorShape shape;
    TF_RETURN_IF_ERROR(
        TensorShape::BuildTensorShape({static_cast<int64_t>(bytes)}, &shape));
    TF_RETURN_IF_ERROR(ctx->allocate_temp(DT_UINT8, shape, &storage_));
    data_ = storage_.flat<uint8>().data();
    return absl::OkStatus();
  }
  void* data() const { return data_; }

 private:
  Tensor storage_;
  void* data_ = nullptr;
};

cudaStream_t Stream(OpKernelContext* ctx) {
  return ctx->eigen_device<Eigen::GpuDevice>().stream();
}

struct GpuBackend {
  template <typename T>
  static absl::Status Forward(OpKernelContext* ctx, const conv1d::Conv1DGeometry& g,
                              const conv1d::ActivationSpec& act, const T* input,
                              const T* filter, const T* bias, T* output, T* preactivation) {
    Workspace workspace;
    TF_RETURN_IF_ERROR(workspace.Allocate(
        ctx, conv1d::FusedConv1DForwardGpuWorkspaceBytes<Cuda<T>>(g, act)));
    return ToStatus(conv1d::FusedConv1DForwardGpu<Cuda<T>>(
        g, act, AsCuda(input), AsCuda(filter), AsCuda(bias), AsCuda(output),
        AsCuda(preactivation), workspace.data(), Stream(ctx)));
  }

  template <typename T>
  static absl::Status BackpropInput(OpKernelContext* ctx, const conv1d::Conv1DGeometry& g,
                                    const conv1d::ActivationSpec& act, const T* filter,
                                    const T* grad_output, const T* operand, T* grad_input) {
    Workspace workspace;
    TF_RETURN_IF_ERROR(workspace.Allocate(
        ctx, conv1d::FusedConv1DBackpropInputGpuWorkspaceBytes<Cuda<T>>(g, act)));
    return ToStatus(conv1d::FusedConv1DBackpropInputGpu<Cuda<T>>(
        g, act, AsCuda(filter), AsCuda(grad_output), AsCuda(operand), AsCuda(grad_input),
        workspace.data(), Stream(ctx)));
  }

  template <typename T>
  static absl::Status BackpropFilter(OpKernelContext* ctx, const conv1d::Conv1DGeometry& g,
                                     const conv1d::ActivationSpec& act, const T* input,
                                     const T* grad_output, const T* operand, T* grad_filter,
                                     T* grad_bias) {
    Workspace workspace;
    TF_RETURN_IF_ERROR(workspace.Allocate(
        ctx, conv1d::FusedConv1DBackpropFilterGpuWorkspaceBytes<Cuda<T>>(g, act)));
    return ToStatus(conv1d::FusedConv1DBackpropFilterGpu<Cuda<T>>(
        g, act, AsCuda(input), AsCuda(grad_output), AsCuda(operand), AsCuda(grad_filter),
        AsCuda(grad_bias), workspace.data(), Stream(ctx)));
  }
};

// input_sizes / filter_sizes are shapes, read on the host.
#define REGISTER_GPU(T, CudaT, name)                                                \
  REGISTER_KERNEL_BUILDER(Name(tf_conv1d_op::kForwardOpName)                       \
                              .Device(DEVICE_GPU)                                   \
                              .TypeConstraint<T>("T"),                              \
                          FusedConv1DOp<GpuBackend, T>);                            \
  REGISTER_KERNEL_BUILDER(Name(tf_conv1d_op::kBackpropInputOpName)                 \
                              .Device(DEVICE_GPU)                                   \
                              .TypeConstraint<T>("T")                               \
                              .HostMemory("input_sizes"),                           \
                          FusedConv1DBackpropInputOp<GpuBackend, T>);               \
  REGISTER_KERNEL_BUILDER(Name(tf_conv1d_op::kBackpropFilterOpName)                \
                              .Device(DEVICE_GPU)                                   \
                              .TypeConstraint<T>("T")                               \
                              .HostMemory("filter_sizes"),                          \
                          FusedConv1DBackpropFilterOp<GpuBackend, T>);

CONV1D_DTYPES(REGISTER_GPU)
#undef REGISTER_GPU

}  // namespace
}  // namespace fused_conv1d
}  // namespace tensorflow
