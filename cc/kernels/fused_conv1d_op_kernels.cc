#include "cc/kernels/fused_conv1d_op_kernels.h"

namespace tensorflow {
namespace fused_conv1d {

absl::Status OpAttrs::Parse(OpKernelConstruction* c) {
  std::string padding, data_format, activation_name;
  TF_RETURN_IF_ERROR(c->GetAttr("stride", &geometry.stride));
  TF_RETURN_IF_ERROR(c->GetAttr("dilation", &geometry.dilation));
  TF_RETURN_IF_ERROR(c->GetAttr("padding", &padding));
  TF_RETURN_IF_ERROR(c->GetAttr("data_format", &data_format));
  TF_RETURN_IF_ERROR(c->GetAttr("activation", &activation_name));
  TF_RETURN_IF_ERROR(c->GetAttr("negative_slope", &activation.negative_slope));
  activation.negative_slope = conv1d::CanonicalNegativeSlope(activation.negative_slope);
  if (!conv1d::ParsePadding(padding, &geometry.padding)) {
    return absl::InvalidArgumentError("FusedConv1D: unknown padding " + padding);
  }
  if (!conv1d::ParseLayout(data_format, &geometry.layout)) {
    return absl::InvalidArgumentError("FusedConv1D: unknown data_format " + data_format);
  }
  if (!conv1d::ParseActivation(activation_name, &activation.kind)) {
    return absl::InvalidArgumentError("FusedConv1D: unknown activation " + activation_name);
  }
  if (geometry.stride < 1 || geometry.dilation < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "FusedConv1D: stride and dilation must be >= 1, got stride ",
        geometry.stride, " and dilation ", geometry.dilation));
  }
  return absl::OkStatus();
}

absl::Status MakeGeometry(const OpAttrs& attrs, const TensorShape& input,
                          const TensorShape& filter, conv1d::Conv1DGeometry* g) {
  if (input.dims() != 3) {
    return absl::InvalidArgumentError(absl::StrCat(
        "FusedConv1D: input must be rank 3 [batch, steps, channels] or "
        "[batch, channels, steps], got shape ", input.DebugString()));
  }
  if (filter.dims() != 3) {
    return absl::InvalidArgumentError(absl::StrCat(
        "FusedConv1D: filter must be rank 3 [kernel_size, in_channels, "
        "out_channels], got shape ", filter.DebugString()));
  }
  *g = attrs.geometry;
  const bool nwc = g->layout == conv1d::Layout::kNWC;
  g->batch = input.dim_size(0);
  g->in_steps = input.dim_size(nwc ? 1 : 2);
  g->in_channels = input.dim_size(nwc ? 2 : 1);
  g->kernel_size = filter.dim_size(0);
  g->out_channels = filter.dim_size(2);
  if (filter.dim_size(1) != g->in_channels) {
    return absl::InvalidArgumentError(absl::StrCat(
        "FusedConv1D: input has ", g->in_channels, " channels but the filter "
        "expects ", filter.dim_size(1), " (filter shape ", filter.DebugString(), ")"));
  }
  const std::string error = conv1d::ResolveGeometry(g);
  if (!error.empty()) return absl::InvalidArgumentError("FusedConv1D: " + error);
  return absl::OkStatus();
}

absl::Status ShapeFromSizes(const Tensor& sizes, const char* what, TensorShape* out) {
  if (sizes.dims() != 1 || sizes.NumElements() != 3) {
    return absl::InvalidArgumentError(absl::StrCat(
        "FusedConv1D: ", what, " must be a vector of 3 sizes, got shape ",
        sizes.shape().DebugString()));
  }
  const auto v = sizes.vec<int64_t>();
  for (int i = 0; i < 3; ++i) {
    if (v(i) < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("FusedConv1D: ", what, " has a negative size ", v(i)));
    }
  }
  return TensorShape::BuildTensorShape({v(0), v(1), v(2)}, out);
}

TensorShape LayoutShape(const conv1d::Conv1DGeometry& g, int64_t steps,
                        int64_t channels) {
  return g.layout == conv1d::Layout::kNWC ? TensorShape({g.batch, steps, channels})
                                          : TensorShape({g.batch, channels, steps});
}

absl::Status CheckGradOutput(const conv1d::Conv1DGeometry& g,
                             const conv1d::ActivationSpec& activation,
                             const Tensor& grad_output, const Tensor& operand) {
  const TensorShape expected = LayoutShape(g, g.out_steps, g.out_channels);
  if (grad_output.shape() != expected) {
    return absl::InvalidArgumentError(absl::StrCat(
        "FusedConv1D gradient: grad_output must have the forward output's shape ",
        expected.DebugString(), ", got ", grad_output.shape().DebugString()));
  }
  if (operand.shape() != expected) {
    return absl::InvalidArgumentError(absl::StrCat(
        "FusedConv1D gradient: activation_operand must have shape ",
        expected.DebugString(), ", got ", operand.shape().DebugString(),
        conv1d::NeedsPreactivation(activation)
            ? " (this activation needs the forward op's preactivation output)"
            : ""));
  }
  return absl::OkStatus();
}

}  // namespace fused_conv1d
}  // namespace tensorflow
