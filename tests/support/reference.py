"""An independent float64 reference for the fused 1D convolution.

Built from stock TF ops only (pad, gather, einsum) and keras.activations, so
it shares no code with the op: the output length and padding come from the
definitions below, written directly from TF's and Keras' documentation.
Gradients come from TF's autodiff through the same expression.
"""
import keras
import numpy as np
import tensorflow as tf

ACTIVATIONS = (
    "linear", "relu", "relu6", "leaky_relu", "elu", "selu", "gelu", "gelu_tanh",
    "silu", "sigmoid", "hard_sigmoid", "tanh", "softplus",
)


# keras.activations.gelu's two definitions, evaluated in full float64. Not the
# function itself: tf.nn.gelu rounds its constants to float32 precision even
# for float64 inputs (errors near 4e-9), too coarse for a reference. Written
# with 1 + erf(u) = erfc(-u) and 1 + tanh(u) = 2 sigmoid(2u), which keep their
# relative accuracy in the negative tail, where 1 + erf and 1 + tanh cancel.
# tests/op/test_reference.py pins these to Keras' functions in float32.
def _gelu_exact(x):
    return 0.5 * x * tf.math.erfc(-x * np.sqrt(0.5))


def _gelu_tanh(x):
    return x * tf.math.sigmoid(2.0 * np.sqrt(2.0 / np.pi) * (x + 0.044715 * x**3))


def keras_activation(name, negative_slope=0.2):
    """The keras.activations function the op's activation must match."""
    a = keras.activations
    table = {
        "linear": a.linear, "relu": a.relu, "relu6": a.relu6,
        "leaky_relu": lambda x: a.leaky_relu(x, negative_slope=negative_slope),
        "elu": a.elu, "selu": a.selu, "gelu": _gelu_exact,
        "gelu_tanh": _gelu_tanh,
        "silu": a.silu, "sigmoid": a.sigmoid, "hard_sigmoid": a.hard_sigmoid,
        "tanh": a.tanh, "softplus": a.softplus,
    }
    return table[name]


def output_length_and_left_pad(steps, kernel_size, stride, dilation, padding):
    """Output length and zeros before step 0, per TF (VALID, SAME) and Keras (causal)."""
    extent = (kernel_size - 1) * dilation + 1
    if padding == "VALID":
        return (steps - extent) // stride + 1, 0
    out = -(-steps // stride)  # ceil
    if padding == "SAME":
        total = max((out - 1) * stride + extent - steps, 0)
        return out, total // 2
    return out, extent - 1  # CAUSAL


def _linear_part(x, w, stride, dilation, padding, data_format, groups=1):
    """conv1d(x, w) in float64, NWC out; x in data_format. With groups, the
    dense convolution of each group's channels (x's channel group j with w's
    output columns j, w being [kernel_size, in_channels // groups, filters]),
    side by side: Keras' definition."""
    if data_format == "NCW":
        x = tf.transpose(x, [0, 2, 1])
    steps = x.shape[1]
    kernel_size = w.shape[0]
    out, left = output_length_and_left_pad(steps, kernel_size, stride, dilation, padding)
    if out == 0:  # no windows (TF's gather gradient fails on some empty shapes)
        return tf.zeros([x.shape[0], 0, w.shape[2]], x.dtype)
    # Pad enough on both sides that every window index is in range.
    right = max(0, (out - 1) * stride + (kernel_size - 1) * dilation + 1 - left - steps)
    xp = tf.pad(x, [[0, 0], [left, right], [0, 0]])
    windows = (np.arange(out)[:, None] * stride + np.arange(kernel_size)[None, :] * dilation)
    gathered = tf.gather(xp, windows.reshape(-1).astype(np.int64), axis=1)
    # Explicit sizes: -1 cannot be inferred when the tensor is empty.
    gathered = tf.reshape(gathered, [x.shape[0], out, kernel_size, x.shape[2]])
    if groups == 1:
        return tf.einsum("nokc,kcf->nof", gathered, w)
    group_in, filters = w.shape[1], w.shape[2]
    gathered = tf.reshape(gathered, [x.shape[0], out, kernel_size, groups, group_in])
    w = tf.reshape(w, [kernel_size, group_in, groups, filters // groups])
    z = tf.einsum("nokgc,kcgf->nogf", gathered, w)
    return tf.reshape(z, [x.shape[0], out, filters])


def _to_layout(y, data_format):
    return tf.transpose(y, [0, 2, 1]) if data_format == "NCW" else y


def conv1d(x, w, b, stride=1, dilation=1, padding="VALID", data_format="NWC",
           activation="linear", negative_slope=0.2, groups=1):
    """activation(conv1d(x, w) + b) in float64; b may be None. Differentiable."""
    z = _linear_part(tf.cast(x, tf.float64), tf.cast(w, tf.float64), stride, dilation,
                     padding, data_format, groups)
    if b is not None:
        z = z + tf.cast(b, tf.float64)
    return _to_layout(keras_activation(activation, negative_slope)(z), data_format)


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


def max_relative_error(actual, expected, magnitude=None):
    """max |actual - expected| / max(magnitude): a norm-wise relative error.

    magnitude defaults to |expected|.
    """
    actual = np.asarray(actual, np.float64)
    expected = np.asarray(expected, np.float64)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    if expected.size == 0:
        return 0.0
    magnitude = np.abs(expected) if magnitude is None else np.asarray(magnitude)
    scale = max(np.abs(magnitude).max(), 1e-30)
    return float(np.abs(actual - expected).max() / scale)


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
