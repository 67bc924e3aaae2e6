// The fused activations and their derivatives, for host and device code.
// Definitions follow keras.activations (Keras 3) with default arguments.
#ifndef TF_CONV1D_OP_CORE_ACTIVATIONS_H_
#define TF_CONV1D_OP_CORE_ACTIVATIONS_H_

#include <cmath>
#include <string>
#include <type_traits>

#include "cc/kernels/core/activation_table.h"

#if defined(__CUDACC__)
#define CONV1D_HD __host__ __device__ __forceinline__
#else
#define CONV1D_HD inline
#endif

namespace conv1d {

enum class Activation {
#define CONV1D_ACTIVATION_ENUMERATOR(kind, name, operand, in_registers) kind,
  CONV1D_ACTIVATIONS(CONV1D_ACTIVATION_ENUMERATOR)
#undef CONV1D_ACTIVATION_ENUMERATOR
};

// Every activation, in the table's order.
inline constexpr Activation kActivations[] = {
#define CONV1D_ACTIVATION_LIST(kind, name, operand, in_registers) Activation::kind,
    CONV1D_ACTIVATIONS(CONV1D_ACTIVATION_LIST)
#undef CONV1D_ACTIVATION_LIST
};

// What the backward pass reads to get activation'(z) (activation_table.h).
enum class Operand { kOutput, kPreactivation, kPreactivationIfNegativeSlope };

struct ActivationSpec {
  Activation kind = Activation::kLinear;
  float negative_slope = 0.2f;  // leaky_relu only
};

// The slope as the op attributes define it: subnormal slopes are zero. TF runs
// kernels with denormals flushed to zero, so the sign test of
// NeedsPreactivation on a subnormal slope would depend on the thread's FP mode
// (and the shape function, the kernel and the Python gradient disagree).
inline float CanonicalNegativeSlope(float slope) {
  return std::fabs(slope) < 1.17549435e-38f ? 0.0f : slope;  // FLT_MIN
}

// Parses the op attribute names ("linear", "relu", ...); false if unknown.
bool ParseActivation(const std::string& name, Activation* out);

// The attribute name of `kind`.
const char* ActivationName(Activation kind);

// The names ParseActivation accepts, comma-separated, for messages.
const char* ActivationNames();

CONV1D_HD Operand OperandOf(Activation kind) {
  switch (kind) {
#define CONV1D_ACTIVATION_OPERAND(kind, name, operand, in_registers) \
  case Activation::kind:                                            \
    return Operand::operand;
    CONV1D_ACTIVATIONS(CONV1D_ACTIVATION_OPERAND)
#undef CONV1D_ACTIVATION_OPERAND
  }
  return Operand::kOutput;
}

// The backward pass gets either the forward output y or the pre-activation z.
CONV1D_HD bool NeedsPreactivation(const ActivationSpec& a) {
  switch (OperandOf(a.kind)) {
    case Operand::kPreactivation:
      return true;
    case Operand::kPreactivationIfNegativeSlope:
      return a.negative_slope < 0.0f;
    default:
      return false;
  }
}

// Whether the GEMM applies `kind` to its accumulators (activation_table.h).
constexpr bool InRegisters(Activation kind) {
  switch (kind) {
#define CONV1D_ACTIVATION_IN_REGISTERS(kind, name, operand, in_registers) \
  case Activation::kind:                                                 \
    return in_registers;
    CONV1D_ACTIVATIONS(CONV1D_ACTIVATION_IN_REGISTERS)
#undef CONV1D_ACTIVATION_IN_REGISTERS
  }
  return false;
}

// The activation the GEMM applies for `kind`: itself where InRegisters,
// else none (the caller applies it to the finished tile).
constexpr Activation RegisterForm(Activation kind) {
  return InRegisters(kind) ? kind : Activation::kLinear;
}

template <Activation K>
using ActivationConstant = std::integral_constant<Activation, K>;

// The one place a runtime activation becomes a compile-time one (as
// flash-attention's static_switch.h does for its flags): calls
// f(ActivationConstant<RegisterForm(kind)>()), so that f is compiled once per
// in-register activation, with the formula's branches folded away.
template <typename F>
decltype(auto) WithRegisterForm(Activation kind, F&& f) {
  switch (kind) {
#define CONV1D_ACTIVATION_CALL(kind, name, operand, in_registers) \
  case Activation::kind:                                         \
    return f(ActivationConstant<RegisterForm(Activation::kind)>());
    CONV1D_ACTIVATIONS(CONV1D_ACTIVATION_CALL)
#undef CONV1D_ACTIVATION_CALL
  }
  return f(ActivationConstant<Activation::kLinear>());
}

// The same switch for device code, over every activation: calls
// f(ActivationConstant<kind>()). A kernel whose per-element loop runs inside
// f compiles one copy of the loop per activation, each with the formula's
// switch folded away, and runs only the copy asked for. (Activate inlined
// with its runtime switch for each element of an unrolled loop made the
// packed depthwise forward too large for the instruction cache: on an H200
// it reached 7% of the memory bandwidth and 19% of the SM throughput.)
template <typename F>
CONV1D_HD void WithActivation(Activation kind, F&& f) {
  switch (kind) {
#define CONV1D_ACTIVATION_VISIT(kind, name, operand, in_registers) \
  case Activation::kind:                                          \
    f(ActivationConstant<Activation::kind>());                    \
    return;
    CONV1D_ACTIVATIONS(CONV1D_ACTIVATION_VISIT)
#undef CONV1D_ACTIVATION_VISIT
  }
}

namespace detail {
// Explicit overloads so host and device code pick the right precision.
CONV1D_HD float Exp(float x) { return expf(x); }
CONV1D_HD double Exp(double x) { return exp(x); }
CONV1D_HD float Expm1(float x) { return expm1f(x); }
CONV1D_HD double Expm1(double x) { return expm1(x); }
CONV1D_HD float Log1p(float x) { return log1pf(x); }
CONV1D_HD double Log1p(double x) { return log1p(x); }
CONV1D_HD float Erfc(float x) { return erfcf(x); }
CONV1D_HD double Erfc(double x) { return erfc(x); }
CONV1D_HD float Tanh(float x) { return tanhf(x); }
CONV1D_HD double Tanh(double x) { return tanh(x); }

template <typename A>
CONV1D_HD A Sigmoid(A x) {
  // Stable on both tails: 1 / (1 + e^-x) for x >= 0, e^x / (1 + e^x) below,
  // from one exponential of -|x| and without a branch, so the lanes of a GPU
  // warp whose signs differ do not run both sides.
  const A e = Exp(x >= A(0) ? -x : x);
  return (x >= A(0) ? A(1) : e) / (A(1) + e);
}

constexpr double kSeluAlpha = 1.6732632423543772848170429916717;
constexpr double kSeluScale = 1.0507009873554804934193349852946;
constexpr double kSqrtHalf = 0.70710678118654752440084436210485;
constexpr double kInvSqrt2Pi = 0.39894228040143267793994605993438;
constexpr double kSqrt2OverPi = 0.79788456080286535587989211986876;
constexpr double kGeluCubic = 0.044715;
}  // namespace detail

// y = activation(z), computed in the accumulator type A (float or double).
template <typename A>
CONV1D_HD A Activate(const ActivationSpec& a, A z) {
  using namespace detail;
  switch (a.kind) {
    case Activation::kLinear:
      return z;
    // Clamps are written so that NaN falls through unchanged, as in TF.
    case Activation::kRelu:
      return z < A(0) ? A(0) : z;
    case Activation::kRelu6:
      return z < A(0) ? A(0) : (z > A(6) ? A(6) : z);
    case Activation::kLeakyRelu:
      return z > A(0) ? z : A(a.negative_slope) * z;
    case Activation::kElu:
      return z > A(0) ? z : Expm1(z);
    case Activation::kSelu:
      return A(kSeluScale) * (z > A(0) ? z : A(kSeluAlpha) * Expm1(z));
    // The gelus as 1 + erf(u) = erfc(-u) and 1 + tanh(u) = 2 sigmoid(2u): the
    // same functions, without the cancellation that loses all relative
    // accuracy in the negative tail.
    case Activation::kGelu:
      return A(0.5) * z * Erfc(-z * A(kSqrtHalf));
    case Activation::kGeluTanh: {
      const A inner = A(kSqrt2OverPi) * (z + A(kGeluCubic) * z * z * z);
      return z * Sigmoid(A(2) * inner);
    }
    case Activation::kSilu:
      return z * Sigmoid(z);
    case Activation::kSigmoid:
      return Sigmoid(z);
    case Activation::kHardSigmoid: {
      const A t = z + A(3);
      return (t < A(0) ? A(0) : (t > A(6) ? A(6) : t)) / A(6);
    }
    case Activation::kTanh:
      return Tanh(z);
    case Activation::kSoftplus:
      // max(z, 0) + log1p(exp(-|z|)): no overflow for large |z|.
      return (z > A(0) ? z : A(0)) + Log1p(Exp(z > A(0) ? -z : z));
  }
  return z;
}

// d activation / dz, given `operand`: the pre-activation z when
// NeedsPreactivation(a), otherwise the output y. Subgradients at kinks, and
// the result for a NaN operand, match TF's own gradient kernels (ReluGrad,
// Relu6Grad, EluGrad, SeluGrad: they test y < 0 for elu and selu).
template <typename A>
CONV1D_HD A ActivationDerivative(const ActivationSpec& a, A operand) {
  using namespace detail;
  const A y = operand;
  switch (a.kind) {
    case Activation::kLinear:
      return A(1);
    case Activation::kRelu:
      return y > A(0) ? A(1) : A(0);
    case Activation::kRelu6:
      return (y > A(0) && y < A(6)) ? A(1) : A(0);
    case Activation::kLeakyRelu:  // z itself when the slope is negative
      return y > A(0) ? A(1) : A(a.negative_slope);
    case Activation::kElu:
      return y < A(0) ? y + A(1) : A(1);
    case Activation::kSelu:
      return y < A(0) ? y + A(kSeluScale * kSeluAlpha) : A(kSeluScale);
    case Activation::kGelu: {
      const A z = operand;
      return A(0.5) * Erfc(-z * A(kSqrtHalf)) +
             z * A(kInvSqrt2Pi) * Exp(A(-0.5) * z * z);
    }
    case Activation::kGeluTanh: {
      // With t = tanh(u): (1 + t) / 2 = sigmoid(2u), (1 - t^2) / 2 =
      // 2 sigmoid(2u) sigmoid(-2u).
      const A z = operand;
      const A z2 = z * z;
      const A u = A(kSqrt2OverPi) * (z + A(kGeluCubic) * z2 * z);
      const A s = Sigmoid(A(2) * u);
      return s + A(2) * z * s * Sigmoid(A(-2) * u) * A(kSqrt2OverPi) *
                     (A(1) + A(3 * kGeluCubic) * z2);
    }
    case Activation::kSilu: {
      const A z = operand;
      const A s = Sigmoid(z);
      return s * (A(1) + z * (A(1) - s));
    }
    case Activation::kSigmoid:
      return y * (A(1) - y);
    case Activation::kHardSigmoid:
      return (y > A(0) && y < A(1)) ? A(1.0 / 6.0) : A(0);
    case Activation::kTanh:
      return A(1) - y * y;
    case Activation::kSoftplus:
      // sigmoid(z) = 1 - exp(-y), accurate on both tails via expm1.
      return -Expm1(-y);
  }
  return A(1);
}

}  // namespace conv1d

#endif  // TF_CONV1D_OP_CORE_ACTIVATIONS_H_
