"""The fused activations' first and second derivatives as TF elementwise ops.

The backward kernels take an "operand": the forward output y, or the
pre-activation z where y does not determine the derivative
(activations.needs_preactivation). Both functions here are written in that
same variable, so that they compose with the kernels:

  first(o)  = act'(z)             as cc/kernels/core/activations.h computes it
  second(o) = d first(o) / d o    (act''(z) when o = z; act''(z) / act'(z) when
                                   o = y, since dy/dz = act'(z))

second() returns None where it is zero almost everywhere (the piecewise-linear
activations), which the gradients read as "no gradient". Both are plain TF
ops, so they are differentiable again (third and higher orders).

half and bfloat16 operands are evaluated in float32, as the kernels do.
"""
import tensorflow as tf

from tf_conv1d_op.activations import kernel_slope, needs_preactivation

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946
_SQRT_HALF = 0.70710678118654752440084436210485
_INV_SQRT_2PI = 0.39894228040143267793994605993438
_SQRT_2_OVER_PI = 0.79788456080286535587989211986876
_GELU_CUBIC = 0.044715

# Activations whose derivative is piecewise constant: second() is None.
_PIECEWISE_LINEAR = ("linear", "relu", "relu6", "leaky_relu", "hard_sigmoid")


def compute_dtype(dtype):
    """The dtype the elementwise math runs in for tensors of `dtype`."""
    dtype = tf.as_dtype(dtype)
    return tf.float32 if dtype in (tf.float16, tf.bfloat16) else dtype


def operand_is_preactivation(activation, negative_slope):
    return needs_preactivation(activation, negative_slope)


def _where(condition, a, b, like):
    """a where condition holds, else b: constants, in like's dtype and shape."""
    return tf.where(condition, tf.constant(a, like.dtype), tf.constant(b, like.dtype))


def first(activation, negative_slope, operand):
    """act'(z) from the operand, in the operand's (compute) dtype."""
    o = operand
    if activation == "linear":
        return tf.ones_like(o)
    if activation == "relu":
        return _where(o > 0, 1.0, 0.0, o)
    if activation == "relu6":
        return _where(tf.logical_and(o > 0, o < 6), 1.0, 0.0, o)
    if activation == "leaky_relu":
        return _where(o > 0, 1.0, kernel_slope(negative_slope), o)
    if activation == "elu":
        return tf.where(o < 0, o + 1, tf.constant(1, o.dtype))
    if activation == "selu":
        return tf.where(o < 0, o + _SELU_SCALE * _SELU_ALPHA,
                        tf.constant(_SELU_SCALE, o.dtype))
    if activation == "gelu":
        return (0.5 * tf.math.erfc(-o * _SQRT_HALF) +
                o * _INV_SQRT_2PI * tf.exp(-0.5 * o * o))
    if activation == "gelu_tanh":
        u = _SQRT_2_OVER_PI * (o + _GELU_CUBIC * o * o * o)
        s, q = tf.sigmoid(2 * u), tf.sigmoid(-2 * u)
        return s + 2 * o * s * q * _SQRT_2_OVER_PI * (1 + 3 * _GELU_CUBIC * o * o)
    if activation == "silu":
        s = tf.sigmoid(o)
        return s * (1 + o * (1 - s))
    if activation == "sigmoid":
        return o * (1 - o)
    if activation == "hard_sigmoid":
        return _where(tf.logical_and(o > 0, o < 1), 1.0 / 6.0, 0.0, o)
    if activation == "tanh":
        return 1 - o * o
    if activation == "softplus":
        return -tf.math.expm1(-o)  # sigmoid(z) = 1 - exp(-y)
    raise ValueError(f"unknown activation {activation!r}")


def second(activation, negative_slope, operand):
    """d first(operand) / d operand, or None where it is 0 almost everywhere."""
    del negative_slope  # leaky_relu is piecewise linear for every slope
    o = operand
    if activation in _PIECEWISE_LINEAR:
        return None
    if activation in ("elu", "selu"):  # first = o + const below zero
        return _where(o < 0, 1.0, 0.0, o)
    if activation == "gelu":  # phi(z) (2 - z^2)
        return _INV_SQRT_2PI * tf.exp(-0.5 * o * o) * (2 - o * o)
    if activation == "gelu_tanh":
        # first = s + z s' with s = sigmoid(2u), s' = 2 s (1 - s) u', so
        # first' = 2 s' + z s'', s'' = 2 s' (1 - 2 s) u' + 2 s (1 - s) u''.
        u = _SQRT_2_OVER_PI * (o + _GELU_CUBIC * o * o * o)
        du = _SQRT_2_OVER_PI * (1 + 3 * _GELU_CUBIC * o * o)
        ddu = _SQRT_2_OVER_PI * 6 * _GELU_CUBIC * o
        s, q = tf.sigmoid(2 * u), tf.sigmoid(-2 * u)
        ds = 2 * s * q * du
        dds = 2 * ds * (q - s) * du + 2 * s * q * ddu
        return 2 * ds + o * dds
    if activation == "silu":  # s (1 - s) (2 + z (1 - 2 s))
        s, q = tf.sigmoid(o), tf.sigmoid(-o)
        return s * q * (2 + o * (q - s))
    if activation == "sigmoid":  # y (1 - y) -> 1 - 2 y
        return 1 - 2 * o
    if activation == "tanh":  # 1 - y^2 -> -2 y
        return -2 * o
    if activation == "softplus":  # 1 - exp(-y) -> exp(-y)
        return tf.exp(-o)
    raise ValueError(f"unknown activation {activation!r}")
