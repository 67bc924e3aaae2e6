// Op definitions and shape functions of the fused 1D convolution.
#include <string>

#include "cc/kernels/core/activations.h"
#include "cc/kernels/core/conv1d_geometry.h"
#include "cc/kernels/core/dtypes.h"
#include "cc/kernels/op_attrs.h"
#include "cc/ops/op_names.h"
#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/shape_inference.h"

namespace tensorflow {
namespace {

using shape_inference::DimensionHandle;
using shape_inference::InferenceContext;
using shape_inference::ShapeHandle;

// Attributes shared by the forward and both backward ops. padding is one of
// VALID, SAME, CAUSAL; data_format NWC or NCW; activation one of the names in
// activation_table.h. They are plain strings, checked by the shape function and
// the kernels, because TensorFlow's own check of a list of allowed values
// quotes an edited GraphDef's bytes unescaped, and a message that is not
// UTF-8 reaches Python as a bare UnicodeDecodeError.
#define FUSED_CONV1D_ATTRS                                                   \
  Attr(TypeAttr())                                                           \
      .Attr("stride: int = 1")                                               \
      .Attr("dilation: int = 1")                                             \
      .Attr("groups: int = 1")                                               \
      .Attr("padding: string")                                               \
      .Attr("data_format: string = 'NWC'")                                   \
      .Attr("activation: string = 'linear'")                                 \
      .Attr("negative_slope: float = 0.2")

// "half, bfloat16, float, double" (dtypes.h).
std::string TypeAttr() {
  std::string names;
#define CONV1D_TYPE_NAME(T, CudaT, name) names += (names.empty() ? "" : ", ") + std::string(#name);
  CONV1D_DTYPES(CONV1D_TYPE_NAME)
#undef CONV1D_TYPE_NAME
  return "T: {" + names + "}";
}

// The activations whose derivative reads the pre-activation, as a phrase.
std::string PreactivationUsers() {
  std::string always, if_negative;
  for (const conv1d::Activation kind : conv1d::kActivations) {
    std::string* list = nullptr;
    switch (conv1d::OperandOf(kind)) {
      case conv1d::Operand::kPreactivation: list = &always; break;
      case conv1d::Operand::kPreactivationIfNegativeSlope: list = &if_negative; break;
      default: continue;
    }
    *list += (list->empty() ? "" : ", ") + std::string(conv1d::ActivationName(kind));
  }
  return always + (always.empty() || if_negative.empty() ? "" : ", ") + if_negative +
         (if_negative.empty() ? "" : " with a negative slope");
}

std::string ForwardDoc() {
  return R"doc(
output = activation(conv1d(input, filter) + bias), computed in one kernel.

input: [batch, steps, in_channels] (NWC) or [batch, in_channels, steps] (NCW).
filter: [kernel_size, in_channels / groups, out_channels], the Keras kernel
  layout.
bias: [out_channels], or [0] for no bias.
preactivation: conv1d(input, filter) + bias where the activation's derivative
  needs it ()doc" + PreactivationUsers() + R"doc(), else an
  empty tensor. Only the registered gradient reads it.
padding: CAUSAL left-pads by (kernel_size - 1) * dilation, so output step t
  depends on input steps up to t * stride only.
activation: one of )doc" + std::string(conv1d::ActivationNames()) + R"doc(.
groups: in_channels and out_channels split into this many equal groups,
  output group j reading input group j only (output channel f is in group
  f / (out_channels / groups)); groups == in_channels is depthwise.
)doc";
}

// [batch, steps, channels] in the op's layout.
ShapeHandle MakeActivationShape(InferenceContext* c, conv1d::Layout layout,
                                DimensionHandle batch, DimensionHandle steps,
                                DimensionHandle channels) {
  return layout == conv1d::Layout::kNWC ? c->MakeShape({batch, steps, channels})
                                        : c->MakeShape({batch, channels, steps});
}

// The channel counts groups must divide, and the filter's group width, where
// known. The kernels check all of it again on the actual shapes.
absl::Status CheckGroups(InferenceContext* c, DimensionHandle in_channels,
                         DimensionHandle group_width, DimensionHandle out_channels,
                         int64_t groups) {
  const std::string op = tf_conv1d_op::kForwardOpName;
  if (c->ValueKnown(in_channels) && c->Value(in_channels) % groups != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        op, ": groups must divide the input channels: expected a divisor of ",
        c->Value(in_channels), ", got groups ", groups));
  }
  if (c->ValueKnown(out_channels) && c->Value(out_channels) % groups != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        op, ": groups must divide the number of filters (filter dimension 2): expected a "
        "divisor of ", c->Value(out_channels), ", got groups ", groups));
  }
  if (c->ValueKnown(in_channels) && c->ValueKnown(group_width) &&
      c->Value(group_width) != c->Value(in_channels) / groups) {
    return absl::InvalidArgumentError(absl::StrCat(
        op, ": with groups ", groups, " the filter must have in_channels / groups = ",
        c->Value(in_channels) / groups, " in dimension 1, got ", c->Value(group_width),
        " (input channels ", c->Value(in_channels), ")"));
  }
  return absl::OkStatus();
}

absl::Status ForwardShape(InferenceContext* c) {
  tensorflow::fused_conv1d::OpAttrs attrs;
  TF_RETURN_IF_ERROR(attrs.Parse(c, tf_conv1d_op::kForwardOpName));
  const bool nwc = attrs.geometry.layout == conv1d::Layout::kNWC;
  ShapeHandle input, filter, bias;
  TF_RETURN_IF_ERROR(c->WithRank(c->input(0), 3, &input));
  TF_RETURN_IF_ERROR(c->WithRank(c->input(1), 3, &filter));
  TF_RETURN_IF_ERROR(c->WithRank(c->input(2), 1, &bias));
  DimensionHandle batch = c->Dim(input, 0);
  DimensionHandle steps = c->Dim(input, nwc ? 1 : 2);
  DimensionHandle in_channels = c->Dim(input, nwc ? 2 : 1);
  DimensionHandle kernel_size = c->Dim(filter, 0);
  DimensionHandle out_channels = c->Dim(filter, 2);
  const int64_t groups = attrs.geometry.groups;
  DimensionHandle merged = in_channels;
  if (groups == 1) {
    TF_RETURN_IF_ERROR(c->Merge(in_channels, c->Dim(filter, 1), &merged));
  } else {
    TF_RETURN_IF_ERROR(CheckGroups(c, in_channels, c->Dim(filter, 1), out_channels, groups));
  }
  if (c->ValueKnown(c->Dim(bias, 0)) && c->Value(c->Dim(bias, 0)) != 0) {
    TF_RETURN_IF_ERROR(c->Merge(out_channels, c->Dim(bias, 0), &out_channels));
  }
  DimensionHandle out_steps = c->UnknownDim();
  if (c->ValueKnown(steps) && c->ValueKnown(kernel_size)) {
    conv1d::Conv1DGeometry g = attrs.geometry;
    // Unknown sizes take values the kernel's checks cannot refuse.
    g.batch = c->ValueKnown(batch) ? c->Value(batch) : 0;
    g.in_steps = c->Value(steps);
    g.in_channels = c->ValueKnown(merged) ? c->Value(merged) : 0;
    g.kernel_size = c->Value(kernel_size);
    g.out_channels = c->ValueKnown(out_channels) ? c->Value(out_channels) : groups;
    const std::string error = conv1d::ResolveGeometry(&g);
    if (!error.empty()) return absl::InvalidArgumentError(absl::StrCat(tf_conv1d_op::kForwardOpName, ": ", error));
    out_steps = c->MakeDim(g.out_steps);
  }
  ShapeHandle output = MakeActivationShape(c, attrs.geometry.layout, batch,
                                           out_steps, out_channels);
  c->set_output(0, output);
  c->set_output(1, conv1d::NeedsPreactivation(attrs.activation)
                       ? output
                       : c->MakeShape({c->MakeDim(0)}));
  return absl::OkStatus();
}

}  // namespace

REGISTER_OP(tf_conv1d_op::kForwardOpName)
    .Input("input: T")
    .Input("filter: T")
    .Input("bias: T")
    .Output("output: T")
    .Output("preactivation: T")
    .FUSED_CONV1D_ATTRS
    .SetShapeFn(ForwardShape)
    .Doc(ForwardDoc());

REGISTER_OP(tf_conv1d_op::kBackpropInputOpName)
    .Input("input_sizes: int64")
    .Input("filter: T")
    .Input("grad_output: T")
    .Input("activation_operand: T")
    .Output("grad_input: T")
    .FUSED_CONV1D_ATTRS
    .SetShapeFn([](InferenceContext* c) {
      ShapeHandle input;
      TF_RETURN_IF_ERROR(c->MakeShapeFromShapeTensor(0, &input));
      TF_RETURN_IF_ERROR(c->WithRank(input, 3, &input));
      c->set_output(0, input);
      return absl::OkStatus();
    })
    .Doc(R"doc(
Gradient of FusedConv1D with respect to its input. activation_operand is the
forward output, or its preactivation output where the activation needs it.
)doc");

REGISTER_OP(tf_conv1d_op::kBackpropFilterOpName)
    .Input("input: T")
    .Input("filter_sizes: int64")
    .Input("grad_output: T")
    .Input("activation_operand: T")
    .Output("grad_filter: T")
    .Output("grad_bias: T")
    .FUSED_CONV1D_ATTRS
    .SetShapeFn([](InferenceContext* c) {
      ShapeHandle filter;
      TF_RETURN_IF_ERROR(c->MakeShapeFromShapeTensor(1, &filter));
      TF_RETURN_IF_ERROR(c->WithRank(filter, 3, &filter));
      c->set_output(0, filter);
      c->set_output(1, c->Vector(c->Dim(filter, 2)));
      return absl::OkStatus();
    })
    .Doc(R"doc(
Gradients of FusedConv1D with respect to its filter and bias (grad_bias has
out_channels elements even when the forward op had no bias).
)doc");

}  // namespace tensorflow
