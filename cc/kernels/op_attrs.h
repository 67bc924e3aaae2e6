// The attributes the three ops share (FUSED_CONV1D_ATTRS in
// cc/ops/fused_conv1d_ops.cc), read and checked in one place for the shape
// function and the kernels.
#ifndef TF_CONV1D_OP_KERNELS_OP_ATTRS_H_
#define TF_CONV1D_OP_KERNELS_OP_ATTRS_H_

#include <cstdint>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "cc/kernels/core/activations.h"
#include "cc/kernels/core/conv1d_geometry.h"
#include "tensorflow/core/framework/op_kernel.h"

namespace tensorflow {
namespace fused_conv1d {

// An attribute string as it can be printed: an edited GraphDef may hold any
// bytes, and a message that is not UTF-8 cannot become a Python exception.
inline std::string Quoted(const std::string& value) {
  return "\"" + absl::CHexEscape(value) + "\"";
}

struct OpAttrs {
  conv1d::Conv1DGeometry geometry;  // stride, dilation, padding, layout set
  conv1d::ActivationSpec activation;

  // `c` is anything with TensorFlow's GetAttr(name, &value): the shape
  // function's InferenceContext or a kernel's OpKernelConstruction. Messages
  // start with `op`.
  template <typename Context>
  absl::Status Parse(Context* c, const std::string& op);

  absl::Status Parse(OpKernelConstruction* c) { return Parse(c, c->def().op()); }
};

template <typename Context>
absl::Status OpAttrs::Parse(Context* c, const std::string& op) {
  std::string padding, data_format, activation_name;
  TF_RETURN_IF_ERROR(c->GetAttr("stride", &geometry.stride));
  TF_RETURN_IF_ERROR(c->GetAttr("dilation", &geometry.dilation));
  TF_RETURN_IF_ERROR(c->GetAttr("groups", &geometry.groups));
  TF_RETURN_IF_ERROR(c->GetAttr("padding", &padding));
  TF_RETURN_IF_ERROR(c->GetAttr("data_format", &data_format));
  TF_RETURN_IF_ERROR(c->GetAttr("activation", &activation_name));
  TF_RETURN_IF_ERROR(c->GetAttr("negative_slope", &activation.negative_slope));
  activation.negative_slope = conv1d::CanonicalNegativeSlope(activation.negative_slope);
  if (!conv1d::ParsePadding(padding, &geometry.padding)) {
    return absl::InvalidArgumentError(absl::StrCat(
        op, ": attribute padding must be one of VALID, SAME, CAUSAL, got ", Quoted(padding)));
  }
  if (!conv1d::ParseLayout(data_format, &geometry.layout)) {
    return absl::InvalidArgumentError(absl::StrCat(
        op, ": attribute data_format must be NWC or NCW, got ", Quoted(data_format)));
  }
  if (!conv1d::ParseActivation(activation_name, &activation.kind)) {
    return absl::InvalidArgumentError(absl::StrCat(
        op, ": attribute activation must be one of ", conv1d::ActivationNames(), ", got ",
        Quoted(activation_name)));
  }
  // The generated Python op truncates a float attribute (0.5 becomes 0):
  // say so, since the value printed is not the one the caller wrote.
  for (const auto& [name, value] : {std::pair<const char*, int64_t>{"stride", geometry.stride},
                                    {"dilation", geometry.dilation},
                                    {"groups", geometry.groups}}) {
    if (value < 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          op, ": attribute ", name, " must be an integer >= 1, got ", value,
          " (stride ", geometry.stride, ", dilation ", geometry.dilation, ", groups ",
          geometry.groups,
          "; the generated op truncates non-integers, tf_conv1d_op.fused_conv1d refuses "
          "them)"));
    }
  }
  return absl::OkStatus();
}

}  // namespace fused_conv1d
}  // namespace tensorflow

#endif  // TF_CONV1D_OP_KERNELS_OP_ATTRS_H_
