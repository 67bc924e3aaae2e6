"""The float64 reference as the GPU harness evaluates it (NumPy), and the
harness' report helpers, on the CPU.

The reference (python/gpu_check/reference.py) in NumPy, with its explicit
gradients, is checked against stock TensorFlow in float64: tf.nn.conv1d with
an explicitly dilated filter (so any stride/dilation pair works), explicit
causal padding, Keras 3 activations and GradientTape gradients. (The tests
evaluate the same reference through TF's namespace: tests/op/test_reference.py.)
"""
import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf

from python.gpu_check import reference, report
from python.gpu_check.grids import DATA_FORMATS as FORMATS
from python.gpu_check.grids import PADDINGS, STRIDE_DILATIONS


def keras_activation(name, z, slope):
    if name == "linear":
        return z
    if name == "leaky_relu":
        return keras.activations.leaky_relu(z, negative_slope=slope)
    if name == "gelu":
        return keras.activations.gelu(z, approximate=False)
    if name == "gelu_tanh":
        return keras.activations.gelu(z, approximate=True)
    return keras.activations.get(name)(z)


def tf_fused_conv1d(x, w, b, stride, dilation, padding, data_format, activation, slope):
    """Stock TF ops, float64; returns (y, z) in data_format."""
    kernel_size, in_channels, filters = w.shape
    if dilation > 1:  # zeros between the taps: a dilated filter, applied undilated
        gaps = tf.zeros([kernel_size, dilation - 1, in_channels, filters], tf.float64)
        w = tf.reshape(tf.concat([w[:, None], gaps], axis=1),
                       [kernel_size * dilation, in_channels, filters])
        w = w[:(kernel_size - 1) * dilation + 1]
    x_nwc = x if data_format == "NWC" else tf.transpose(x, [0, 2, 1])
    if padding == "CAUSAL":
        x_nwc = tf.pad(x_nwc, [[0, 0], [w.shape[0] - 1, 0], [0, 0]])
        padding = "VALID"
    z = tf.nn.conv1d(x_nwc, w, stride=stride, padding=padding)
    if b is not None:
        z = z + b
    y = keras_activation(activation, z, slope)
    if data_format == "NCW":
        y, z = tf.transpose(y, [0, 2, 1]), tf.transpose(z, [0, 2, 1])
    return y, z


def random_case(rng, padding, data_format, stride, dilation):
    batch = int(rng.integers(1, 4))
    in_channels, filters = int(rng.integers(1, 6)), int(rng.integers(1, 6))
    kernel_size = int(rng.integers(1, 5))
    extent = (kernel_size - 1) * dilation + 1
    steps = int(rng.integers(extent if padding == "VALID" else 1, extent + 20))
    shape = (batch, steps, in_channels) if data_format == "NWC" else (batch, in_channels, steps)
    x = rng.normal(size=shape)
    w = rng.normal(size=(kernel_size, in_channels, filters))
    b = rng.normal(size=filters) if rng.integers(0, 2) else None
    return x, w, b


# TF's float64 erfc and tanh (Eigen's) are accurate to about 1e-7 relative.
LOOSE_ACTIVATIONS = {"gelu", "gelu_tanh"}


def check_against_tf(rng, padding, data_format, stride, dilation, activation, slope=0.2):
    x, w, b = random_case(rng, padding, data_format, stride, dilation)
    attrs = dict(stride=stride, dilation=dilation, padding=padding, data_format=data_format,
                 activation=activation, negative_slope=slope)
    y, z = reference.forward(x, w, b, **attrs)
    dy = rng.normal(size=y.shape)
    grad_x, grad_w, grad_b = reference.backward(x, w, b, dy, **attrs)

    tx, tw = tf.constant(x), tf.constant(w)
    tb = tf.constant(b if b is not None else np.zeros(w.shape[2]))
    with tf.GradientTape() as tape:
        tape.watch([tx, tw, tb])
        ty, tz = tf_fused_conv1d(tx, tw, tb, stride, dilation, padding, data_format,
                                 activation, slope)
    tgx, tgw, tgb = tape.gradient(ty, [tx, tw, tb], output_gradients=tf.constant(dy))
    tol = 1e-6 if activation in LOOSE_ACTIVATIONS else 1e-10
    np.testing.assert_allclose(z, tz.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(y, ty.numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(grad_x, tgx.numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(grad_w, tgw.numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(grad_b, tgb.numpy(), rtol=tol, atol=tol)


GEOMETRIES = list(itertools.product(PADDINGS, FORMATS, STRIDE_DILATIONS))


@pytest.mark.parametrize("padding,data_format,stride_dilation", GEOMETRIES)
def test_reference_matches_tf_for_every_geometry(padding, data_format, stride_dilation):
    index = GEOMETRIES.index((padding, data_format, stride_dilation))
    activation = reference.ACTIVATIONS[index % len(reference.ACTIVATIONS)]
    check_against_tf(np.random.default_rng(index), padding, data_format, *stride_dilation,
                     activation)


@pytest.mark.parametrize("activation", reference.ACTIVATIONS)
def test_reference_matches_tf_for_every_activation(activation):
    rng = np.random.default_rng(reference.ACTIVATIONS.index(activation))
    check_against_tf(rng, "SAME", "NWC", 2, 2, activation)


def test_reference_leaky_relu_with_negative_slope_matches_tf():
    check_against_tf(np.random.default_rng(7), "CAUSAL", "NCW", 1, 3, "leaky_relu", slope=-0.3)


@pytest.mark.parametrize("padding", PADDINGS)
def test_geometry_matches_tf_output_lengths(padding):
    rng = np.random.default_rng(3)
    for _ in range(20):
        stride, dilation = int(rng.integers(1, 5)), int(rng.integers(1, 4))
        x, w, b = random_case(rng, padding, "NWC", stride, dilation)
        y, _ = tf_fused_conv1d(tf.constant(x), tf.constant(w), None, stride, dilation, padding,
                               "NWC", "linear", 0.2)
        out_steps, _ = reference.geometry(x.shape[1], w.shape[0], stride, dilation, padding)
        assert out_steps == y.shape[1]


@pytest.mark.parametrize("activation", reference.ACTIVATIONS)
@pytest.mark.parametrize("slope", [0.2, -0.3])
def test_derivative_from_the_ops_operand_matches_the_exact_derivative(activation, slope):
    rng = np.random.default_rng(11)
    z = rng.normal(scale=3.0, size=2000)
    z = z[np.abs(z) > 1e-3]  # away from the kinks at 0
    z = z[(np.abs(z - 6) > 1e-3) & (np.abs(np.abs(z) - 3) > 1e-3)]
    z = np.concatenate([z, [-3.0, 0.0, 3.0, 6.0]])  # and exactly on the kinks
    operand = z if reference.needs_preactivation(activation, slope) else reference.activate(
        activation, z, slope)
    np.testing.assert_allclose(reference.derivative_from_operand(activation, operand, slope),
                               reference.derivative(activation, z, slope),
                               rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("activation", reference.ACTIVATIONS)
def test_derivative_matches_finite_differences(activation):
    z = np.random.default_rng(5).normal(scale=3.0, size=500)
    z = z[np.abs(z) > 1e-2]
    z = z[(np.abs(z - 6) > 1e-2) & (np.abs(np.abs(z) - 3) > 1e-2)]
    h = 1e-6
    numeric = (reference.activate(activation, z + h) - reference.activate(activation, z - h)) / (
        2 * h)
    np.testing.assert_allclose(reference.derivative(activation, z), numeric, rtol=1e-6,
                               atol=1e-8)


@pytest.mark.parametrize("dtype,tf_dtype", [("float16", tf.float16), ("bfloat16", tf.bfloat16),
                                            ("float32", tf.float32)])
def test_rounding_matches_tf_casts(dtype, tf_dtype):
    values = np.random.default_rng(2).normal(scale=10.0, size=5000)
    expected = tf.cast(tf.cast(values, tf_dtype), tf.float64).numpy()
    np.testing.assert_array_equal(reference.round_to(values, dtype), expected)
    assert reference.to_storage(values, dtype).itemsize == tf_dtype.size


def test_bfloat16_storage_rounds_ties_to_even():
    # 1 + 2^-8 lies halfway between bfloat16 1 and 1 + 2^-7: rounds to 1.
    # 1 + 3 * 2^-8 lies halfway between 1 + 2^-7 and 1 + 2^-6: rounds up.
    values = np.array([1 + 2.0 ** -8, 1 + 3 * 2.0 ** -8])
    np.testing.assert_array_equal(reference.round_to(values, "bfloat16"), [1.0, 1 + 2.0 ** -6])
    np.testing.assert_array_equal(reference.to_storage([1.0, -2.0], "bfloat16"),
                                  [0x3F80, 0xC000])


def test_max_relative_error_is_relative_to_the_tensor_scale():
    expected = np.array([[4.0, -2.0], [0.0, 1.0]])
    actual = expected + np.array([[0.0, 0.02], [0.01, 0.0]])
    assert report.max_relative_error(actual, expected) == pytest.approx(0.02 / 4.0)
    # A larger magnitude (sum of |terms|) scales the error down.
    assert report.max_relative_error(actual, expected, magnitude=np.full((2, 2), 8.0)) == \
        pytest.approx(0.02 / 8.0)


def test_max_relative_error_flags_nans_shapes_and_accepts_empty():
    assert report.max_relative_error(np.array([1.0, np.nan]), np.array([1.0, 2.0])) == float("inf")
    assert report.max_relative_error(np.zeros(3), np.zeros(4)) == float("inf")
    assert report.max_relative_error(np.zeros((0, 3)), np.zeros((0, 3))) == 0.0
    assert report.max_relative_error(np.zeros(3), np.zeros(3)) == 0.0


def test_tolerances_order_by_precision():
    t = report.TOLERANCES
    assert t["float64"] < t["float32"] < t["float16"] < t["bfloat16"]
    assert report.within_tolerance(1e-3, "float16")
    assert not report.within_tolerance(1e-3, "float32")


def test_format_table_aligns_columns():
    table = report.format_table(["dtype", "error", "ratio"],
                                [["float16", 1.5e-4, 2.0], ["float32", 0.0, 12.345]])
    lines = table.splitlines()
    assert lines[0].split() == ["dtype", "error", "ratio"]
    assert set(lines[1].replace(" ", "")) == {"-"}
    assert lines[2].split() == ["float16", "1.50e-04", "2.00"]
    assert lines[3].split() == ["float32", "0", "12.35"]
    starts = [line.index(line.split()[1]) for line in lines[2:]]
    assert starts[0] == starts[1] == lines[0].index("error")
    with pytest.raises(ValueError):
        report.format_table(["a", "b"], [["only one"]])


def test_summary_marks_errors_beyond_tolerance():
    results = [
        {"dtype": "float32", "config": "a", "errors": {"output": 1e-7, "grad_input": 2e-7}},
        {"dtype": "float32", "config": "b", "errors": {"output": 3e-3, "grad_input": 1e-7}},
        {"dtype": "float16", "config": "c", "errors": {"output": 1e-4, "grad_input": 1e-4}},
    ]
    headers, rows = report.summarize_errors(results)
    by_dtype = {row[0]: dict(zip(headers, row)) for row in rows}
    assert by_dtype["float32"]["verdict"] == "FAIL"
    assert by_dtype["float32"]["worst config"] == "b"
    assert by_dtype["float32"]["output"] == 3e-3
    assert by_dtype["float16"]["verdict"] == "ok"
    assert by_dtype["float16"]["configs"] == "1"
