"""The Python wrapper's conventions, graph mode, and the library loader."""
import numpy as np
import pytest
import tensorflow as tf

import tf_conv1d_op
from tf_conv1d_op import _library
from tests.support import reference


def random(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def test_exports():
    assert set(tf_conv1d_op.FUSED_ACTIVATIONS) == set(reference.ACTIVATIONS)
    assert tf_conv1d_op.build_info()["tensorflow_version"] == tf.__version__


@pytest.mark.parametrize("stride,dilations,data_format", [
    ([2], [3], "NWC"), ([1, 2, 1], [1, 3, 1], "NWC"), ([1, 1, 2], [1, 1, 3], "NCW")])
def test_list_strides_and_dilations_like_tf_nn_conv1d(stride, dilations, data_format):
    x = random(2, 20, 3) if data_format == "NWC" else random(2, 3, 20)
    w = random(3, 3, 4, seed=1)
    got = tf_conv1d_op.fused_conv1d(x, w, stride=stride, dilations=dilations,
                                    padding="same", data_format=data_format)
    want = reference.conv1d(x, w, None, 2, 3, "SAME", data_format)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("alias,name", [("swish", "silu"), (None, "linear"),
                                        ("gelu_approximate", "gelu_tanh")])
def test_activation_aliases(alias, name):
    x, w = random(2, 9, 3), random(2, 3, 4, seed=1)
    np.testing.assert_array_equal(tf_conv1d_op.fused_conv1d(x, w, activation=alias),
                                  tf_conv1d_op.fused_conv1d(x, w, activation=name))


def test_leaky_relu_slope():
    x, w = random(2, 9, 3), random(2, 3, 4, seed=1)
    for slope in (0.2, 0.01, -0.5):
        got = tf_conv1d_op.fused_conv1d(x, w, activation="leaky_relu", negative_slope=slope)
        want = reference.conv1d(x, w, None, activation="leaky_relu", negative_slope=slope)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_negative_slope_gradient_uses_preactivation():
    # With a negative slope the output does not determine the branch.
    x = tf.constant(random(2, 9, 3), tf.float64)
    w = tf.constant(random(2, 3, 4, seed=1), tf.float64)
    dy = random(2, 8, 4, seed=2).astype(np.float64)
    with tf.GradientTape() as tape:
        tape.watch([x, w])
        y = tf_conv1d_op.fused_conv1d(x, w, activation="leaky_relu", negative_slope=-0.5)
        loss = tf.reduce_sum(y * dy)
    dx, dw = tape.gradient(loss, [x, w])
    (_, want_dx, want_dw, _), _ = reference.conv1d_and_grads(
        x.numpy(), w.numpy(), None, dy, activation="leaky_relu", negative_slope=-0.5)
    np.testing.assert_allclose(dx, want_dx, rtol=1e-10)
    np.testing.assert_allclose(dw, want_dw, rtol=1e-10)


def test_static_output_shape_is_inferred():
    @tf.function(input_signature=[tf.TensorSpec([None, 100, 3])])
    def f(x):
        y = tf_conv1d_op.fused_conv1d(x, tf.ones([5, 3, 8]), stride=3, padding="VALID")
        assert y.shape.as_list() == [None, 32, 8], y.shape
        return y
    assert f(random(2, 100, 3)).shape == (2, 32, 8)


def test_variable_steps_and_gradient_under_tf_function():
    w = tf.Variable(random(3, 3, 4, seed=1))
    b = tf.Variable(random(4, seed=2))

    @tf.function(input_signature=[tf.TensorSpec([None, None, 3])])
    def step(x):
        with tf.GradientTape() as tape:
            y = tf_conv1d_op.fused_conv1d(x, w, b, padding="causal", activation="gelu")
            loss = tf.reduce_sum(y * y)
        return y, tape.gradient(loss, [w, b])

    for steps in (1, 5, 17):
        x = random(2, steps, 3, seed=steps)
        y, (dw, db) = step(x)
        with tf.GradientTape() as tape:
            wt, bt = tf.constant(w.numpy(), tf.float64), tf.constant(b.numpy(), tf.float64)
            tape.watch([wt, bt])
            yr = reference.conv1d(x, wt, bt, padding="CAUSAL", activation="gelu")
            loss = tf.reduce_sum(yr * yr)
        want_dw, want_db = tape.gradient(loss, [wt, bt])
        np.testing.assert_allclose(y, yr, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(dw, want_dw, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(db, want_db, rtol=1e-4, atol=1e-4)


def test_batch_zero_under_tf_function_keeps_causal_shape():
    # The stock causal Conv1D gets this shape wrong under tf.function.
    @tf.function(input_signature=[tf.TensorSpec([None, None, 3])])
    def f(x):
        return tf_conv1d_op.fused_conv1d(x, tf.ones([3, 3, 4]), padding="causal", stride=2)
    assert f(tf.zeros([0, 9, 3])).shape == (0, 5, 4)


def test_preactivation_output_only_where_needed():
    x, w = random(2, 9, 3), random(2, 3, 4, seed=1)
    b = tf.zeros([0])
    for activation, kept in (("relu", False), ("gelu", True), ("silu", True)):
        y, z = _library.ops.fused_conv1d(x, w, b, padding="VALID", activation=activation)
        assert z.shape == (y.shape if kept else (0,))


# The slopes around zero the kernels read as negative or not (subnormals are
# zero in float32, conv1d::CanonicalNegativeSlope).
_SLOPES = (0.2, 0.0, -0.5, -1e-40, -2.0**-126, -2.0**-127)


@pytest.mark.parametrize("activation", reference.ACTIVATIONS)
def test_python_reads_the_kernels_preactivation_rule(activation):
    # Python's rule comes from the library's table; the kernel decides on its
    # own whether to write the preactivation output: the two must agree.
    x, w, b = random(1, 5, 2), random(2, 2, 3, seed=1), tf.zeros([0])
    for slope in _SLOPES:
        y, z = _library.ops.fused_conv1d(x, w, b, padding="VALID", activation=activation,
                                         negative_slope=slope)
        kept = z.shape == y.shape
        assert tf_conv1d_op.activations.needs_preactivation(activation, slope) == kept


def test_op_lists_the_tables_in_its_definition():
    assert set(tf_conv1d_op.ops.SUPPORTED_DTYPES) == {tf.float16, tf.bfloat16, tf.float32,
                                                      tf.float64}
    doc = _library.ops.fused_conv1d.__doc__
    assert "one of " + ", ".join(reference.ACTIVATIONS) + "." in doc
    assert "(gelu, gelu_tanh, silu, leaky_relu with a negative slope)" in doc


def test_causal_output_never_sees_the_future():
    x = random(1, 30, 2)
    w = random(4, 2, 3, seed=1)
    base = tf_conv1d_op.fused_conv1d(x, w, padding="causal", dilations=2).numpy()
    for t in (0, 10, 29):
        changed = x.copy()
        changed[:, t + 1:] += 100.0
        y = tf_conv1d_op.fused_conv1d(changed, w, padding="causal", dilations=2).numpy()
        np.testing.assert_array_equal(y[:, :t + 1], base[:, :t + 1])
        if t < 29:
            assert not np.array_equal(y[:, t + 1:], base[:, t + 1:])


def test_loader_refuses_other_tensorflow_version(monkeypatch):
    monkeypatch.setattr(_library, "build_info",
                        lambda: {"tensorflow_version": "2.99.0"})
    with pytest.raises(ImportError, match=r"built for TensorFlow 2\.99\.0.*pip install"):
        _library.load()


def test_loader_explains_missing_library(monkeypatch, tmp_path):
    # The Bazel test run points the loader at its own library; undo that here.
    monkeypatch.delenv(_library.LIBRARY_OVERRIDE_ENV, raising=False)
    monkeypatch.setattr(_library, "_HERE", str(tmp_path))
    with pytest.raises(ImportError, match=r"missing.*pip install --no-build-isolation"):
        _library.load()
