"""The float64 reference (python/gpu_check/reference.py) in TensorFlow, so
that the tests can differentiate it: gradients and higher orders come from
TF's autodiff through the same expression the GPU harness evaluates in NumPy.
Built from stock TF ops only (tf.experimental.numpy: pad, take, einsum,
where...), so it shares no code with the op.
"""
import types

import numpy as np
import tensorflow as tf
import tensorflow.experimental.numpy as tnp

from python.gpu_check import reference as shared
from python.gpu_check.report import max_relative_error  # noqa: F401  (one error measure for the tests and the harness)

ACTIVATIONS = shared.ACTIVATIONS
output_length_and_left_pad = shared.geometry

# The array namespace the shared reference is written against, in TF ops.
TENSORFLOW = types.SimpleNamespace(
    float64=lambda a: tf.cast(a, tf.float64),
    zeros=lambda shape: tf.zeros(shape, tf.float64),
    where=tnp.where, exp=tnp.exp, expm1=tnp.expm1, log1p=tnp.log1p, tanh=tnp.tanh,
    erfc=tf.math.erfc,
    pad=tnp.pad, take=tnp.take, reshape=tnp.reshape, einsum=tnp.einsum, swapaxes=tnp.swapaxes,
)


def keras_activation(name, negative_slope=0.2):
    """The activation the op must match (Keras 3's definition), as a function
    of a float64 tensor. tests/op/test_reference.py pins it to keras.activations."""
    return lambda z: shared.activate(name, z, negative_slope, TENSORFLOW)


def _linear_part(x, w, stride, dilation, padding, data_format, groups=1):
    """conv1d(x, w) in float64, NWC out; x in data_format."""
    return shared.preactivation(x, w, None, stride, dilation, padding, data_format, TENSORFLOW,
                                groups)


def _to_layout(y, data_format):
    return tf.transpose(y, [0, 2, 1]) if data_format == "NCW" else y


def conv1d(x, w, b, stride=1, dilation=1, padding="VALID", data_format="NWC",
           activation="linear", negative_slope=0.2, groups=1):
    """activation(conv1d(x, w) + b) in float64; b may be None. Differentiable.
    With groups, w is [kernel_size, in_channels // groups, filters] (Keras')."""
    y, _ = shared.forward(x, w, b, stride, dilation, padding, data_format, activation,
                          negative_slope, TENSORFLOW, groups)
    return y


def conv1d_and_grads(x, w, b, dy, stride=1, dilation=1, padding="VALID",
                     data_format="NWC", activation="linear", negative_slope=0.2, groups=1):
    """The reference's output and gradients for upstream gradient dy.

    Returns (values, magnitudes): values are (y, dx, dw, db), db None without
    bias; magnitudes are (dx, dw, db) of the same linear maps applied to |x|,
    |w| and |dz| (dz = dy * activation'(z)). A sum rounded in precision eps
    is within about eps * n * magnitude of the exact one, however much its
    terms cancel, so gradient errors are measured against these.
    """
    geometry = dict(stride=stride, dilation=dilation, padding=padding, data_format=data_format,
                    groups=groups)
    x, w = tf.constant(x, tf.float64), tf.constant(w, tf.float64)
    b = None if b is None else tf.constant(b, tf.float64)
    dy_nwc = _to_layout(tf.constant(dy, tf.float64), data_format)
    watched = [x, w] + ([] if b is None else [b])
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(watched)
        z = _linear_part(x, w, **geometry)
        if b is not None:
            z = z + b
        tape.watch(z)
        y = keras_activation(activation, negative_slope)(z)
        loss = tf.reduce_sum(y * dy_nwc)
    grads = tape.gradient(loss, watched, unconnected_gradients=tf.UnconnectedGradients.ZERO)
    dz = tape.gradient(loss, z)
    abs_x, abs_w = tf.abs(x), tf.abs(w)
    with tf.GradientTape() as tape:
        tape.watch([abs_x, abs_w])
        magnitude_loss = tf.reduce_sum(_linear_part(abs_x, abs_w, **geometry) * tf.abs(dz))
    magnitudes = [g.numpy() for g in tape.gradient(
        magnitude_loss, [abs_x, abs_w], unconnected_gradients=tf.UnconnectedGradients.ZERO)]
    magnitudes.append(tf.reduce_sum(tf.abs(dz), axis=[0, 1]).numpy())
    values = (_to_layout(y, data_format).numpy(), grads[0].numpy(), grads[1].numpy(),
              None if b is None else grads[2].numpy())
    return values, tuple(magnitudes)


def assert_matches(actual, expected, magnitudes, tolerances, context=""):
    """Asserts that actual = (y, dx, dw, db) is within tolerances = (forward,
    gradient) of conv1d_and_grads' values and magnitudes, norm-wise; db None
    (no bias) is skipped. context is appended to a failure's message."""
    forward_tol, grad_tol = tolerances
    for name, got, want, magnitude, tol in zip(
            ("output", "grad_input", "grad_filter", "grad_bias"), actual, expected,
            (None,) + tuple(magnitudes), (forward_tol,) + (grad_tol,) * 3):
        if want is None:
            continue
        error = max_relative_error(got, want, magnitude)
        assert error <= tol, f"{name}: relative error {error:.3g} > {tol:g} {context}"
