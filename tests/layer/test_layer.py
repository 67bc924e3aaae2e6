"""tf_conv1d_op.Conv1D against the stock keras.layers.Conv1D.

Runs under whichever Keras tf.keras is: Keras 3, or tf-keras with
TF_USE_LEGACY_KERAS=1 (scripts/test.sh runs these files both ways).
"""
import inspect
import itertools
import warnings

import numpy as np
import pytest
import tensorflow as tf

import tf_conv1d_op
from tf_conv1d_op import _xla_support
from tf_conv1d_op.layers import activation_fusion
from tests.support import reference
from tests.support.layer_support import (IS_KERAS_3, keras, outputs_and_grads, rng_for,
                                 stock_and_ours)

GEOMETRIES = [(1, 1), (2, 1), (3, 1), (1, 2), (1, 3)]  # (stride, dilation), stock-legal
PADDINGS = ["valid", "same", "causal"]


def random_case(rng, data_format="channels_last"):
    batch, steps, channels = rng.integers(1, 4), rng.integers(12, 30), rng.integers(1, 6)
    shape = (batch, steps, channels) if data_format == "channels_last" else (
        batch, channels, steps)
    return rng.standard_normal(shape), int(rng.integers(1, 7)), int(rng.integers(1, 5))


def assert_close(actual, expected, rtol, what=""):
    error = reference.max_relative_error(actual, expected)
    assert error < rtol, f"{what}: relative error {error:.2e} >= {rtol:.0e}"


def test_signature_is_the_documented_one():
    parameters = list(inspect.signature(tf_conv1d_op.Conv1D).parameters.values())
    expected = [
        ("filters", inspect.Parameter.empty), ("kernel_size", inspect.Parameter.empty),
        ("strides", 1), ("padding", "valid"), ("data_format", "channels_last"),
        ("dilation_rate", 1), ("activation", None), ("use_bias", True),
        ("kernel_initializer", "glorot_uniform"), ("bias_initializer", "zeros"),
        ("kernel_regularizer", None), ("bias_regularizer", None),
        ("activity_regularizer", None), ("kernel_constraint", None),
        ("bias_constraint", None)]
    assert [(p.name, p.default) for p in parameters[:-1]] == expected
    assert all(p.kind == p.POSITIONAL_OR_KEYWORD for p in parameters[:-1])
    assert parameters[-1].name == "kwargs" and parameters[-1].kind == inspect.Parameter.VAR_KEYWORD
    assert issubclass(tf_conv1d_op.Conv1D, keras.layers.Layer)
    assert {"Conv1D", "replace_conv1d"} <= set(tf_conv1d_op.__all__)


def check_against_stock(padding, stride, dilation, use_bias, data_format, activation=None):
    """Ours in float32 against the stock layer in float64 with the same weights.

    The stock layer cannot run channels_first in float64 on the CPU: there it
    sees the transposed input and its output is transposed back.
    """
    rng = rng_for(padding, stride, dilation, use_bias, data_format, activation_id(activation))
    x, filters, kernel_size = random_case(rng, data_format)
    config = dict(filters=filters, kernel_size=kernel_size, strides=stride,
                  dilation_rate=dilation, padding=padding, use_bias=use_bias,
                  bias_initializer="glorot_uniform", activation=activation)
    ours = tf_conv1d_op.Conv1D(data_format=data_format, **config)
    ours.build(x.shape)
    # Weights from the case's own generator: the initializers draw from
    # Keras' global one, which depends on the tests that ran before.
    kernel_shape = ours.kernel.shape
    ours.set_weights([rng.standard_normal(kernel_shape) / np.sqrt(np.prod(kernel_shape[:2]))] +
                     ([rng.standard_normal(filters)] if use_bias else []))
    stock = keras.layers.Conv1D(dtype="float64", **config)
    to_nwc = (lambda a: a) if data_format == "channels_last" else (
        lambda a: np.transpose(a, [0, 2, 1]))
    stock.build(to_nwc(x).shape)
    stock.set_weights(ours.get_weights())

    y_ours = ours(x.astype(np.float32))
    cotangent = rng.standard_normal(y_ours.shape)
    got = outputs_and_grads(ours, x.astype(np.float32), cotangent)
    want = outputs_and_grads(stock, to_nwc(x), to_nwc(cotangent))
    want = [to_nwc(want[0]), to_nwc(want[1])] + want[2:]
    assert len(got) == len(want) == (4 if use_bias else 3)
    # Gradients are sums that can cancel, so the float32 gradient tolerance is
    # the grid's (1e-4): at 2e-5 a d bias of 2.5e-5 failed once in CI, with
    # weights the global generator had drawn.
    for name, g, w in zip(["output", "d input", "d kernel", "d bias"], got, want):
        assert_close(g, w, 2e-5 if name == "output" else 1e-4, name)


@pytest.mark.parametrize("padding,stride,dilation,use_bias,data_format", [
    (p, s, d, b, f) for p, (s, d), b, f in itertools.product(
        PADDINGS, GEOMETRIES, [True, False], ["channels_last", "channels_first"])])
def test_outputs_and_gradients_match_stock(padding, stride, dilation, use_bias, data_format):
    check_against_stock(padding, stride, dilation, use_bias, data_format)



def _standardize(kernel):
    mean, variance = tf.nn.moments(kernel, axes=[0, 1], keepdims=True)
    return (kernel - mean) / tf.sqrt(variance + 1e-5)


class StandardizedConv1D(tf_conv1d_op.Conv1D):
    """Overrides convolution_op to transform the kernel, the pattern Keras'
    documentation shows for its convolutions."""

    def convolution_op(self, inputs, kernel):
        return super().convolution_op(inputs, _standardize(kernel))


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_convolution_op_and_subclasses_that_override_it(data_format):
    rng = rng_for("convolution_op", data_format)
    op_format = "NWC" if data_format == "channels_last" else "NCW"
    shape = (2, 11, 3) if data_format == "channels_last" else (2, 3, 11)
    config = dict(filters=4, kernel_size=3, strides=2, padding="same", activation="gelu",
                  data_format=data_format)
    x = rng.standard_normal(shape).astype(np.float32)
    layer = StandardizedConv1D(**config)
    layer.build(shape)
    layer.set_weights([rng.standard_normal(w.shape) for w in layer.get_weights()])
    kernel, bias = layer.get_weights()
    geometry = dict(stride=2, padding="SAME", data_format=op_format)
    # The base class's convolution_op: the convolution alone.
    np.testing.assert_allclose(
        tf_conv1d_op.Conv1D.convolution_op(layer, tf.constant(x), layer.kernel),
        reference.conv1d(x, kernel, None, **geometry), rtol=1e-5, atol=1e-5)

    # call uses the subclass's, then adds the bias and the activation.
    # (Keras 3's stock Conv1D ignores the override, its Conv2D and tf-keras'
    # Conv1D use it: docs/layer.md.)
    cotangent = rng.standard_normal(layer.compute_output_shape(shape))
    watched = [tf.constant(v, tf.float64) for v in (x, kernel, bias)]
    with tf.GradientTape() as tape:
        tape.watch(watched)
        y = reference.conv1d(watched[0], _standardize(watched[1]), watched[2], **geometry,
                             activation="gelu")
        loss = tf.reduce_sum(y * cotangent)
    want = [y] + tape.gradient(loss, [watched[0], watched[2], watched[1]])
    got = outputs_and_grads(layer, x, cotangent)  # y, dx, then trainable: kernel, bias
    got[2:] = got[3], got[2]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-4)
    causal = StandardizedConv1D(4, 3, padding="causal", data_format=data_format)
    with pytest.raises(ValueError, match="convolution_op"):
        causal(x, return_state=True)

def _activation_cases():
    names = ["linear", "relu", "relu6", "leaky_relu", "elu", "selu", "gelu", "silu",
             "swish", "sigmoid", "hard_sigmoid", "tanh", "softplus", "mish", "softsign",
             "exponential", "hard_silu"]
    cases = []
    for name in names:
        try:
            keras.activations.get(name)
        except ValueError:  # not in this Keras version
            continue
        cases.append(name)
    return cases + [None, tf.nn.relu, tf.nn.leaky_relu, lambda v: 2.0 * tf.sin(v)]


def activation_id(activation):
    if isinstance(activation, str) or activation is None:
        return str(activation)
    return f"{getattr(activation, '__module__', '')}.{getattr(activation, '__name__', 'fn')}"


@pytest.mark.parametrize("padding,stride,dilation", [
    (p, s, d) for p, (s, d) in itertools.product(PADDINGS, GEOMETRIES)])
@pytest.mark.parametrize("activation", _activation_cases(), ids=activation_id)
def test_every_activation_with_every_geometry(activation, padding, stride, dilation):
    """The activation is elementwise after the convolution; the data format and
    bias combinations are covered above."""
    check_against_stock(padding, stride, dilation, True, "channels_last", activation)


@pytest.mark.parametrize("activation", _activation_cases(), ids=activation_id)
def test_every_activation_matches_stock(activation):
    rng = rng_for(activation_id(activation))
    x = 2.0 * rng.standard_normal((3, 21, 4))
    stock, ours = stock_and_ours(x.shape, dtype="float64", filters=5, kernel_size=3,
                                 padding="causal", activation=activation,
                                 bias_initializer="glorot_uniform")
    ours32 = tf_conv1d_op.Conv1D(5, 3, padding="causal", activation=activation)
    ours32.build(x.shape)
    ours32.set_weights(stock.get_weights())
    cotangent = rng.standard_normal((3, 21, 5))
    want = outputs_and_grads(stock, x, cotangent)
    # The stock gelu (tf.nn.gelu) rounds its constants to float32 precision even
    # in float64 (see tests/support/reference.py); ours does not.
    rtol64 = 1e-7 if activation == "gelu" else 1e-12
    for layer, rtol in [(ours, rtol64), (ours32, 2e-5)]:
        got = outputs_and_grads(layer, x.astype(layer.compute_dtype), cotangent)
        for name, g, w in zip(["output", "d input", "d kernel", "d bias"], got, want):
            assert_close(g, w, rtol, f"{layer.compute_dtype} {name}")


KERAS_3_FUSED = {"linear": "linear", "relu": "relu", "relu6": "relu6",
                 "leaky_relu": "leaky_relu", "elu": "elu", "selu": "selu", "gelu": "gelu",
                 "silu": "silu", "swish": "silu", "sigmoid": "sigmoid",
                 "hard_sigmoid": "hard_sigmoid", "tanh": "tanh", "softplus": "softplus"}


def test_which_activations_are_fused():
    fused = {name: activation_fusion.fused_name(keras.activations.get(name))
             for name in _activation_cases() if isinstance(name, str)}
    expected = dict(KERAS_3_FUSED)
    if not IS_KERAS_3:
        # tf-keras' hard_sigmoid is clip(0.2 x + 0.5): not the op's, applied after.
        del expected["hard_sigmoid"]
        assert fused["hard_sigmoid"] is None
    assert {k: v for k, v in fused.items() if v} == expected
    assert fused["mish"] is None
    assert activation_fusion.fused_name(None) is None
    assert activation_fusion.fused_name(lambda v: v) is None


def test_fusion_check_rejects_a_different_definition():
    def keras2_hard_sigmoid(x):
        return tf.clip_by_value(0.2 * x + 0.5, 0.0, 1.0)

    assert not activation_fusion._matches(keras2_hard_sigmoid, "hard_sigmoid")
    assert not activation_fusion._matches(lambda x: tf.nn.leaky_relu(x, 0.3), "leaky_relu")
    assert activation_fusion._matches(lambda x: tf.nn.relu6(x + 3.0) / 6.0, "hard_sigmoid")


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_matches_stock(policy):
    rng = rng_for(policy)
    x = rng.standard_normal((2, 24, 6)).astype(np.float32)
    stock, ours = stock_and_ours(x.shape, dtype=policy, filters=8, kernel_size=3,
                                 padding="same", activation="relu")
    assert [w.dtype for w in ours.weights] == [w.dtype for w in stock.weights]
    assert all(tf.as_dtype(w.dtype) == tf.float32 for w in ours.weights)
    y_stock, y_ours = stock(x), ours(x)
    assert y_ours.dtype == y_stock.dtype == tf.as_dtype(policy.split("_")[1])
    tolerance = 1e-2 if policy == "mixed_float16" else 5e-2
    assert_close(y_ours, y_stock, tolerance, "output")
    cotangent = rng.standard_normal(y_ours.shape)
    for name, g, w in zip(["output", "d input", "d kernel", "d bias"],
                          outputs_and_grads(ours, x, cotangent),
                          outputs_and_grads(stock, x, cotangent)):
        assert_close(g, w, tolerance, name)


def test_tf_function_and_variable_steps():
    inputs = keras.Input((None, 3))
    outputs = tf_conv1d_op.Conv1D(4, 3, padding="causal", dilation_rate=2)(inputs)
    assert tuple(outputs.shape) == (None, None, 4)
    model = keras.Model(inputs, outputs)
    stock_model = keras.Sequential([keras.Input((None, 3)),
                                    keras.layers.Conv1D(4, 3, padding="causal",
                                                        dilation_rate=2)])
    stock_model.set_weights(model.get_weights())
    call = tf.function(lambda v: model(v),
                       input_signature=[tf.TensorSpec([None, None, 3], tf.float32)])
    for steps in (1, 7, 30):
        x = rng_for(steps).standard_normal((2, steps, 3)).astype(np.float32)
        np.testing.assert_allclose(call(x), stock_model(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("padding,stride,dilation", [
    ("valid", 1, 1), ("same", 2, 1), ("causal", 1, 3), ("causal", 2, 2), ("valid", 3, 2)])
def test_batch_zero(padding, stride, dilation):
    layer = tf_conv1d_op.Conv1D(5, 3, strides=stride, dilation_rate=dilation,
                                padding=padding)
    expected = layer.compute_output_shape((0, 17, 2))
    steps = reference.output_length_and_left_pad(17, 3, stride, dilation,
                                                 padding.upper())[0]
    assert tuple(expected) == (0, steps, 5)
    assert tuple(layer(tf.zeros([0, 17, 2])).shape) == (0, steps, 5)
    traced = tf.function(lambda v: layer(v),
                         input_signature=[tf.TensorSpec([None, None, 2], tf.float32)])
    assert tuple(traced(tf.zeros([0, 17, 2])).shape) == (0, steps, 5)


def test_float64():
    x = rng_for("f64").standard_normal((2, 15, 3))
    stock, ours = stock_and_ours(x.shape, dtype="float64", filters=4, kernel_size=4,
                                 strides=2, padding="same", activation="selu")
    assert all(tf.as_dtype(w.dtype) == tf.float64 for w in ours.weights)
    y = ours(x)
    assert y.dtype == tf.float64
    np.testing.assert_allclose(y, stock(x), rtol=1e-12, atol=1e-12)


def _regression_data(seed, n=32, steps=20, channels=3):
    rng = rng_for("data", seed)
    return (rng.standard_normal((n, steps, channels)).astype(np.float32),
            rng.standard_normal((n, 1)).astype(np.float32))


def _model(conv, constraints=False):
    extra = dict(kernel_constraint=keras.constraints.NonNeg(),
                 bias_constraint=keras.constraints.MaxNorm(0.5)) if constraints else {}
    return keras.Sequential([
        keras.Input((20, 3)),
        conv(6, 3, padding="causal", activation="relu", **extra),
        conv(4, 3, strides=2, activation="tanh"),
        keras.layers.GlobalAveragePooling1D(),
        keras.layers.Dense(1),
    ])


@pytest.mark.parametrize("constraints", [False, True])
def test_fit_with_default_compile_matches_stock(constraints):
    """model.fit after compile() with its defaults (Keras 3: jit_compile="auto")
    trains to the same weights as the stock model."""
    x, y = _regression_data(0)
    stock = _model(keras.layers.Conv1D, constraints)
    ours = _model(tf_conv1d_op.Conv1D, constraints)
    ours.set_weights(stock.get_weights())
    for model in (stock, ours):
        model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
        model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    for w_ours, w_stock in zip(ours.get_weights(), stock.get_weights()):
        np.testing.assert_allclose(w_ours, w_stock, rtol=1e-4, atol=1e-5)
    if constraints:
        assert (ours.layers[0].kernel.numpy() >= 0).all()
    if IS_KERAS_3:  # tf-keras layers have no supports_jit
        assert all(layer.supports_jit == _xla_support.can_compile()
                   for layer in ours.layers[:2])


@pytest.mark.skipif(not IS_KERAS_3, reason="jit_compile='auto' and supports_jit are Keras 3's")
def test_keras_keeps_xla_where_the_op_compiles():
    """jit_compile=True is what "auto" resolves to when a GPU is visible; Keras
    turns it off (with a warning) for a model with a layer that does not
    support XLA: ours supports it wherever XLA can compile the op (a library
    with its XLA kernels, or the composite implementation)."""
    compiled = []
    for conv in (tf_conv1d_op.Conv1D, keras.layers.Conv1D):
        model = _model(conv)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.compile(optimizer="adam", loss="mse", jit_compile=True)
        compiled.append(model.jit_compile)
    assert compiled == [_xla_support.can_compile(), True]


def test_regularizers_add_the_same_losses():
    x = rng_for("reg").standard_normal((2, 12, 3)).astype(np.float32)
    config = dict(filters=4, kernel_size=3, kernel_regularizer=keras.regularizers.L2(0.1),
                  bias_regularizer=keras.regularizers.L1(0.2),
                  activity_regularizer=keras.regularizers.L2(0.01),
                  bias_initializer="ones")
    models = [keras.Sequential([keras.Input((12, 3)), conv(**config)])
              for conv in (keras.layers.Conv1D, tf_conv1d_op.Conv1D)]
    models[1].set_weights(models[0].get_weights())
    losses = []
    for model in models:
        model(x)
        losses.append(sorted(float(v) for v in model.losses))
    assert len(losses[1]) == 3
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-5)


def test_weights_names_and_shapes():
    stock, ours = stock_and_ours((2, 10, 3), filters=7, kernel_size=4)
    assert [w.shape for w in ours.weights] == [(4, 3, 7), (7,)]
    assert [w.shape for w in ours.weights] == [w.shape for w in stock.weights]
    assert ([w.name.split("/")[-1] for w in ours.weights] ==
            [w.name.split("/")[-1] for w in stock.weights])
    assert ours.kernel is ours.weights[0] or ours.kernel.shape == (4, 3, 7)
    no_bias = tf_conv1d_op.Conv1D(2, 3, use_bias=False)
    no_bias.build((1, 5, 3))
    assert len(no_bias.weights) == 1 and no_bias.bias is None


def test_initializers_follow_the_config():
    layer = tf_conv1d_op.Conv1D(3, 2, kernel_initializer="ones",
                                bias_initializer=keras.initializers.Constant(0.5))
    layer.build((1, 4, 2))
    np.testing.assert_array_equal(layer.get_weights()[0], np.ones((2, 2, 3)))
    np.testing.assert_array_equal(layer.get_weights()[1], np.full(3, 0.5))


def test_input_spec():
    layer = tf_conv1d_op.Conv1D(3, 2)
    with pytest.raises(ValueError, match="ndim|rank"):
        layer(tf.zeros([4, 5]))
    layer(tf.zeros([1, 5, 2]))
    with pytest.raises(ValueError, match="axis -1.*value 2"):
        layer(tf.zeros([1, 5, 3]))
    channels_first = tf_conv1d_op.Conv1D(3, 2, data_format="channels_first")
    channels_first(tf.zeros([1, 2, 5]))
    with pytest.raises(ValueError, match="axis -2.*value 2"):
        channels_first(tf.zeros([1, 3, 5]))
    with pytest.raises(ValueError, match="channel dimension"):
        tf_conv1d_op.Conv1D(3, 2).build((None, 5, None))


@pytest.mark.parametrize("steps,padding,stride,dilation", [
    (n, p, s, d) for n, p, (s, d) in itertools.product([None, 1, 9, 16], PADDINGS, GEOMETRIES)])
def test_compute_output_shape_matches_stock(steps, padding, stride, dilation):
    config = dict(filters=5, kernel_size=3, strides=stride, dilation_rate=dilation,
                  padding=padding)
    stock, ours = keras.layers.Conv1D(**config), tf_conv1d_op.Conv1D(**config)
    shape = (None, steps, 2)
    try:
        want = stock.compute_output_shape(shape)
    except ValueError:
        with pytest.raises(ValueError, match="zero or negative"):
            ours.compute_output_shape(shape)
        return
    if padding == "valid" and steps == 1:
        # Keras 2's stock layer returns a non-positive length here; ours refuses.
        with pytest.raises(ValueError, match="zero or negative"):
            ours.compute_output_shape(shape)
        return
    assert tuple(ours.compute_output_shape(shape)) == tuple(want)
    if IS_KERAS_3:  # symbolic calls go through compute_output_spec
        stock_out = stock(keras.Input(shape[1:]))
        ours_out = ours(keras.Input(shape[1:]))
        assert tuple(ours_out.shape) == tuple(stock_out.shape)
        assert ours_out.dtype == stock_out.dtype


@pytest.mark.skipif(not IS_KERAS_3, reason="KerasTensor dtype from the policy: Keras 3")
def test_symbolic_output_dtype_follows_the_policy():
    out = tf_conv1d_op.Conv1D(2, 3, dtype="mixed_float16")(keras.Input((8, 3)))
    assert out.dtype == "float16"


@pytest.mark.parametrize("bad", [
    dict(filters=0), dict(filters=-1), dict(kernel_size=0), dict(kernel_size=(3, 3)),
    dict(kernel_size="a"), dict(strides=0), dict(padding="full"),
    dict(data_format="nwc")])
def test_argument_errors_like_stock(bad):
    config = {"filters": 4, "kernel_size": 3, **bad}
    with pytest.raises(ValueError) as stock_error:
        keras.layers.Conv1D(**config)
    with pytest.raises(ValueError) as ours_error:
        tf_conv1d_op.Conv1D(**config)
    assert stock_error.type is ours_error.type
    name = next(iter(bad))
    assert name in str(ours_error.value)


def test_our_own_argument_errors():
    with pytest.raises(ValueError, match="filters"):
        tf_conv1d_op.Conv1D(2.5, 3)
    with pytest.raises(ValueError, match="dilation_rate"):
        tf_conv1d_op.Conv1D(2, 3, dilation_rate=0)
    with pytest.raises(ValueError, match="Unknown activation|Could not interpret"):
        tf_conv1d_op.Conv1D(4, 3, activation="no_such_activation")
    with pytest.raises(ValueError, match="zero or negative"):
        tf_conv1d_op.Conv1D(4, 5)(tf.zeros([1, 4, 2]))


@pytest.mark.parametrize("make", [lambda: tf_conv1d_op.Conv1D(4, 3),
                                  lambda: tf_conv1d_op.DepthwiseConv1D(3),
                                  lambda: tf_conv1d_op.SeparableConv1D(4, 3)],
                         ids=["Conv1D", "DepthwiseConv1D", "SeparableConv1D"])
def test_refused_under_another_keras_backend(make, monkeypatch):
    """Under KERAS_BACKEND=jax (or torch, numpy) the layers cannot run their
    TensorFlow ops: constructing one says so, instead of failing on the first
    traced call."""
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    with pytest.raises(RuntimeError, match=r"TensorFlow backend.*'jax' backend \(KERAS_BACKEND\)"):
        make()
    monkeypatch.undo()
    make()


@pytest.mark.parametrize("padding", ["valid", "same", "causal"])
def test_extension_strides_with_dilation(padding):
    """The stock layer refuses strides > 1 with dilation > 1; ours computes it."""
    with pytest.raises(ValueError):
        keras.layers.Conv1D(4, 3, strides=2, dilation_rate=2)
    rng = rng_for("extension", padding)
    x = rng.standard_normal((2, 23, 3)).astype(np.float32)
    layer = tf_conv1d_op.Conv1D(4, 3, strides=2, dilation_rate=3, padding=padding,
                                activation="elu", bias_initializer="glorot_uniform")
    y = layer(x)
    kernel, bias = layer.get_weights()
    want = reference.conv1d(x, kernel, bias, 2, 3, padding.upper(), activation="elu")
    assert_close(y, want, 1e-5, "output")
    assert tuple(y.shape) == tuple(layer.compute_output_shape(x.shape))


def test_get_config_has_the_stock_keys_and_round_trips():
    config = dict(filters=4, kernel_size=3, strides=2, padding="causal",
                  activation="gelu", kernel_regularizer="l2", bias_constraint="non_neg",
                  name="conv")
    stock, ours = keras.layers.Conv1D(**config), tf_conv1d_op.Conv1D(**config)
    ours_config = ours.get_config()
    assert list(ours_config) == list(stock.get_config())
    assert ours_config == stock.get_config()
    again = tf_conv1d_op.Conv1D.from_config(ours_config)
    assert again.get_config() == ours_config


def test_from_config_accepts_a_stock_config():
    stock = keras.layers.Conv1D(6, 5, dilation_rate=2, padding="same", activation="relu",
                                use_bias=False, dtype="float64", name="from_stock")
    ours = tf_conv1d_op.Conv1D.from_config(stock.get_config())
    assert ours.get_config() == stock.get_config()
    assert ours.dtype == "float64"
    grouped = dict(stock.get_config(), groups=3)
    assert tf_conv1d_op.Conv1D.from_config(grouped).get_config() == grouped
    with pytest.raises(ValueError, match="groups=4"):  # not dividing the 6 filters
        tf_conv1d_op.Conv1D.from_config(dict(grouped, groups=4))


def test_registered_for_deserialization():
    config = keras.layers.serialize(tf_conv1d_op.Conv1D(2, 3, name="registered"))
    restored = keras.layers.deserialize(config)
    assert type(restored) is tf_conv1d_op.Conv1D
    assert keras.utils.get_registered_name(tf_conv1d_op.Conv1D) == "tf_conv1d_op>Conv1D"


def test_base_layer_keywords():
    layer = tf_conv1d_op.Conv1D(4, 3, input_shape=(10, 2), name="named", trainable=False)
    model = keras.Sequential([layer])
    assert model.output_shape == (None, 8, 4)
    assert layer.name == "named"
    assert not layer.trainable_weights and len(layer.non_trainable_weights) == 2


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_fit_under_a_global_mixed_precision_policy(policy):
    keras.mixed_precision.set_global_policy(policy)
    try:
        model = _model(tf_conv1d_op.Conv1D)
        model.compile(optimizer="adam", loss="mse")
        x, y = _regression_data(1)
        history = model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert np.isfinite(history.history["loss"]).all()
    conv = model.layers[0]
    assert conv.compute_dtype == policy.split("_")[1] and conv.kernel.dtype == "float32"
    assert model.layers[1](model.layers[0](x)).dtype == tf.as_dtype(policy.split("_")[1])
