#include "cc/kernels/fused_conv1d_op_kernels.h"

namespace tensorflow {
namespace fused_conv1d {
namespace {

std::string SizesString(const int64_t* v, int n) {
  std::string out = "[";
  for (int i = 0; i < n; ++i) absl::StrAppend(&out, i ? ", " : "", v[i]);
  return out + "]";
}

}  // namespace

absl::Status MakeGeometry(const std::string& op, const OpAttrs& attrs,
                          const TensorShape& input, const TensorShape& filter,
                          conv1d::Conv1DGeometry* g) {
  if (input.dims() != 3) {
    return absl::InvalidArgumentError(absl::StrCat(
        op, ": input must be rank 3 [batch, steps, channels] or "
        "[batch, channels, steps], got shape ", input.DebugString()));
  }
  if (filter.dims() != 3) {
    return absl::InvalidArgumentError(absl::StrCat(
        op, ": filter must be rank 3 [kernel_size, in_channels, "
        "out_channels], got shape ", filter.DebugString()));
  }
  *g = attrs.geometry;
  const bool nwc = g->layout == conv1d::Layout::kNWC;
  g->batch = input.dim_size(0);
  g->in_steps = input.dim_size(nwc ? 1 : 2);
  g->in_channels = input.dim_size(nwc ? 2 : 1);
  g->kernel_size = filter.dim_size(0);
  g->out_channels = filter.dim_size(2);
  if (g->groups != 1) {
    // Divisibility first (ResolveGeometry words it), then the filter's width.
    if (g->in_channels % g->groups == 0 && g->out_channels % g->groups == 0 &&
        filter.dim_size(1) != g->in_channels / g->groups) {
      return absl::InvalidArgumentError(absl::StrCat(
          op, ": with groups ", g->groups, " the filter must have in_channels / groups = ",
          g->in_channels / g->groups, " in dimension 1, got filter shape ",
          filter.DebugString(), " (input shape ", input.DebugString(), ")"));
    }
  } else if (filter.dim_size(1) != g->in_channels) {
    return absl::InvalidArgumentError(absl::StrCat(
        op, ": input has ", g->in_channels, " channels but the filter "
        "expects ", filter.dim_size(1), " (input shape ", input.DebugString(),
        ", filter shape ", filter.DebugString(), ")"));
  }
  const std::string error = conv1d::ResolveGeometry(g);
  if (!error.empty()) return absl::InvalidArgumentError(absl::StrCat(op, ": ", error));
  return absl::OkStatus();
}

absl::Status ShapeFromSizes(const std::string& op, const Tensor& sizes, const char* what,
                            TensorShape* out) {
  if (sizes.dims() != 1 || sizes.NumElements() != 3) {
    return absl::InvalidArgumentError(absl::StrCat(
        op, ": ", what, " must be a vector of 3 sizes, got shape ",
        sizes.shape().DebugString()));
  }
  const auto v = sizes.vec<int64_t>();
  const int64_t values[3] = {v(0), v(1), v(2)};
  for (int i = 0; i < 3; ++i) {
    if (values[i] < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          op, ": ", what, " must hold sizes >= 0, got ", what, "[", i, "] = ", values[i],
          " in ", SizesString(values, 3)));
    }
  }
  // Checked here, in every order, so that TensorFlow's own message (which
  // names neither the op nor the argument) is never the one seen.
  if (!conv1d::AllProductsFit(values[0], values[1], values[2])) {
    return absl::InvalidArgumentError(absl::StrCat(
        op, ": ", what, " must describe a shape whose dimensions multiply to at most "
        "2^63 - 1, got ", SizesString(values, 3)));
  }
  const absl::Status status = TensorShape::BuildTensorShape({values[0], values[1], values[2]}, out);
  if (!status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        op, ": ", what, " ", SizesString(values, 3), " is not a valid shape: ",
        status.message()));
  }
  return absl::OkStatus();
}

absl::Status LayoutShape(const conv1d::Conv1DGeometry& g, int64_t steps, int64_t channels,
                         TensorShape* out) {
  const bool nwc = g.layout == conv1d::Layout::kNWC;
  return TensorShape::BuildTensorShape(
      {g.batch, nwc ? steps : channels, nwc ? channels : steps}, out);
}

absl::Status CheckBias(const std::string& op, const conv1d::Conv1DGeometry& g,
                       const TensorShape& bias) {
  if (bias.dims() == 1 && (bias.dim_size(0) == 0 || bias.dim_size(0) == g.out_channels)) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat(
      op, ": bias must be a vector of length ", g.out_channels,
      " (the number of filters) or 0 (no bias), got shape ", bias.DebugString()));
}

absl::Status CheckGradOutput(const std::string& op, const conv1d::Conv1DGeometry& g,
                             const conv1d::ActivationSpec& activation,
                             const TensorShape& grad_output, const TensorShape& operand) {
  TensorShape expected;
  TF_RETURN_IF_ERROR(LayoutShape(g, g.out_steps, g.out_channels, &expected));
  if (grad_output != expected) {
    return absl::InvalidArgumentError(absl::StrCat(
        op, ": grad_output must have the forward output's shape ",
        expected.DebugString(), ", got ", grad_output.DebugString()));
  }
  if (operand != expected) {
    return absl::InvalidArgumentError(absl::StrCat(
        op, ": activation_operand must have shape ",
        expected.DebugString(), ", got ", operand.DebugString(),
        conv1d::NeedsPreactivation(activation)
            ? " (this activation needs the forward op's preactivation output)"
            : ""));
  }
  return absl::OkStatus();
}

}  // namespace fused_conv1d
}  // namespace tensorflow
