// The OpKernels of FusedConv1D and its gradients, shared by CPU and GPU.
// They check shapes, allocate outputs and hand raw pointers to a Backend:
//
//   struct Backend {
//     template <typename T> static absl::Status Forward(OpKernelContext*,
//         const conv1d::Conv1DGeometry&, const conv1d::ActivationSpec&,
//         const T* input, const T* filter, const T* bias /*null: none*/,
//         T* output, T* preactivation /*null: not needed*/);
//     template <typename T> static absl::Status BackpropInput(OpKernelContext*,
//         geometry, activation, const T* filter, const T* grad_output,
//         const T* operand, T* grad_input);
//     template <typename T> static absl::Status BackpropFilter(OpKernelContext*,
//         geometry, activation, const T* input, const T* grad_output,
//         const T* operand, T* grad_filter, T* grad_bias);
//   };
#ifndef TF_CONV1D_OP_KERNELS_FUSED_CONV1D_OP_KERNELS_H_
#define TF_CONV1D_OP_KERNELS_FUSED_CONV1D_OP_KERNELS_H_

#include <string>

#include "cc/kernels/core/activations.h"
#include "cc/kernels/core/conv1d_geometry.h"
#include "cc/kernels/core/conv1d_stream.h"
#include "cc/kernels/core/dtypes.h"
#include "cc/kernels/op_attrs.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/tensor.h"
#include "tensorflow/core/framework/tensor_shape.h"

namespace tensorflow {
namespace fused_conv1d {

// Every message starts with `op`, the op's name.

// Fills in the geometry from the input and filter shapes, or says what is wrong.
absl::Status MakeGeometry(const std::string& op, const OpAttrs& attrs,
                          const TensorShape& input, const TensorShape& filter,
                          conv1d::Conv1DGeometry* g);

// The streaming op's geometry from the state, chunk and filter shapes, or
// what is wrong (conv1d::ResolveStreamGeometry, after the ranks and the
// agreement of the batch and channel dimensions).
absl::Status MakeStreamGeometry(const std::string& op, const OpAttrs& attrs,
                                const TensorShape& state, const TensorShape& chunk,
                                const TensorShape& filter, conv1d::StreamGeometry* s);

// Reads a 3-element int64 shape vector (input_sizes, filter_sizes).
absl::Status ShapeFromSizes(const std::string& op, const Tensor& sizes, const char* what,
                            TensorShape* out);

// [batch, steps, channels] in the geometry's layout; never CHECK-fails.
absl::Status LayoutShape(const conv1d::Conv1DGeometry& g, int64_t steps, int64_t channels,
                         TensorShape* out);

template <typename T>
const T* DataOrNull(const Tensor& t) {
  return t.NumElements() == 0 ? nullptr : t.flat<T>().data();
}

// The bias has out_channels elements, or none.
absl::Status CheckBias(const std::string& op, const conv1d::Conv1DGeometry& g,
                       const TensorShape& bias);

template <typename Backend, typename T>
class FusedConv1DOp : public OpKernel {
 public:
  explicit FusedConv1DOp(OpKernelConstruction* c) : OpKernel(c) {
    OP_REQUIRES_OK(c, attrs_.Parse(c));
  }

  void Compute(OpKernelContext* ctx) override {
    const Tensor& input = ctx->input(0);
    const Tensor& filter = ctx->input(1);
    const Tensor& bias = ctx->input(2);
    conv1d::Conv1DGeometry g;
    OP_REQUIRES_OK(ctx, MakeGeometry(type_string(), attrs_, input.shape(), filter.shape(), &g));
    OP_REQUIRES_OK(ctx, CheckBias(type_string(), g, bias.shape()));
    TensorShape out_shape;
    OP_REQUIRES_OK(ctx, LayoutShape(g, g.out_steps, g.out_channels, &out_shape));
    Tensor* output = nullptr;
    Tensor* preactivation = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, out_shape, &output));
    const bool keep_z = conv1d::NeedsPreactivation(attrs_.activation);
    OP_REQUIRES_OK(ctx, ctx->allocate_output(1, keep_z ? out_shape : TensorShape({0}),
                                             &preactivation));
    if (g.output_elements() == 0) return;
    // In an inference graph nothing reads the pre-activation: skip writing it.
    T* z = keep_z && ctx->output_required(1) ? preactivation->flat<T>().data() : nullptr;
    OP_REQUIRES_OK(ctx, Backend::template Forward<T>(
                            ctx, conv1d::ComputeGeometry(g), attrs_.activation,
                            input.flat<T>().data(), filter.flat<T>().data(), DataOrNull<T>(bias),
                            output->flat<T>().data(), z));
  }

 private:
  OpAttrs attrs_;
};

// Checks that grad_output and activation_operand match the forward output.
absl::Status CheckGradOutput(const std::string& op, const conv1d::Conv1DGeometry& g,
                             const conv1d::ActivationSpec& activation,
                             const TensorShape& grad_output, const TensorShape& operand);

template <typename Backend, typename T>
class FusedConv1DBackpropInputOp : public OpKernel {
 public:
  explicit FusedConv1DBackpropInputOp(OpKernelConstruction* c) : OpKernel(c) {
    OP_REQUIRES_OK(c, attrs_.Parse(c));
  }

  void Compute(OpKernelContext* ctx) override {
    TensorShape input_shape;
    OP_REQUIRES_OK(ctx, ShapeFromSizes(type_string(), ctx->input(0), "input_sizes",
                                       &input_shape));
    const Tensor& filter = ctx->input(1);
    const Tensor& grad_output = ctx->input(2);
    const Tensor& operand = ctx->input(3);
    conv1d::Conv1DGeometry g;
    OP_REQUIRES_OK(ctx, MakeGeometry(type_string(), attrs_, input_shape, filter.shape(), &g));
    OP_REQUIRES_OK(ctx, CheckGradOutput(type_string(), g, attrs_.activation,
                                        grad_output.shape(), operand.shape()));
    Tensor* grad_input = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, input_shape, &grad_input));
    if (g.input_elements() == 0) return;
    OP_REQUIRES_OK(ctx, Backend::template BackpropInput<T>(
                            ctx, conv1d::ComputeGeometry(g), attrs_.activation,
                            filter.flat<T>().data(), DataOrNull<T>(grad_output),
                            DataOrNull<T>(operand), grad_input->flat<T>().data()));
  }

 private:
  OpAttrs attrs_;
};

template <typename Backend, typename T>
class FusedConv1DBackpropFilterOp : public OpKernel {
 public:
  explicit FusedConv1DBackpropFilterOp(OpKernelConstruction* c) : OpKernel(c) {
    OP_REQUIRES_OK(c, attrs_.Parse(c));
  }

  void Compute(OpKernelContext* ctx) override {
    const Tensor& input = ctx->input(0);
    TensorShape filter_shape;
    OP_REQUIRES_OK(ctx, ShapeFromSizes(type_string(), ctx->input(1), "filter_sizes",
                                       &filter_shape));
    const Tensor& grad_output = ctx->input(2);
    const Tensor& operand = ctx->input(3);
    conv1d::Conv1DGeometry g;
    OP_REQUIRES_OK(ctx, MakeGeometry(type_string(), attrs_, input.shape(), filter_shape, &g));
    OP_REQUIRES_OK(ctx, CheckGradOutput(type_string(), g, attrs_.activation,
                                        grad_output.shape(), operand.shape()));
    Tensor* grad_filter = nullptr;
    Tensor* grad_bias = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, filter_shape, &grad_filter));
    TensorShape bias_shape;
    OP_REQUIRES_OK(ctx, TensorShape::BuildTensorShape({g.out_channels}, &bias_shape));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(1, bias_shape, &grad_bias));
    OP_REQUIRES_OK(ctx, Backend::template BackpropFilter<T>(
                            ctx, conv1d::ComputeGeometry(g), attrs_.activation,
                            DataOrNull<T>(input), DataOrNull<T>(grad_output),
                            DataOrNull<T>(operand), grad_filter->flat<T>().data(),
                            grad_bias->flat<T>().data()));
  }

 private:
  OpAttrs attrs_;
};

}  // namespace fused_conv1d
}  // namespace tensorflow

#endif  // TF_CONV1D_OP_KERNELS_FUSED_CONV1D_OP_KERNELS_H_
