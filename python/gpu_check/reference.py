"""Float64 NumPy reference of the fused Conv1D and its gradients.

Imports NumPy only (no torch, no TensorFlow), so it is tested on the CPU and
used unchanged on the GPU machine. Conventions follow the op: input NWC
[batch, steps, channels] or NCW, filter [kernel_size, in_channels,
out_channels], padding VALID / SAME (TF's rule) / CAUSAL, Keras 3 activations.
"""
import math

import numpy as np

from python.gpu_check.grids import DTYPES  # noqa: F401  (run.py and sweep.py read it here)

ACTIVATIONS = ("linear", "relu", "relu6", "leaky_relu", "elu", "selu", "gelu", "gelu_tanh",
               "silu", "sigmoid", "hard_sigmoid", "tanh", "softplus")

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_GELU_CUBIC = 0.044715
_erf = np.vectorize(math.erf, otypes=[np.float64])


def geometry(in_steps, kernel_size, stride, dilation, padding):
    """(out_steps, pad_left), as conv1d::ResolveGeometry computes them."""
    extent = (kernel_size - 1) * dilation + 1
    if padding == "VALID":
        if in_steps < extent:
            raise ValueError(f"VALID padding needs {extent} steps, got {in_steps}")
        return (in_steps - extent) // stride + 1, 0
    out_steps = -(-in_steps // stride)
    if padding == "SAME":
        needed = max(0, (out_steps - 1) * stride - in_steps + extent) if out_steps else 0
        return out_steps, needed // 2
    if padding == "CAUSAL":
        return out_steps, extent - 1
    raise ValueError(f"unknown padding {padding!r}")


def needs_preactivation(activation, negative_slope=0.2):
    return activation in ("gelu", "gelu_tanh", "silu") or (
        activation == "leaky_relu" and negative_slope < 0)


def _sigmoid(z):
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def activate(activation, z, negative_slope=0.2):
    """activation(z) in float64."""
    if activation == "linear":
        return z
    if activation == "relu":
        return np.maximum(z, 0.0)
    if activation == "relu6":
        return np.clip(z, 0.0, 6.0)
    if activation == "leaky_relu":
        return np.where(z > 0, z, negative_slope * z)
    if activation == "elu":
        return np.where(z > 0, z, np.expm1(np.minimum(z, 0.0)))
    if activation == "selu":
        return _SELU_SCALE * np.where(z > 0, z, _SELU_ALPHA * np.expm1(np.minimum(z, 0.0)))
    if activation == "gelu":
        return 0.5 * z * (1.0 + _erf(z / math.sqrt(2.0)))
    if activation == "gelu_tanh":
        return 0.5 * z * (1.0 + np.tanh(_SQRT_2_OVER_PI * (z + _GELU_CUBIC * z ** 3)))
    if activation == "silu":
        return z * _sigmoid(z)
    if activation == "sigmoid":
        return _sigmoid(z)
    if activation == "hard_sigmoid":
        return np.clip(z + 3.0, 0.0, 6.0) / 6.0
    if activation == "tanh":
        return np.tanh(z)
    if activation == "softplus":
        return np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z)))
    raise ValueError(f"unknown activation {activation!r}")


def derivative(activation, z, negative_slope=0.2):
    """d activation / dz at z, in float64."""
    if activation == "linear":
        return np.ones_like(z)
    if activation == "relu":
        return (z > 0).astype(np.float64)
    if activation == "relu6":
        return ((z > 0) & (z < 6)).astype(np.float64)
    if activation == "leaky_relu":
        return np.where(z > 0, 1.0, negative_slope)
    if activation == "elu":
        return np.where(z > 0, 1.0, np.exp(np.minimum(z, 0.0)))
    if activation == "selu":
        return _SELU_SCALE * np.where(z > 0, 1.0, _SELU_ALPHA * np.exp(np.minimum(z, 0.0)))
    if activation == "gelu":
        return 0.5 * (1.0 + _erf(z / math.sqrt(2.0))) + z * np.exp(-0.5 * z * z) / math.sqrt(
            2.0 * math.pi)
    if activation == "gelu_tanh":
        t = np.tanh(_SQRT_2_OVER_PI * (z + _GELU_CUBIC * z ** 3))
        return 0.5 * (1.0 + t) + 0.5 * z * (1.0 - t * t) * _SQRT_2_OVER_PI * (
            1.0 + 3.0 * _GELU_CUBIC * z * z)
    if activation == "silu":
        s = _sigmoid(z)
        return s * (1.0 + z * (1.0 - s))
    if activation == "sigmoid":
        s = _sigmoid(z)
        return s * (1.0 - s)
    if activation == "hard_sigmoid":
        return ((z > -3) & (z < 3)).astype(np.float64) / 6.0
    if activation == "tanh":
        return 1.0 - np.tanh(z) ** 2
    if activation == "softplus":
        return _sigmoid(z)
    raise ValueError(f"unknown activation {activation!r}")


def _to_nwc(x, data_format):
    return x if data_format == "NWC" else np.swapaxes(x, 1, 2)


def _windows(x_nwc, kernel_size, stride, dilation, padding):
    """im2col: [batch, out_steps, kernel_size, channels], and the input step
    index [out_steps, kernel_size] with its validity mask."""
    batch, in_steps, channels = x_nwc.shape
    out_steps, pad_left = geometry(in_steps, kernel_size, stride, dilation, padding)
    steps = (np.arange(out_steps)[:, None] * stride - pad_left
             + np.arange(kernel_size)[None, :] * dilation)
    valid = (steps >= 0) & (steps < in_steps)
    if in_steps == 0:
        cols = np.zeros((batch, out_steps, kernel_size, channels))
    else:
        cols = x_nwc[:, np.clip(steps, 0, in_steps - 1), :] * valid[None, :, :, None]
    return cols, steps, valid


def _channel_groups(a, groups, data_format):
    """An activation tensor's channels, split into `groups` equal runs."""
    return np.split(np.asarray(a, np.float64), groups, axis=2 if data_format == "NWC" else 1)


def forward(x, w, b, stride=1, dilation=1, padding="VALID", data_format="NWC",
            activation="linear", negative_slope=0.2, groups=1):
    """(output, preactivation) in float64, in data_format; b may be None.
    With groups, the dense convolution of each group (w being [kernel_size,
    in_channels // groups, filters]), side by side."""
    if groups != 1:
        axis = 2 if data_format == "NWC" else 1
        parts = [forward(xj, wj, bj, stride, dilation, padding, data_format, activation,
                         negative_slope)
                 for xj, wj, bj in zip(_channel_groups(x, groups, data_format),
                                       np.split(np.asarray(w, np.float64), groups, axis=2),
                                       np.split(np.asarray(b), groups) if b is not None
                                       else [None] * groups)]
        return tuple(np.concatenate(outputs, axis=axis) for outputs in zip(*parts))
    x_nwc = _to_nwc(np.asarray(x, np.float64), data_format)
    w = np.asarray(w, np.float64)
    cols, _, _ = _windows(x_nwc, w.shape[0], stride, dilation, padding)
    z = np.einsum("nokc,kcf->nof", cols, w)
    if b is not None and np.size(b):
        z = z + np.asarray(b, np.float64)
    y = activate(activation, z, negative_slope)
    return _to_nwc(y, data_format), _to_nwc(z, data_format)


def derivative_from_operand(activation, operand, negative_slope=0.2):
    """d activation / dz as the backward ops define it: from the forward
    output y, or from z where needs_preactivation (activations.h)."""
    if needs_preactivation(activation, negative_slope) or activation == "linear":
        return derivative(activation, operand, negative_slope)
    y = operand
    if activation == "relu":
        return (y > 0).astype(np.float64)
    if activation == "relu6":
        return ((y > 0) & (y < 6)).astype(np.float64)
    if activation == "leaky_relu":
        return np.where(y > 0, 1.0, negative_slope)
    if activation == "elu":
        return np.where(y > 0, 1.0, y + 1.0)
    if activation == "selu":
        return np.where(y > 0, _SELU_SCALE, y + _SELU_SCALE * _SELU_ALPHA)
    if activation == "sigmoid":
        return y * (1.0 - y)
    if activation == "hard_sigmoid":
        return ((y > 0) & (y < 1)).astype(np.float64) / 6.0
    if activation == "tanh":
        return 1.0 - y * y
    if activation == "softplus":
        return -np.expm1(-y)
    raise ValueError(f"unknown activation {activation!r}")


def backward(x, w, b, grad_output, stride=1, dilation=1, padding="VALID", data_format="NWC",
             activation="linear", negative_slope=0.2, operand=None, groups=1):
    """(grad_input, grad_filter, grad_bias) in float64.

    With operand=None the activation's derivative is taken at the exact z.
    Otherwise operand is what the backward ops receive (the forward output,
    or z where needs_preactivation), in data_format: the derivative then
    follows the ops' definition, even where a rounded y sits on a kink.
    With groups, each group's gradients, side by side.
    """
    if groups != 1:
        axis = 2 if data_format == "NWC" else 1
        none = [None] * groups
        parts = [backward(xj, wj, bj, gj, stride, dilation, padding, data_format, activation,
                          negative_slope, oj)
                 for xj, wj, bj, gj, oj in zip(
                     _channel_groups(x, groups, data_format),
                     np.split(np.asarray(w, np.float64), groups, axis=2),
                     np.split(np.asarray(b), groups) if b is not None else none,
                     _channel_groups(grad_output, groups, data_format),
                     _channel_groups(operand, groups, data_format) if operand is not None
                     else none)]
        grad_input, grad_filter, grad_bias = zip(*parts)
        return (np.concatenate(grad_input, axis=axis), np.concatenate(grad_filter, axis=2),
                np.concatenate(grad_bias))
    x_nwc = _to_nwc(np.asarray(x, np.float64), data_format)
    w = np.asarray(w, np.float64)
    if operand is None:
        _, z = forward(x, w, b, stride, dilation, padding, data_format, activation,
                       negative_slope)
        slope = derivative(activation, _to_nwc(z, data_format), negative_slope)
    else:
        slope = derivative_from_operand(
            activation, _to_nwc(np.asarray(operand, np.float64), data_format), negative_slope)
    dz = _to_nwc(np.asarray(grad_output, np.float64), data_format) * slope
    cols, steps, valid = _windows(x_nwc, w.shape[0], stride, dilation, padding)
    grad_filter = np.einsum("nokc,nof->kcf", cols, dz)
    grad_bias = dz.sum(axis=(0, 1))
    grad_cols = np.einsum("nof,kcf->nokc", dz, w)
    grad_x = np.zeros_like(x_nwc)
    for k in range(w.shape[0]):
        rows = valid[:, k]
        # Within one tap the input steps of distinct outputs are distinct.
        grad_x[:, steps[rows, k], :] += grad_cols[:, rows, k, :]
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
