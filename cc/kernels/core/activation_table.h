// Every activation the op fuses, one row each. The enum, the names the op's
// `activation` attribute accepts, which operand the gradient reads and the
// compile-time dispatch (activations.h) are generated from this list; the
// formulas themselves are Activate and ActivationDerivative in activations.h.
//
//   X(Enumerator, "attribute name", Operand, in registers)
//
// Operand: what the backward pass reads to get activation'(z):
//   kOutput         y, where the derivative is a function of y;
//   kPreactivation  z, where it is not (y does not determine z);
//   kPreactivationIfNegativeSlope  z when negative_slope < 0 (not monotone),
//                   else y.
// In registers: a clamp cheap enough for the GEMM to apply to its
// accumulators (gemm_kernel.cc's ApplyFused and the Winograd output
// transform); the others are applied to a finished tile.
#ifndef TF_CONV1D_OP_CORE_ACTIVATION_TABLE_H_
#define TF_CONV1D_OP_CORE_ACTIVATION_TABLE_H_

#define CONV1D_ACTIVATIONS(X)                                             \
  X(kLinear, "linear", kOutput, true)                                     \
  X(kRelu, "relu", kOutput, true)                                         \
  X(kRelu6, "relu6", kOutput, true)                                       \
  X(kLeakyRelu, "leaky_relu", kPreactivationIfNegativeSlope, true)        \
  X(kElu, "elu", kOutput, false)                                          \
  X(kSelu, "selu", kOutput, false)                                        \
  X(kGelu, "gelu", kPreactivation, false)          /* exact, with erf */  \
  X(kGeluTanh, "gelu_tanh", kPreactivation, false) /* tanh form */        \
  X(kSilu, "silu", kPreactivation, false)                                 \
  X(kSigmoid, "sigmoid", kOutput, false)                                  \
  X(kHardSigmoid, "hard_sigmoid", kOutput, false)  /* relu6(x + 3) / 6 */ \
  X(kTanh, "tanh", kOutput, false)                                        \
  X(kSoftplus, "softplus", kOutput, false)

#endif  // TF_CONV1D_OP_CORE_ACTIVATION_TABLE_H_
