// The fused activations and their derivatives written in HLO, for the XLA
// kernels. Each mirrors conv1d::Activate / conv1d::ActivationDerivative
// (cc/kernels/core/activations.h) case by case, so that a jit-compiled model
// computes what the op's own kernels compute.
#ifndef TF_CONV1D_OP_KERNELS_XLA_ACTIVATION_HLO_H_
#define TF_CONV1D_OP_KERNELS_XLA_ACTIVATION_HLO_H_

#include "cc/kernels/core/activations.h"
#include "xla/hlo/builder/xla_builder.h"

namespace tf_conv1d_op {
namespace xla_lowering {

// activation(z), with z in the accumulator type (F32 or F64).
xla::XlaOp ActivateHlo(const conv1d::ActivationSpec& activation, xla::XlaOp z);

// grad * activation'(.), from `operand`: the pre-activation when
// conv1d::NeedsPreactivation(activation), otherwise the forward output. Both
// in the accumulator type.
xla::XlaOp BackpropActivationHlo(const conv1d::ActivationSpec& activation, xla::XlaOp grad,
                                 xla::XlaOp operand);

}  // namespace xla_lowering
}  // namespace tf_conv1d_op

#endif  // TF_CONV1D_OP_KERNELS_XLA_ACTIVATION_HLO_H_
