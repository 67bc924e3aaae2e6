// XLA kernels of the three ops: under jit_compile (or XLA auto-clustering) the
// op becomes plain HLO, a convolution with the op's stride, dilation and
// padding, the bias add and the activation, which XLA fuses and places like
// any other TensorFlow op, on every XLA device. The checks and the geometry
// are the OpKernels' own (fused_conv1d_op_kernels.h, conv1d_geometry.h), and
// the arithmetic follows theirs: half and bfloat16 computed in float.
// Grouped convolutions are XLA's own: feature_group_count in the forward
// and input-gradient convolutions, batch_group_count in the filter gradient's.
#include <string>
#include <utility>
#include <vector>

#include "cc/kernels/core/activations.h"
#include "cc/kernels/core/conv1d_geometry.h"
#include "cc/kernels/fused_conv1d_op_kernels.h"
#include "cc/kernels/xla/activation_hlo.h"
#include "cc/ops/op_names.h"
#include "tensorflow/compiler/tf2xla/xla_helpers.h"
#include "tensorflow/compiler/tf2xla/xla_op_kernel.h"
#include "tensorflow/compiler/tf2xla/xla_op_registry.h"
#include "xla/hlo/builder/lib/arithmetic.h"
#include "xla/hlo/builder/lib/constants.h"
#include "xla/hlo/builder/xla_builder.h"

namespace tensorflow {
namespace fused_conv1d {
namespace {

using tf_conv1d_op::xla_lowering::ActivateHlo;
using tf_conv1d_op::xla_lowering::BackpropActivationHlo;

// The type the kernels accumulate in (cpu_tiles.h AccumulatorOf).
xla::PrimitiveType AccumulatorType(DataType dtype) {
  return dtype == DT_DOUBLE ? xla::F64 : xla::F32;
}

// Axes of an activation tensor ([batch, steps, channels] in the layout).
struct Axes {
  int64_t batch = 0, steps, channels;
  explicit Axes(conv1d::Layout layout)
      : steps(layout == conv1d::Layout::kNWC ? 1 : 2),
        channels(layout == conv1d::Layout::kNWC ? 2 : 1) {}
};

// The filter's axes: [kernel_size, in_channels, out_channels].
constexpr int64_t kTapAxis = 0, kInAxis = 1, kOutAxis = 2;

std::vector<int64_t> ActivationDims(const conv1d::Conv1DGeometry& g, int64_t steps,
                                    int64_t channels) {
  return g.layout == conv1d::Layout::kNWC ? std::vector<int64_t>{g.batch, steps, channels}
                                          : std::vector<int64_t>{g.batch, channels, steps};
}

xla::XlaOp Zeros(xla::XlaBuilder* b, xla::PrimitiveType type, absl::Span<const int64_t> dims) {
  return xla::Broadcast(xla::Zero(b, type), dims);
}

// Amount of padding after the input in the forward convolution: with the
// output length fixed by the geometry, what the last window needs (>= 0).
int64_t PadRight(const conv1d::Conv1DGeometry& g, int64_t stride) {
  const int64_t needed = (g.out_steps - 1) * stride + g.kernel_extent - g.pad_left - g.in_steps;
  return needed > 0 ? needed : 0;
}

// The attributes, the geometry from the shapes, and the type conversions the
// three kernels share.
class FusedConv1DXlaBase : public XlaOpKernel {
 public:
  explicit FusedConv1DXlaBase(OpKernelConstruction* c) : XlaOpKernel(c) {
    OP_REQUIRES_OK(c, c->GetAttr("T", &dtype_));
    OP_REQUIRES_OK(c, attrs_.Parse(c));
  }

 protected:
  // A compile-time constant sizes input (input_sizes, filter_sizes) as a
  // shape, checked as the OpKernels check it.
  absl::Status SizesInput(XlaOpKernelContext* ctx, int index, const char* what,
                          TensorShape* out) {
    std::vector<int64_t> values;
    TF_RETURN_IF_ERROR(ctx->ConstantInputAsIntVector(index, &values));
    Tensor sizes(DT_INT64, TensorShape({static_cast<int64_t>(values.size())}));
    for (size_t i = 0; i < values.size(); ++i) sizes.vec<int64_t>()(i) = values[i];
    return ShapeFromSizes(type_string(), sizes, what, out);
  }

  xla::XlaOp InputIn(XlaOpKernelContext* ctx, int index, xla::PrimitiveType type) {
    return xla::ConvertElementType(ctx->Input(index), type);
  }

  xla::XlaOp ToOutputType(xla::XlaOp value) const {
    return XlaHelpers::ConvertElementType(value, dtype_);
  }

  // The forward convolution's layout: the activation tensor's axes and the
  // filter's, output like the input.
  xla::ConvolutionDimensionNumbers ForwardDims() const {
    const Axes a(attrs_.geometry.layout);
    xla::ConvolutionDimensionNumbers d;
    d.set_input_batch_dimension(a.batch);
    d.set_input_feature_dimension(a.channels);
    d.add_input_spatial_dimensions(a.steps);
    d.set_kernel_input_feature_dimension(kInAxis);
    d.set_kernel_output_feature_dimension(kOutAxis);
    d.add_kernel_spatial_dimensions(kTapAxis);
    d.set_output_batch_dimension(a.batch);
    d.set_output_feature_dimension(a.channels);
    d.add_output_spatial_dimensions(a.steps);
    return d;
  }

  DataType dtype_;  // T
  OpAttrs attrs_;
};

class FusedConv1DXlaOp : public FusedConv1DXlaBase {
 public:
  using FusedConv1DXlaBase::FusedConv1DXlaBase;

  void Compile(XlaOpKernelContext* ctx) override {
    conv1d::Conv1DGeometry g;
    OP_REQUIRES_OK(ctx, MakeGeometry(type_string(), attrs_, ctx->InputShape(0),
                                     ctx->InputShape(1), &g));
    const TensorShape bias_shape = ctx->InputShape(2);
    OP_REQUIRES_OK(ctx, CheckBias(type_string(), g, bias_shape));
    const xla::PrimitiveType acc = AccumulatorType(dtype_);
    const Axes axes(g.layout);
    xla::XlaBuilder* b = ctx->builder();
    const std::vector<int64_t> out_dims = ActivationDims(g, g.out_steps, g.out_channels);
    xla::XlaOp z;
    if (g.output_elements() == 0 || g.in_channels == 0) {
      // Nothing to convolve (conv1d::ComputeGeometry): the sum is empty.
      z = Zeros(b, acc, out_dims);
    } else {
      // The attribute's stride: the geometry sets it to 1 when there is one
      // output step, and XLA's window count needs the real one.
      const int64_t stride = attrs_.geometry.stride;
      z = xla::ConvGeneralDilated(InputIn(ctx, 0, acc), InputIn(ctx, 1, acc), {stride},
                                  {{g.pad_left, PadRight(g, stride)}}, {1}, {g.dilation},
                                  ForwardDims(), /*feature_group_count=*/g.groups);
    }
    if (bias_shape.dim_size(0) != 0) {
      z = xla::Add(z, InputIn(ctx, 2, acc), {axes.channels});
    }
    ctx->SetOutput(0, ToOutputType(ActivateHlo(attrs_.activation, z)));
    ctx->SetOutput(1, conv1d::NeedsPreactivation(attrs_.activation)
                          ? ToOutputType(z)
                          : xla::Broadcast(XlaHelpers::Zero(b, dtype_), {0}));
  }
};

class FusedConv1DBackpropInputXlaOp : public FusedConv1DXlaBase {
 public:
  using FusedConv1DXlaBase::FusedConv1DXlaBase;

  // grad_input = the transposed convolution of grad_z with the filter: grad_z
  // spread out by the stride, convolved with the filter reversed in time and
  // its channel axes swapped, padded so that input step i meets the output
  // steps whose windows hold it.
  void Compile(XlaOpKernelContext* ctx) override {
    TensorShape input_shape;
    OP_REQUIRES_OK(ctx, SizesInput(ctx, 0, "input_sizes", &input_shape));
    conv1d::Conv1DGeometry g;
    OP_REQUIRES_OK(ctx, MakeGeometry(type_string(), attrs_, input_shape, ctx->InputShape(1),
                                     &g));
    OP_REQUIRES_OK(ctx, CheckGradOutput(type_string(), g, attrs_.activation,
                                        ctx->InputShape(2), ctx->InputShape(3)));
    const xla::PrimitiveType acc = AccumulatorType(dtype_);
    if (g.input_elements() == 0) {
      ctx->SetOutput(0, ToOutputType(Zeros(ctx->builder(), acc, input_shape.dim_sizes())));
      return;
    }
    // Input elements imply output steps, filters and input channels.
    const xla::XlaOp grad_z = BackpropActivationHlo(
        attrs_.activation, InputIn(ctx, 2, acc), InputIn(ctx, 3, acc));
    xla::ConvolutionDimensionNumbers dims = ForwardDims();
    xla::XlaOp filter = InputIn(ctx, 1, acc);
    if (g.groups == 1) {
      dims.set_kernel_input_feature_dimension(kOutAxis);
      dims.set_kernel_output_feature_dimension(kInAxis);
    } else {
      // Group j maps its Cout / G gradient channels to its Cin / G input
      // channels: the kernel [K, Cout / G, G * Cin / G] holds at [k, f, j *
      // Cin / G + c] the filter's [k, c, j * Cout / G + f].
      const int64_t cin_g = g.group_in_channels(), cout_g = g.group_out_channels();
      filter = xla::Reshape(filter, {g.kernel_size, cin_g, g.groups, cout_g});
      filter = xla::Transpose(filter, {0, 3, 2, 1});
      filter = xla::Reshape(filter, {g.kernel_size, cout_g, g.in_channels});
      dims.set_kernel_input_feature_dimension(kInAxis);
      dims.set_kernel_output_feature_dimension(kOutAxis);
    }
    const int64_t before = g.kernel_extent - 1 - g.pad_left;
    const int64_t after = g.in_steps + g.pad_left - 1 - (g.out_steps - 1) * g.stride;
    const xla::XlaOp reversed = xla::Rev(filter, {kTapAxis});
    ctx->SetOutput(0, ToOutputType(xla::ConvGeneralDilated(
                                            grad_z, reversed, {1}, {{before, after}},
                                            {g.stride}, {g.dilation}, dims,
                                            /*feature_group_count=*/g.groups)));
  }
};

class FusedConv1DBackpropFilterXlaOp : public FusedConv1DXlaBase {
 public:
  using FusedConv1DXlaBase::FusedConv1DXlaBase;

  // grad_filter[tap, c, f] = sum over batch and output steps of
  // input_padded[step * stride + tap * dilation, c] * grad_z[step, f]: a
  // convolution whose "batch" is the input channel, whose contracted feature
  // is the batch, and whose window is grad_z spread out by the stride. With
  // groups, batch_group_count pairs input channel group j (the "batch") with
  // filter group j (the output features), giving [K, Cin / G, Cout].
  void Compile(XlaOpKernelContext* ctx) override {
    TensorShape filter_shape;
    OP_REQUIRES_OK(ctx, SizesInput(ctx, 1, "filter_sizes", &filter_shape));
    conv1d::Conv1DGeometry g;
    OP_REQUIRES_OK(ctx, MakeGeometry(type_string(), attrs_, ctx->InputShape(0), filter_shape,
                                     &g));
    OP_REQUIRES_OK(ctx, CheckGradOutput(type_string(), g, attrs_.activation,
                                        ctx->InputShape(2), ctx->InputShape(3)));
    const xla::PrimitiveType acc = AccumulatorType(dtype_);
    xla::XlaBuilder* b = ctx->builder();
    const Axes axes(g.layout);
    if (g.output_elements() == 0) {
      ctx->SetOutput(0, ToOutputType(Zeros(b, acc, filter_shape.dim_sizes())));
      ctx->SetOutput(1, ToOutputType(Zeros(b, acc, {g.out_channels})));
      return;
    }
    const xla::XlaOp grad_z = BackpropActivationHlo(
        attrs_.activation, InputIn(ctx, 2, acc), InputIn(ctx, 3, acc));
    ctx->SetOutput(1, ToOutputType(xla::Reduce(grad_z, xla::Zero(b, acc),
                                                    xla::CreateScalarAddComputation(acc, b),
                                                    {axes.batch, axes.steps})));
    if (g.in_channels == 0) {
      ctx->SetOutput(0, ToOutputType(Zeros(b, acc, filter_shape.dim_sizes())));
      return;
    }
    // The padded input the windows read: kernel_extent + (out_steps - 1) *
    // stride steps from -pad_left; input steps past it (VALID) are cut off.
    xla::XlaOp input = InputIn(ctx, 0, acc);
    const int64_t span = g.kernel_extent + (g.out_steps - 1) * g.stride;
    int64_t after = span - g.pad_left - g.in_steps;
    if (after < 0) {
      input = xla::SliceInDim(input, 0, g.in_steps + after, 1, axes.steps);
      after = 0;
    }
    xla::ConvolutionDimensionNumbers dims;
    dims.set_input_batch_dimension(axes.channels);
    dims.set_input_feature_dimension(axes.batch);
    dims.add_input_spatial_dimensions(axes.steps);
    dims.set_kernel_input_feature_dimension(axes.batch);
    dims.set_kernel_output_feature_dimension(axes.channels);
    dims.add_kernel_spatial_dimensions(axes.steps);
    dims.set_output_batch_dimension(kInAxis);
    dims.set_output_feature_dimension(kOutAxis);
    dims.add_output_spatial_dimensions(kTapAxis);
    ctx->SetOutput(0, ToOutputType(xla::ConvGeneralDilated(
                                            input, grad_z, {g.dilation}, {{g.pad_left, after}},
                                            {1}, {g.stride}, dims, /*feature_group_count=*/1,
                                            /*batch_group_count=*/g.groups)));
  }
};

const std::vector<DataType> kTypes = {DT_HALF, DT_BFLOAT16, DT_FLOAT, DT_DOUBLE};

REGISTER_XLA_OP(Name(tf_conv1d_op::kForwardOpName).TypeConstraint("T", kTypes),
                FusedConv1DXlaOp);
REGISTER_XLA_OP(Name(tf_conv1d_op::kBackpropInputOpName)
                    .TypeConstraint("T", kTypes)
                    .CompileTimeConstantInput("input_sizes"),
                FusedConv1DBackpropInputXlaOp);
REGISTER_XLA_OP(Name(tf_conv1d_op::kBackpropFilterOpName)
                    .TypeConstraint("T", kTypes)
                    .CompileTimeConstantInput("filter_sizes"),
                FusedConv1DBackpropFilterXlaOp);

}  // namespace
}  // namespace fused_conv1d
}  // namespace tensorflow
