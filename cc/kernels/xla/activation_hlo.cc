#include "cc/kernels/xla/activation_hlo.h"

#include "xla/hlo/builder/lib/constants.h"
#include "xla/hlo/builder/lib/math.h"

namespace tf_conv1d_op {
namespace xla_lowering {
namespace {

using conv1d::Activation;
using xla::XlaOp;

// A scalar of x's element type; binary ops broadcast it.
XlaOp K(XlaOp x, double value) { return xla::ScalarLike(x, value); }

// x's shape filled with `value`: Select needs full-shaped branches.
XlaOp Full(XlaOp x, double value) { return xla::FullLike(x, value); }

// Clamps written as in activations.h, so that NaN falls through unchanged.
XlaOp ClampNanPassing(XlaOp x, double low, double high) {
  XlaOp upper = xla::Select(xla::Gt(x, K(x, high)), Full(x, high), x);
  return xla::Select(xla::Lt(x, K(x, low)), Full(x, low), upper);
}

// 1 where low < y < high, else 0.
XlaOp Inside(XlaOp y, double low, double high) {
  return xla::Select(xla::And(xla::Gt(y, K(y, low)), xla::Lt(y, K(y, high))), Full(y, 1),
                     Full(y, 0));
}

XlaOp Derivative(const conv1d::ActivationSpec& a, XlaOp operand) {
  using namespace conv1d::detail;
  const XlaOp y = operand;
  const XlaOp z = operand;
  switch (a.kind) {
    case Activation::kLinear:
      return Full(y, 1);
    case Activation::kRelu:
      return xla::Select(xla::Gt(y, K(y, 0)), Full(y, 1), Full(y, 0));
    case Activation::kRelu6:
      return Inside(y, 0, 6);
    case Activation::kLeakyRelu:
      return xla::Select(xla::Gt(y, K(y, 0)), Full(y, 1), Full(y, a.negative_slope));
    case Activation::kElu:
      return xla::Select(xla::Lt(y, K(y, 0)), y + K(y, 1), Full(y, 1));
    case Activation::kSelu:
      return xla::Select(xla::Lt(y, K(y, 0)), y + K(y, kSeluScale * kSeluAlpha),
                         Full(y, kSeluScale));
    case Activation::kGelu:
      return K(z, 0.5) * xla::Erfc(-z * K(z, kSqrtHalf)) +
             z * K(z, kInvSqrt2Pi) * xla::Exp(K(z, -0.5) * z * z);
    case Activation::kGeluTanh: {
      const XlaOp z2 = z * z;
      const XlaOp u = K(z, kSqrt2OverPi) * (z + K(z, kGeluCubic) * z2 * z);
      const XlaOp s = xla::Logistic(K(z, 2) * u);
      return s + K(z, 2) * z * s * xla::Logistic(K(z, -2) * u) * K(z, kSqrt2OverPi) *
                     (K(z, 1) + K(z, 3 * kGeluCubic) * z2);
    }
    case Activation::kSilu: {
      const XlaOp s = xla::Logistic(z);
      return s * (K(z, 1) + z * (K(z, 1) - s));
    }
    case Activation::kSigmoid:
      return y * (K(y, 1) - y);
    case Activation::kHardSigmoid:
      return xla::Select(xla::And(xla::Gt(y, K(y, 0)), xla::Lt(y, K(y, 1))),
                         Full(y, 1.0 / 6.0), Full(y, 0));
    case Activation::kTanh:
      return K(y, 1) - y * y;
    case Activation::kSoftplus:
      return -xla::Expm1(-y);
  }
  return Full(y, 1);
}

}  // namespace

XlaOp ActivateHlo(const conv1d::ActivationSpec& a, XlaOp z) {
  using namespace conv1d::detail;
  switch (a.kind) {
    case Activation::kLinear:
      return z;
    case Activation::kRelu:
      return xla::Select(xla::Lt(z, K(z, 0)), Full(z, 0), z);
    case Activation::kRelu6:
      return ClampNanPassing(z, 0, 6);
    case Activation::kLeakyRelu:
      return xla::Select(xla::Gt(z, K(z, 0)), z, K(z, a.negative_slope) * z);
    case Activation::kElu:
      return xla::Select(xla::Gt(z, K(z, 0)), z, xla::Expm1(z));
    case Activation::kSelu:
      return K(z, kSeluScale) *
             xla::Select(xla::Gt(z, K(z, 0)), z, K(z, kSeluAlpha) * xla::Expm1(z));
    // As in activations.h: erfc and the logistic avoid the cancellation of
    // 1 + erf(u) and 1 + tanh(u) in the negative tail.
    case Activation::kGelu:
      return K(z, 0.5) * z * xla::Erfc(-z * K(z, kSqrtHalf));
    case Activation::kGeluTanh: {
      const XlaOp inner = K(z, kSqrt2OverPi) * (z + K(z, kGeluCubic) * z * z * z);
      return z * xla::Logistic(K(z, 2) * inner);
    }
    case Activation::kSilu:
      return z * xla::Logistic(z);
    case Activation::kSigmoid:
      return xla::Logistic(z);
    case Activation::kHardSigmoid:
      return ClampNanPassing(z + K(z, 3), 0, 6) / K(z, 6);
    case Activation::kTanh:
      return xla::Tanh(z);
    case Activation::kSoftplus: {
      const XlaOp positive = xla::Gt(z, K(z, 0));
      return xla::Select(positive, z, Full(z, 0)) +
             xla::Log1p(xla::Exp(xla::Select(positive, -z, z)));
    }
  }
  return z;
}

XlaOp BackpropActivationHlo(const conv1d::ActivationSpec& a, XlaOp grad, XlaOp operand) {
  // The product is formed even where the derivative is 0 or 1, as the kernels
  // do, so that a non-finite gradient propagates the same way.
  return grad * Derivative(a, operand);
}

}  // namespace xla_lowering
}  // namespace tf_conv1d_op
