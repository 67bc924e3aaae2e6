"""NaN and Inf propagate through the op exactly as through the stock ops.

The stock counterpart is tf.nn.conv1d (CAUSAL: tf.pad then VALID) +
tf.nn.bias_add + the keras.activations function, computed in float64 and cast
to the dtype under test: TF's float64 kernels are Eigen's on every CPU, while
its float32 and bfloat16 convolutions are oneDNN's, whose non-finite results
depend on the instruction set (with AVX-512 they skip the padding taps, so
0 * NaN there is not NaN, and 0 * Inf from their padded channel blocks makes
NaN where no Inf meets a zero of the convolution itself). One NaN,
+Inf or -Inf is placed in the input, the filter, the bias or the upstream
gradient; the positions of NaN, +Inf and -Inf in the output must be the same,
and in the gradients as well (float32 and float64; TF's CPU gradients do not
support dilations).

Two known differences, checked more loosely:
- With a non-finite *filter*, grad_input may have NaN where the stock op has
  none, at input steps near the edges: the backward pass multiplies the filter
  by zero-padded gradient rows, and 0 * Inf is NaN. Checked as a superset.
- With an infinite upstream gradient through gelu or gelu_tanh, the stock
  gradient (autodiff, term by term) adds +Inf and -Inf terms into NaN where
  ours multiplies by the finite derivative and keeps +-Inf. Checked as the
  same non-finite positions.
"""
import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf

import tf_conv1d_op
from tests.support import reference

GEOMETRIES = (  # padding, stride, dilation, data_format
    ("VALID", 1, 1, "NWC"), ("SAME", 2, 1, "NWC"), ("CAUSAL", 1, 1, "NCW"),
    ("SAME", 1, 2, "NWC"), ("CAUSAL", 1, 3, "NWC"))
VALUES = (np.nan, np.inf, -np.inf)
PLACES = ("input", "filter", "bias", "grad_output")
DTYPES = ("float32", "float64", "float16", "bfloat16")


def keras_activation(name):
    a = keras.activations
    special = {"gelu": lambda x: a.gelu(x, approximate=False),
               "gelu_tanh": lambda x: a.gelu(x, approximate=True),
               "leaky_relu": lambda x: a.leaky_relu(x, negative_slope=0.2)}
    return special[name] if name in special else getattr(a, name)


def stock(x, w, b, padding, stride, dilation, data_format, activation):
    dtype = x.dtype
    x, w, b = (tf.cast(t, tf.float64) for t in (x, w, b))
    return tf.cast(stock_float64(x, w, b, padding, stride, dilation, data_format, activation),
                   dtype)


def stock_float64(x, w, b, padding, stride, dilation, data_format, activation):
    if data_format == "NCW":
        x = tf.transpose(x, [0, 2, 1])
    if padding == "CAUSAL":
        x = tf.pad(x, [[0, 0], [(w.shape[0] - 1) * dilation, 0], [0, 0]])
        padding = "VALID"
    z = tf.nn.bias_add(tf.nn.conv1d(x, w, stride, padding, dilations=dilation), b)
    y = keras_activation(activation)(z)
    return tf.transpose(y, [0, 2, 1]) if data_format == "NCW" else y


def ours(x, w, b, padding, stride, dilation, data_format, activation):
    return tf_conv1d_op.fused_conv1d(x, w, b, stride=stride, padding=padding,
                                     dilations=dilation, data_format=data_format,
                                     activation=activation)


def kinds(t):
    """Masks of NaN, +Inf and -Inf."""
    v = tf.cast(t, tf.float64).numpy()
    return np.isnan(v), np.isposinf(v), np.isneginf(v)


def assert_same_kinds(got, want, what, superset=False, nonfinite_only=False):
    if nonfinite_only:
        g, w = (np.logical_or.reduce(kinds(t)) for t in (got, want))
        assert np.array_equal(g, w), f"{what}: non-finite positions differ"
        return
    for kind, g, w in zip(("NaN", "+Inf", "-Inf"), kinds(got), kinds(want)):
        if superset and kind == "NaN":
            assert np.all(g[w]), f"{what}: a stock NaN is not NaN here"
        else:
            mismatch = np.argwhere(g != w)
            assert mismatch.size == 0, (f"{what}: {kind} positions differ at "
                                        f"{mismatch[:5].tolist()} (ours {int(g.sum())}, "
                                        f"stock {int(w.sum())})")


def make_case(rng, place, value, geometry, dtype):
    padding, stride, dilation, data_format = geometry
    batch, steps, cin, cout, k = 2, 11, 3, 4, 3
    x = rng.standard_normal((batch, steps, cin) if data_format == "NWC" else (batch, cin, steps))
    w = rng.standard_normal((k, cin, cout)) / np.sqrt(k * cin)
    b = rng.standard_normal(cout)
    out, _ = reference.output_length_and_left_pad(steps, k, stride, dilation, padding)
    dy = rng.standard_normal((batch, out, cout) if data_format == "NWC" else (batch, cout, out))
    target = {"input": x, "filter": w, "bias": b, "grad_output": dy}[place]
    flat = target.reshape(-1)  # a view
    flat[rng.integers(flat.size)] = value
    return [tf.constant(v, dtype) for v in (x, w, b, dy)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", reference.ACTIVATIONS)
def test_forward_nonfinite_like_stock(activation, dtype, device):
    rng = np.random.default_rng(len(activation) * 31 + DTYPES.index(dtype))
    for place, value, geometry in itertools.product(PLACES[:3], VALUES, GEOMETRIES):
        x, w, b, _ = make_case(rng, place, value, geometry, dtype)
        attrs = (*geometry, activation)
        assert_same_kinds(ours(x, w, b, *attrs), stock(x, w, b, *attrs),
                          f"output, {value} in {place}, {geometry}")


@pytest.mark.parametrize("dtype", ("float32", "float64"))
@pytest.mark.parametrize("activation", reference.ACTIVATIONS)
def test_gradients_nonfinite_like_stock(activation, dtype, device):
    rng = np.random.default_rng(len(activation) * 17 + DTYPES.index(dtype))
    geometries = [g for g in GEOMETRIES if g[2] == 1]
    for place, value, geometry in itertools.product(PLACES, VALUES, geometries):
        x, w, b, dy = make_case(rng, place, value, geometry, dtype)
        attrs = (*geometry, activation)
        grads = []
        for fn in (ours, stock):
            with tf.GradientTape() as tape:
                tape.watch([x, w, b])
                y = fn(x, w, b, *attrs)
            grads.append(tape.gradient(y, [x, w, b], output_gradients=dy))
        for name, got, want in zip(("grad_input", "grad_filter", "grad_bias"), *grads):
            assert_same_kinds(got, want, f"{name}, {value} in {place}, {geometry}",
                              superset=(place == "filter" and name == "grad_input"),
                              nonfinite_only=(place == "grad_output" and np.isinf(value) and
                                              activation in ("gelu", "gelu_tanh")))


# Large enough for the Winograd forward tiles (stride 1, K = 3 or 5, 64 ->
# 128 channels, 4100 output rows), whose transformed sums would make NaN of
# an Inf and Inf of two huge neighbours: such tiles must run the direct way.
@pytest.mark.parametrize("kernel", (3, 5))
@pytest.mark.parametrize("place", ("input", "filter"))
@pytest.mark.parametrize("value", (np.nan, np.inf, -np.inf, "huge"))
def test_winograd_tiles_keep_direct_results(place, value, kernel):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 2050, 64))
    w = rng.standard_normal((kernel, 64, 128)) / np.sqrt(kernel * 64)
    b = rng.standard_normal(128)
    target = x if place == "input" else w
    flat = target.reshape(-1)
    at = int(rng.integers(flat.size - 64))
    if value == "huge":  # two neighbours that overflow float32 when added
        flat[at] = flat[at + 64] = 3e38
    else:
        flat[at] = value
    x, w, b = (tf.constant(v, tf.float32) for v in (x, w, b))
    attrs = ("SAME", 1, 1, "NWC", "linear")
    got, want = ours(x, w, b, *attrs), stock(x, w, b, *attrs)
    assert_same_kinds(got, want, f"{value} in {place}")
    finite = np.isfinite(want.numpy())
    np.testing.assert_allclose(got.numpy()[finite], want.numpy()[finite], rtol=1e-4,
                               atol=1e-4 * float(np.abs(want.numpy()[finite]).max()))


# The input gradient of such a layer runs as a forward convolution of dz
# (Winograd tiles), so a non-finite value in the upstream gradient or the
# filter must come out as through the stock gradient.
@pytest.mark.parametrize("place", ("grad_output", "filter"))
@pytest.mark.parametrize("value", (np.nan, np.inf, -np.inf))
def test_winograd_input_gradient_keeps_direct_results(place, value):
    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, 2050, 128))
    w = rng.standard_normal((3, 128, 64)) / np.sqrt(3 * 128)
    b = rng.standard_normal(64)
    dy = rng.standard_normal((2, 2050, 64))
    flat = (dy if place == "grad_output" else w).reshape(-1)
    flat[int(rng.integers(flat.size))] = value
    x, w, b, dy = (tf.constant(v, tf.float32) for v in (x, w, b, dy))
    attrs = ("SAME", 1, 1, "NWC", "tanh")
    grads = []
    for fn in (ours, stock):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = fn(x, w, b, *attrs)
        grads.append(tape.gradient(y, x, output_gradients=dy))
    assert_same_kinds(*grads, f"grad_input, {value} in {place}",
                      superset=(place == "filter"))
