"""The float64 reference of the fused Conv1D: the one the test suite and the
GPU harness both compare against.

Written once against an array namespace `xp` (NUMPY below, or the
differentiable TensorFlow one in tests/support/reference.py), so that this
module imports NumPy only and the harness runs where TensorFlow is absent.
Conventions follow the op: input NWC [batch, steps, channels] or NCW, filter
[kernel_size, in_channels, out_channels], padding VALID / SAME (TF's rule) /
CAUSAL, Keras 3 activations. It shares no code with the op: the geometry and
the formulas are written here from TF's and Keras' definitions.

Under NumPy the gradients are the explicit adjoints in `backward`; under
TensorFlow they come from autodiff through `activate`, whose branches are
written so that autodiff takes the op's subgradient at every kink (TF's
ReluGrad, EluGrad, SeluGrad... conventions). Inputs are finite: NaN and inf
through the op are checked by its own tests (test_fused_conv1d_nonfinite.py).
"""
import math
import types

import numpy as np

from python.gpu_check.grids import DTYPES  # noqa: F401  (run.py and sweep.py read it here)

ACTIVATIONS = ("linear", "relu", "relu6", "leaky_relu", "elu", "selu", "gelu", "gelu_tanh",
               "silu", "sigmoid", "hard_sigmoid", "tanh", "softplus")

# The array functions the reference uses, with NumPy's names and meanings;
# erfc is the one NumPy lacks (math.erfc, element by element: no SciPy).
NUMPY = types.SimpleNamespace(
    float64=lambda a: np.asarray(a, np.float64),
    zeros=lambda shape: np.zeros(shape, np.float64),
    where=np.where, exp=np.exp, expm1=np.expm1, log1p=np.log1p, tanh=np.tanh,
    erfc=np.vectorize(math.erfc, otypes=[np.float64]),
    pad=np.pad, take=np.take, reshape=np.reshape, einsum=np.einsum, swapaxes=np.swapaxes,
)

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946
_SQRT_HALF = math.sqrt(0.5)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_GELU_CUBIC = 0.044715


def geometry(in_steps, kernel_size, stride, dilation, padding):
    """(out_steps, pad_left): TF's rule for VALID and SAME, Keras' for causal."""
    extent = (kernel_size - 1) * dilation + 1
    if padding == "VALID":
        if in_steps < extent:
            raise ValueError(f"VALID padding needs {extent} steps, got {in_steps}")
        return (in_steps - extent) // stride + 1, 0
    out_steps = -(-in_steps // stride)  # ceil
    if padding == "SAME":
        needed = max(0, (out_steps - 1) * stride - in_steps + extent) if out_steps else 0
        return out_steps, needed // 2
    if padding == "CAUSAL":
        return out_steps, extent - 1
    raise ValueError(f"unknown padding {padding!r}")


def attribute_slope(negative_slope):
    """leaky_relu's slope as the op holds it: its attribute is a float32 (as
    TF's alpha is), and a subnormal one is zero (activations.h's
    CanonicalNegativeSlope: TF's kernels run with denormals flushed)."""
    with np.errstate(over="ignore"):  # a huge slope becomes inf, as in the attribute
        slope = float(np.float32(negative_slope))
    return 0.0 if abs(slope) < float(np.finfo(np.float32).tiny) else slope


def needs_preactivation(activation, negative_slope=0.2):
    """Whether the op's backward reads z rather than y (activation_table.h)."""
    return activation in ("gelu", "gelu_tanh", "silu") or (
        activation == "leaky_relu" and attribute_slope(negative_slope) < 0)


# ------------------------------------------------------------- activations
# Branches are `where`s whose untaken side stays finite (its gradient is
# multiplied by zero, and 0 * inf is NaN), and whose comparison puts each kink
# on the side the op's derivative takes there.

def _sigmoid(z, xp):
    """sigmoid(z) without overflow on either tail."""
    e = xp.exp(-xp.where(z >= 0, z, -z))
    return xp.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _negative_part(z, xp):
    """z where z <= 0, else 0: the argument of exp on the negative branches
    (z itself at 0, where softplus' negative branch is the one taken)."""
    return xp.where(z > 0, 0.0, z)


def activate(activation, z, negative_slope=0.2, xp=NUMPY):
    """activation(z) in float64, by Keras 3's definition (the gelus as
    1 + erf(u) = erfc(-u) and 1 + tanh(u) = 2 sigmoid(2u), which keep their
    relative accuracy in the negative tail where 1 + erf and 1 + tanh cancel)."""
    if activation == "linear":
        return z
    if activation == "relu":
        return xp.where(z > 0, z, 0.0)
    if activation == "relu6":
        return xp.where(z > 0, xp.where(z < 6, z, 6.0), 0.0)
    if activation == "leaky_relu":
        return xp.where(z > 0, z, attribute_slope(negative_slope) * z)
    if activation == "elu":
        return xp.where(z < 0, xp.expm1(_negative_part(z, xp)), z)
    if activation == "selu":
        return _SELU_SCALE * xp.where(
            z < 0, _SELU_ALPHA * xp.expm1(_negative_part(z, xp)), z)
    if activation == "gelu":
        return 0.5 * z * xp.erfc(-z * _SQRT_HALF)
    if activation == "gelu_tanh":
        return z * _sigmoid(2.0 * _SQRT_2_OVER_PI * (z + _GELU_CUBIC * z * z * z), xp)
    if activation == "silu":
        return z * _sigmoid(z, xp)
    if activation == "sigmoid":
        return _sigmoid(z, xp)
    if activation == "hard_sigmoid":
        return xp.where(z > -3, xp.where(z < 3, (z + 3.0) / 6.0, 1.0), 0.0)
    if activation == "tanh":
        return xp.tanh(z)
    if activation == "softplus":
        # z + log1p(exp(-z)) above 0, log1p(exp(z)) below: no overflow.
        positive = xp.where(z > 0, z, 0.0)
        return xp.where(z > 0, z + xp.log1p(xp.exp(-positive)),
                        xp.log1p(xp.exp(_negative_part(z, xp))))
    raise ValueError(f"unknown activation {activation!r}")


def derivative(activation, z, negative_slope=0.2):
    """d activation / dz at z, NumPy (which has no autodiff). At kinks it
    takes the side the op takes; tests/op/test_reference.py checks it against
    TensorFlow's autodiff of `activate`."""
    z = np.asarray(z, np.float64)
    if activation == "linear":
        return np.ones_like(z)
    if activation == "relu":
        return (z > 0).astype(np.float64)
    if activation == "relu6":
        return ((z > 0) & (z < 6)).astype(np.float64)
    if activation == "leaky_relu":
        return np.where(z > 0, 1.0, attribute_slope(negative_slope))
    if activation == "elu":
        return np.where(z < 0, np.exp(_negative_part(z, NUMPY)), 1.0)
    if activation == "selu":
        return _SELU_SCALE * np.where(z < 0, _SELU_ALPHA * np.exp(_negative_part(z, NUMPY)), 1.0)
    if activation == "gelu":
        return 0.5 * NUMPY.erfc(-z * _SQRT_HALF) + z * _INV_SQRT_2PI * np.exp(-0.5 * z * z)
    if activation == "gelu_tanh":
        u = 2.0 * _SQRT_2_OVER_PI * (z + _GELU_CUBIC * z * z * z)
        s = _sigmoid(u, NUMPY)
        return s + 2.0 * z * s * _sigmoid(-u, NUMPY) * _SQRT_2_OVER_PI * (
            1.0 + 3.0 * _GELU_CUBIC * z * z)
    # 1 - sigmoid(z) as sigmoid(-z): no cancellation in the positive tail.
    if activation == "silu":
        return _sigmoid(z, NUMPY) * (1.0 + z * _sigmoid(-z, NUMPY))
    if activation == "sigmoid":
        return _sigmoid(z, NUMPY) * _sigmoid(-z, NUMPY)
    if activation == "hard_sigmoid":
        return ((z > -3) & (z < 3)).astype(np.float64) / 6.0
    if activation == "tanh":
        return 1.0 - np.tanh(z) ** 2
    if activation == "softplus":
        return _sigmoid(z, NUMPY)
    raise ValueError(f"unknown activation {activation!r}")


def derivative_from_operand(activation, operand, negative_slope=0.2):
    """d activation / dz as the op's backward defines it (activations.h):
    from the forward output y, or from z where needs_preactivation. NumPy."""
    if needs_preactivation(activation, negative_slope) or activation == "linear":
        return derivative(activation, operand, negative_slope)
    y = np.asarray(operand, np.float64)
    if activation == "relu":
        return (y > 0).astype(np.float64)
    if activation == "relu6":
        return ((y > 0) & (y < 6)).astype(np.float64)
    if activation == "leaky_relu":
        return np.where(y > 0, 1.0, attribute_slope(negative_slope))
    if activation == "elu":
        return np.where(y < 0, y + 1.0, 1.0)
    if activation == "selu":
        return np.where(y < 0, y + _SELU_SCALE * _SELU_ALPHA, _SELU_SCALE)
    if activation == "sigmoid":
        return y * (1.0 - y)
    if activation == "hard_sigmoid":
        return ((y > 0) & (y < 1)).astype(np.float64) / 6.0
    if activation == "tanh":
        return 1.0 - y * y
    if activation == "softplus":
        return -np.expm1(-y)
    raise ValueError(f"unknown activation {activation!r}")


# ------------------------------------------------------------- convolution

def _to_nwc(x, data_format, xp=NUMPY):
    return x if data_format == "NWC" else xp.swapaxes(x, 1, 2)


def _taps(out_steps, kernel_size, stride, dilation):
    """[out_steps, kernel_size]: the padded input step each output tap reads."""
    return (np.arange(out_steps, dtype=np.int64)[:, None] * stride
            + np.arange(kernel_size, dtype=np.int64)[None, :] * dilation)


def _padded_length(in_steps, out_steps, kernel_size, stride, dilation, pad_left):
    """Steps of the input padded so that every tap is in range."""
    last_tap = (out_steps - 1) * stride + (kernel_size - 1) * dilation
    return max(in_steps + pad_left, last_tap + 1)


def _grouped(cols, w, groups, xp):
    """Keras' grouped convolution of windows cols [batch, out_steps, kernel_size,
    channels] with w [kernel_size, channels // groups, filters]: input channel
    group g meets filter columns g * filters // groups onwards."""
    batch, out_steps, kernel_size, channels = cols.shape
    filters = w.shape[2]
    cols = xp.reshape(cols, (batch, out_steps, kernel_size, groups, channels // groups))
    w = xp.reshape(w, (kernel_size, channels // groups, groups, filters // groups))
    z = xp.einsum("nokgc,kcgf->nogf", cols, w)
    return xp.reshape(z, (batch, out_steps, filters))


def preactivation(x, w, b, stride=1, dilation=1, padding="VALID", data_format="NWC",
                  xp=NUMPY, groups=1):
    """z = conv1d(x, w) + b in float64, NWC whatever data_format; b may be None.
    With groups, w is [kernel_size, in_channels // groups, filters]."""
    x_nwc = _to_nwc(xp.float64(x), data_format, xp)
    w = xp.float64(w)
    batch, in_steps, channels = x_nwc.shape
    kernel_size, filters = w.shape[0], w.shape[2]
    out_steps, pad_left = geometry(in_steps, kernel_size, stride, dilation, padding)
    if out_steps == 0:  # no windows (TF's gather gradient fails on some empty shapes)
        z = xp.zeros((batch, 0, filters))
    else:
        length = _padded_length(in_steps, out_steps, kernel_size, stride, dilation, pad_left)
        padded = xp.pad(x_nwc, ((0, 0), (pad_left, length - pad_left - in_steps), (0, 0)),
                        "constant")
        cols = xp.take(padded, _taps(out_steps, kernel_size, stride, dilation).reshape(-1),
                       axis=1)
        # Explicit sizes: -1 cannot be inferred when the tensor is empty.
        cols = xp.reshape(cols, (batch, out_steps, kernel_size, channels))
        z = _grouped(cols, w, groups, xp)
    return z if b is None else z + xp.float64(b)


def forward(x, w, b, stride=1, dilation=1, padding="VALID", data_format="NWC",
            activation="linear", negative_slope=0.2, xp=NUMPY, groups=1):
    """(output, preactivation) in float64, in data_format; b may be None."""
    z = preactivation(x, w, b, stride, dilation, padding, data_format, xp, groups)
    y = activate(activation, z, negative_slope, xp)
    return _to_nwc(y, data_format, xp), _to_nwc(z, data_format, xp)


def backward(x, w, b, grad_output, stride=1, dilation=1, padding="VALID", data_format="NWC",
             activation="linear", negative_slope=0.2, operand=None, groups=1):
    """(grad_input, grad_filter, grad_bias) in float64, NumPy: the adjoint of
    `preactivation` applied to dz = grad_output * activation'(z).

    With operand=None the activation's derivative is taken at the exact z.
    Otherwise operand is what the backward ops receive (the forward output,
    or z where needs_preactivation), in data_format: the derivative then
    follows the ops' definition, even where a rounded y sits on a kink.
    """
    x_nwc = _to_nwc(np.asarray(x, np.float64), data_format)
    w = np.asarray(w, np.float64)
    if operand is None:
        z = preactivation(x, w, b, stride, dilation, padding, data_format, NUMPY, groups)
        slope = derivative(activation, z, negative_slope)
    else:
        slope = derivative_from_operand(
            activation, _to_nwc(np.asarray(operand, np.float64), data_format), negative_slope)
    dz = _to_nwc(np.asarray(grad_output, np.float64), data_format) * slope
    batch, in_steps, channels = x_nwc.shape
    kernel_size = w.shape[0]
    out_steps, pad_left = geometry(in_steps, kernel_size, stride, dilation, padding)
    length = _padded_length(in_steps, out_steps, kernel_size, stride, dilation, pad_left)
    taps = _taps(out_steps, kernel_size, stride, dilation)
    padded = np.pad(x_nwc, ((0, 0), (pad_left, length - pad_left - in_steps), (0, 0)))
    cols = padded[:, taps, :]  # [batch, out_steps, kernel_size, channels]
    # The channel and filter groups as their own axis g (see _grouped).
    filters = w.shape[2]
    cols_g = cols.reshape(batch, out_steps, kernel_size, groups, channels // groups)
    dz_g = dz.reshape(batch, out_steps, groups, filters // groups)
    w_g = w.reshape(kernel_size, channels // groups, groups, filters // groups)
    grad_filter = np.einsum("nokgc,nogf->kcgf", cols_g, dz_g).reshape(w.shape)
    grad_bias = dz.sum(axis=(0, 1))
    grad_padded = np.zeros_like(padded)
    grad_cols = np.einsum("nogf,kcgf->nokgc", dz_g, w_g).reshape(cols.shape)
    np.add.at(grad_padded, (slice(None), taps), grad_cols)
    grad_x = grad_padded[:, pad_left:pad_left + in_steps, :]
    return _to_nwc(grad_x, data_format), grad_filter, grad_bias


# ------------------------------------------------------------ dtype storage
# bfloat16 has no NumPy type: it is stored as the uint16 top half of float32.

def to_storage(values, dtype):
    """The nearest dtype values of a float array, as a NumPy array to copy to
    device memory (uint16 bit patterns for bfloat16)."""
    values = np.asarray(values, np.float64)
    if dtype == "bfloat16":
        bits = values.astype(np.float32).view(np.uint32).astype(np.uint64)
        rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16  # to nearest even
        return rounded.astype(np.uint16)
    return values.astype({"float16": np.float16, "float32": np.float32,
                          "float64": np.float64}[dtype])


def from_storage(stored, dtype):
    """float64 values of an array made by to_storage (or read back from a device)."""
    stored = np.asarray(stored)
    if dtype == "bfloat16":
        return (stored.astype(np.uint32) << 16).view(np.float32).astype(np.float64)
    return stored.astype(np.float64)


def round_to(values, dtype):
    """values rounded to dtype, as float64."""
    return from_storage(to_storage(values, dtype), dtype)
