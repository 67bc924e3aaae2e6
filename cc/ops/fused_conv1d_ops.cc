// Op definitions and shape functions of the fused 1D convolution.
#include <string>
#include <vector>

#include "cc/kernels/core/activations.h"
#include "cc/kernels/core/conv1d_geometry.h"
#include "cc/kernels/core/conv1d_stream.h"
#include "cc/kernels/core/dtypes.h"
#include "cc/kernels/fused_conv1d_op_kernels.h"
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
#define FUSED_CONV1D_ATTRS_BEFORE_PADDING                                    \
  Attr(TypeAttr())                                                           \
      .Attr("stride: int = 1")                                               \
      .Attr("dilation: int = 1")
#define FUSED_CONV1D_ATTRS_AFTER_PADDING                                     \
  Attr("data_format: string = 'NWC'")                                        \
      .Attr("activation: string = 'linear'")                                 \
      .Attr("negative_slope: float = 0.2")
#define FUSED_CONV1D_ATTRS                                                   \
  FUSED_CONV1D_ATTRS_BEFORE_PADDING.Attr("groups: int = 1")                  \
      .Attr("padding: string")                                               \
      .FUSED_CONV1D_ATTRS_AFTER_PADDING
// The streaming op's convolution of concat(state, chunk) is always VALID,
// and dense (a grouped layer streams through the convolution ops).
#define FUSED_CONV1D_STREAM_ATTRS \
  FUSED_CONV1D_ATTRS_BEFORE_PADDING.FUSED_CONV1D_ATTRS_AFTER_PADDING

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

// The streaming op: output as the forward op's, new_state as the state.
absl::Status StreamShape(InferenceContext* c) {
  tensorflow::fused_conv1d::OpAttrs attrs;
  TF_RETURN_IF_ERROR(attrs.Parse(c, tf_conv1d_op::kStreamOpName, /*has_padding=*/false));
  const bool nwc = attrs.geometry.layout == conv1d::Layout::kNWC;
  const int steps_axis = nwc ? 1 : 2, channels_axis = nwc ? 2 : 1;
  // Known shapes get the kernel's own checks, and so its messages.
  TensorShape known[4];
  bool all_known = true;
  for (int i = 0; i < 4 && all_known; ++i) {
    const ShapeHandle h = c->input(i);
    all_known = c->FullyDefined(h);
    std::vector<int64_t> dims;
    for (int d = 0; all_known && d < c->Rank(h); ++d) dims.push_back(c->Value(c->Dim(h, d)));
    all_known = all_known && TensorShape::BuildTensorShape(dims, &known[i]).ok();
  }
  if (all_known) {
    conv1d::StreamGeometry s;
    TF_RETURN_IF_ERROR(tensorflow::fused_conv1d::MakeStreamGeometry(
        tf_conv1d_op::kStreamOpName, attrs, known[0], known[1], known[2], &s));
    TF_RETURN_IF_ERROR(
        tensorflow::fused_conv1d::CheckBias(tf_conv1d_op::kStreamOpName, s.conv, known[3]));
  }
  ShapeHandle state, chunk, filter, bias;
  TF_RETURN_IF_ERROR(c->WithRank(c->input(0), 3, &state));
  TF_RETURN_IF_ERROR(c->WithRank(c->input(1), 3, &chunk));
  TF_RETURN_IF_ERROR(c->WithRank(c->input(2), 3, &filter));
  TF_RETURN_IF_ERROR(c->WithRank(c->input(3), 1, &bias));
  DimensionHandle batch, channels;
  TF_RETURN_IF_ERROR(c->Merge(c->Dim(state, 0), c->Dim(chunk, 0), &batch));
  TF_RETURN_IF_ERROR(
      c->Merge(c->Dim(state, channels_axis), c->Dim(chunk, channels_axis), &channels));
  TF_RETURN_IF_ERROR(c->Merge(channels, c->Dim(filter, 1), &channels));
  DimensionHandle out_channels = c->Dim(filter, 2);
  if (c->ValueKnown(c->Dim(bias, 0)) && c->Value(c->Dim(bias, 0)) != 0) {
    TF_RETURN_IF_ERROR(c->Merge(out_channels, c->Dim(bias, 0), &out_channels));
  }
  const DimensionHandle state_steps = c->Dim(state, steps_axis);
  const DimensionHandle chunk_steps = c->Dim(chunk, steps_axis);
  const DimensionHandle kernel_size = c->Dim(filter, 0);
  DimensionHandle out_steps = c->UnknownDim();
  if (c->ValueKnown(state_steps) && c->ValueKnown(chunk_steps) && c->ValueKnown(kernel_size)) {
    conv1d::StreamGeometry s;
    s.conv = attrs.geometry;
    // Unknown sizes take values the kernel's checks cannot refuse.
    const std::string error = conv1d::ResolveStreamGeometry(
        c->ValueKnown(batch) ? c->Value(batch) : 0, c->Value(state_steps),
        c->Value(chunk_steps), c->ValueKnown(channels) ? c->Value(channels) : 0,
        c->Value(kernel_size), c->ValueKnown(out_channels) ? c->Value(out_channels) : 1, &s);
    if (!error.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(tf_conv1d_op::kStreamOpName, ": ", error));
    }
    out_steps = c->MakeDim(s.conv.out_steps);
  }
  c->set_output(0, MakeActivationShape(c, attrs.geometry.layout, batch, out_steps, out_channels));
  c->set_output(1, MakeActivationShape(c, attrs.geometry.layout, batch, state_steps, channels));
  return absl::OkStatus();
}

// The shape a sizes input (input_sizes, filter_sizes) names, its known
// entries taken; refused with the kernel's message, naming the op and the
// argument, where it is not a vector of 3 or, its value known when the graph
// is built (a constant), where the kernel would refuse it (sizes whose
// product overflows). (A negative constant size is refused before this runs,
// by TensorFlow's evaluation of the constant as a shape, as for its own
// convolutions.)
absl::Status SizesShape(InferenceContext* c, int index, const char* op, const char* what,
                        ShapeHandle* out) {
  if (const Tensor* sizes = c->input_tensor(index)) {
    TensorShape shape;
    TF_RETURN_IF_ERROR(tensorflow::fused_conv1d::ShapeFromSizes(op, *sizes, what, &shape));
    return c->MakeShapeFromTensorShape(shape, out);
  }
  ShapeHandle vector;
  const absl::Status is_vector = c->WithRank(c->input(index), 1, &vector);
  const DimensionHandle length = is_vector.ok() ? c->Dim(vector, 0) : c->UnknownDim();
  if (!is_vector.ok() || (c->ValueKnown(length) && c->Value(length) != 3)) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": ", what,
                                                   " must be a vector of 3 sizes, got shape ",
                                                   c->DebugString(c->input(index))));
  }
  TF_RETURN_IF_ERROR(c->MakeShapeFromShapeTensor(index, out));
  return c->WithRank(*out, 3, out);
}

}  // namespace

REGISTER_OP(tf_conv1d_op::kStreamOpName)
    .Input("state: T")
    .Input("chunk: T")
    .Input("filter: T")
    .Input("bias: T")
    .Output("output: T")
    .Output("new_state: T")
    .FUSED_CONV1D_STREAM_ATTRS
    .SetShapeFn(StreamShape)
    .Doc(R"doc(
One chunk of a causal convolution run on a stream, without building
concat(state, chunk): output = activation(conv1d(concat(state, chunk), filter)
+ bias) with VALID padding, and new_state = the last (kernel_size - 1) *
dilation steps of concat(state, chunk).

state: [batch, (kernel_size - 1) * dilation, in_channels] (NWC) or NCW.
chunk: [batch, steps, in_channels] (NWC) or NCW; steps >= 1, a multiple of the stride.
filter: [kernel_size, in_channels, out_channels]. bias: [out_channels] or [0].
output: [batch, steps / stride, out_channels] (NWC) or NCW.
new_state: the state for the next chunk, the shape of state.
)doc");

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
      TF_RETURN_IF_ERROR(
          SizesShape(c, 0, tf_conv1d_op::kBackpropInputOpName, "input_sizes", &input));
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
      TF_RETURN_IF_ERROR(
          SizesShape(c, 1, tf_conv1d_op::kBackpropFilterOpName, "filter_sizes", &filter));
      c->set_output(0, filter);
      c->set_output(1, c->Vector(c->Dim(filter, 2)));
      return absl::OkStatus();
    })
    .Doc(R"doc(
Gradients of FusedConv1D with respect to its filter and bias (grad_bias has
out_channels elements even when the forward op had no bias).
)doc");

}  // namespace tensorflow
