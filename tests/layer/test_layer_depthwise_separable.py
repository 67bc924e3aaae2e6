"""tf_conv1d_op.DepthwiseConv1D and SeparableConv1D against the float64
reference and the stock keras.layers ones: outputs and all gradients over a
grid of paddings, layouts, strides, dilations, multipliers and bias,
activations and sizes drawn per case; then what the stock layers do (config,
weights and checkpoints, files, training, mixed precision, replace_conv1d /
to_stock, exports), streaming, and the argument errors. Each test runs for
both layers.

The reference is the dense float64 reference (tests/support/reference.py,
no code shared with the layers) with groups = channels and the depthwise
kernel in the op's layout, then for the separable layer the pointwise
convolution; its gradients are TensorFlow's autodiff through it. Runs under
Keras 3 and tf-keras (scripts/test.sh runs tests/layer/test_layer*.py both
ways). Grid: a sample in CI, every case with TF_CONV1D_FULL_GRID=1.
"""
import collections
import inspect
import itertools
import os
import zlib

import numpy as np
import pytest
import tensorflow as tf

import tf_conv1d_op
from python.gpu_check.grids import OP_TOLERANCES
from tf_conv1d_op import portable
from tests.support import reference
from tests.support.layer_support import IS_KERAS_3, keras, outputs_and_grads, rng_for

Kind = collections.namedtuple("Kind", "ours stock composite paddings")
KINDS = {
    "depthwise": Kind(tf_conv1d_op.DepthwiseConv1D, keras.layers.DepthwiseConv1D,
                      portable.CompositeDepthwiseConv1D, ("valid", "same")),
    "separable": Kind(tf_conv1d_op.SeparableConv1D, keras.layers.SeparableConv1D,
                      portable.CompositeSeparableConv1D, ("valid", "same", "causal")),
}
FULL_GRID = os.environ.get("TF_CONV1D_FULL_GRID") == "1"
GRID = [(kind, *case) for kind in KINDS for case in itertools.product(
    KINDS[kind].paddings, ("channels_last", "channels_first"), [(1, 1), (2, 1), (1, 3), (2, 2)],
    (1, 2, 3), (True, False))]
# Every 5th case: 5 is prime to every factor's size, so the sample holds each value.
CASES = GRID if FULL_GRID else GRID[::5]
ACTIVATIONS = ["linear", "relu", "silu", "gelu", "tanh", "elu", "sigmoid"]
OP_FORMAT = {"channels_last": "NWC", "channels_first": "NCW"}


def stock_computes(kind, config):
    """Whether the running Keras' stock layer takes this config."""
    if kind == "separable" and IS_KERAS_3 and config["padding"] == "causal":
        return False
    return IS_KERAS_3 or config["strides"] == 1 or config["dilation_rate"] == 1


@pytest.mark.parametrize("kind", KINDS)
def test_signature_is_the_stock_one(kind):
    ours, stock = (inspect.signature(c) for c in (KINDS[kind].ours, KINDS[kind].stock))
    assert [(p.name, p.default, p.kind) for p in ours.parameters.values()] == [
        (p.name, p.default, p.kind) for p in stock.parameters.values()]
    assert KINDS[kind].ours.__name__ in tf_conv1d_op.__all__


def draw(kind, padding, data_format, geometry, multiplier, use_bias, dtype="float32"):
    """Our layer of `kind`, built with random weights, and (x, cotangent, config)."""
    stride, dilation = geometry
    rng = np.random.default_rng(zlib.crc32(repr((kind, padding, data_format, geometry,
                                                 multiplier, use_bias)).encode()))
    channels, kernel_size = int(rng.integers(1, 9)), int(rng.integers(1, 6))
    steps = (kernel_size - 1) * dilation + 1 + int(rng.integers(0, 14))
    config = dict(kernel_size=kernel_size, strides=stride, padding=padding,
                  depth_multiplier=multiplier, data_format=data_format, dilation_rate=dilation,
                  activation=ACTIVATIONS[int(rng.integers(len(ACTIVATIONS)))],
                  use_bias=use_bias, dtype=dtype)
    if kind == "separable":
        config["filters"] = int(rng.integers(1, 7))
    shape = (3, steps, channels) if data_format == "channels_last" else (3, channels, steps)
    layer = KINDS[kind].ours(**config)
    layer.build(shape)
    layer.set_weights([rng.standard_normal(w.shape) for w in layer.get_weights()])
    x = rng.standard_normal(shape)
    cotangent = rng.standard_normal(layer.compute_output_shape(shape))
    return layer, x.astype(dtype), cotangent, config


def reference_outputs_and_grads(layer, x, cotangent, config):
    """The float64 reference's output and gradients (input, then the
    trainable weights in the layer's order), as outputs_and_grads returns."""
    watched = [tf.constant(v, tf.float64) for v in [x] + layer.get_weights()]
    x64, depthwise, *rest = watched
    k, channels, multiplier = depthwise.shape
    pointwise = rest.pop(0) if isinstance(layer, tf_conv1d_op.SeparableConv1D) else None
    bias = rest[0] if rest else None
    geometry = dict(stride=config["strides"], dilation=config["dilation_rate"],
                    padding=config["padding"].upper(), data_format=OP_FORMAT[config["data_format"]],
                    groups=channels)
    with tf.GradientTape() as tape:
        tape.watch(watched)
        kernel = tf.reshape(depthwise, (k, 1, channels * multiplier))
        if pointwise is None:
            y = reference.conv1d(x64, kernel, bias, activation=config["activation"], **geometry)
        else:
            middle = reference.conv1d(x64, kernel, None, **geometry)
            y = reference.conv1d(middle, pointwise, bias, activation=config["activation"],
                                 data_format=geometry["data_format"])
        loss = tf.reduce_sum(y * cotangent)
    return [y.numpy()] + [g.numpy() for g in tape.gradient(loss, watched)]


def check_against_reference(layer, x, cotangent, config, dtype):
    got = outputs_and_grads(layer, x, cotangent)
    want = reference_outputs_and_grads(layer, x, cotangent, config)
    forward_tol, grad_tol = OP_TOLERANCES[dtype]
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want)):
        error = reference.max_relative_error(g, w)
        assert error <= (forward_tol if i == 0 else grad_tol), (i, error, config)


@pytest.mark.parametrize("kind,padding,data_format,geometry,multiplier,use_bias", CASES)
def test_outputs_and_gradients_against_the_reference(kind, padding, data_format, geometry,
                                                      multiplier, use_bias):
    layer, x, cotangent, config = draw(kind, padding, data_format, geometry, multiplier,
                                       use_bias)
    check_against_reference(layer, x, cotangent, config, "float32")


@pytest.mark.parametrize("kind", KINDS)
def test_float64(kind):
    padding = KINDS[kind].paddings[-1]
    layer, x, cotangent, config = draw(kind, padding, "channels_last", (1, 2), 2, True,
                                       "float64")
    check_against_reference(layer, x, cotangent, config, "float64")


def _stock_twin(kind, ours, shape, config):
    stock = KINDS[kind].stock(**config)
    stock.build(shape)
    stock.set_weights(ours.get_weights())
    return stock


@pytest.mark.parametrize("kind,padding,data_format,geometry,multiplier,use_bias", GRID[::13])
def test_same_as_the_stock_layer(kind, padding, data_format, geometry, multiplier, use_bias):
    ours, x, cotangent, config = draw(kind, padding, data_format, geometry, multiplier,
                                      use_bias)
    if not stock_computes(kind, config):
        pytest.skip("the stock layer refuses this configuration")
    stock = _stock_twin(kind, ours, x.shape, config)
    assert [w.name for w in ours.weights] == [w.name for w in stock.weights]
    # tf-keras' configs also hold its Conv1D's keys, which these layers do not use.
    unused = {"groups", "kernel_initializer", "kernel_regularizer", "kernel_constraint"}
    stock_config = {k: v for k, v in stock.get_config().items() if k not in unused}
    assert ours.get_config() == {**stock_config, "name": ours.name}
    for got, want in zip(outputs_and_grads(ours, x, cotangent),
                         outputs_and_grads(stock, x, cotangent)):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision(kind, policy):
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(policy)
    try:
        ours, x, cotangent, config = draw(kind, "same", "channels_last", (1, 1), 2, True,
                                          dtype=None)
        stock = _stock_twin(kind, ours, x.shape, {**config, "dtype": None})
    finally:
        keras.mixed_precision.set_global_policy(previous)
    assert ours.weights[0].dtype == "float32"
    y = ours(x)
    assert y.dtype == stock(x).dtype == keras.mixed_precision.Policy(policy).compute_dtype
    tolerance = 2e-2 if policy == "mixed_float16" else 1e-1
    np.testing.assert_allclose(np.asarray(y, np.float32), np.asarray(stock(x), np.float32),
                               rtol=tolerance, atol=tolerance)


def _model(kind, side, **extra):
    """Conv1D (kernel 1), then the `kind` layer of `side` ("ours", "stock",
    "composite") named "dw", then a pooling."""
    layer_class = getattr(KINDS[kind], side)
    first = (5,) if kind == "depthwise" else (7, 5)  # (kernel_size,) or (filters, kernel_size)
    config = dict(padding="same", depth_multiplier=2, activation="swish", name="dw")
    inputs = keras.Input((None, 4))
    h = keras.layers.Conv1D(6, 1, name="pointwise")(inputs)
    h = layer_class(*first, **{**config, **extra})(h)
    return keras.Model(inputs, keras.layers.GlobalAveragePooling1D()(h))


def _randomized(model, seed):
    rng = rng_for("weights", seed)
    model.set_weights([rng.standard_normal(w.shape) * 0.5 for w in model.get_weights()])
    return model


X = rng_for("x").standard_normal((2, 17, 4)).astype(np.float32)


@pytest.mark.parametrize("kind", KINDS)
def test_training_matches_the_stock_layer(kind):
    stock = _randomized(_model(kind, "stock"), ("fit", kind))
    ours = _model(kind, "ours")
    ours.set_weights(stock.get_weights())
    rng = rng_for("fit data")
    x, y = rng.standard_normal((8, 20, 4)), rng.standard_normal((8, ours.output_shape[-1]))
    for model in (stock, ours):
        model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
        model.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0)
    for got, want in zip(ours.get_weights(), stock.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("direction", ["stock to ours", "ours to stock"])
def test_checkpoints_and_weights_files_move_between_stock_and_ours(kind, direction, tmp_path):
    source_side, target_side = ("stock", "ours") if direction == "stock to ours" else (
        "ours", "stock")
    source = _randomized(_model(kind, source_side), (direction, kind))
    target = _model(kind, target_side)
    path = tf.train.Checkpoint(model=source).write(str(tmp_path / "ckpt"))
    tf.train.Checkpoint(model=target).read(path).assert_consumed()
    np.testing.assert_allclose(target(X), source(X), rtol=1e-5, atol=1e-5)
    fresh = _model(kind, target_side)
    weights = str(tmp_path / ("w.weights.h5" if IS_KERAS_3 else "w.h5"))
    source.save_weights(weights)
    fresh.load_weights(weights)
    np.testing.assert_allclose(fresh(X), source(X), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_model_file_round_trip(kind, tmp_path):
    model = _randomized(_model(kind, "ours"), ("file", kind))
    path = str(tmp_path / ("m.keras" if IS_KERAS_3 else "m.h5"))
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded.get_layer("dw")) is KINDS[kind].ours
    np.testing.assert_array_equal(loaded(X), model(X))


def _conversion_cases():
    cases = [(kind, dict(strides=s, dilation_rate=d)) for kind in KINDS
             for s, d in ((1, 1), (2, 2))]
    return cases + [("separable", dict(padding="causal"))]


@pytest.mark.parametrize("kind,extra", _conversion_cases(), ids=str)
def test_replace_conv1d_and_to_stock(kind, extra):
    config = {"padding": "same", "strides": 1, "dilation_rate": 1, **extra}
    if stock_computes(kind, config):
        old = _randomized(_model(kind, "stock", **extra), (kind, str(extra)))
        new, skipped = tf_conv1d_op.replace_conv1d(old, return_report=True)
        assert skipped == []
        assert type(new.get_layer("dw")) is KINDS[kind].ours
        assert type(new.get_layer("pointwise")) is tf_conv1d_op.Conv1D
        np.testing.assert_allclose(new(X), old(X), rtol=1e-5, atol=1e-5)
        old = new
    else:
        old = _randomized(_model(kind, "ours", **extra), (kind, str(extra)))
    back = tf_conv1d_op.to_stock(old)
    expected = KINDS[kind].stock if stock_computes(kind, config) else KINDS[kind].composite
    assert type(back.get_layer("dw")) is expected
    np.testing.assert_allclose(back(X), old(X), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_to_stock_keeps_channels_first_results(kind):
    """channels_first becomes the composite layer: Keras 3.15's stock layers add
    the bias along the steps axis on the CPU when the output has as many steps
    as channels, as here (5 channels x multiplier 2, or 8 filters)."""
    channels, steps = 5, 10 if kind == "depthwise" else 8
    first = (3,) if kind == "depthwise" else (8, 3)
    inputs = keras.Input((channels, steps))
    layer = KINDS[kind].ours(*first, padding="same", depth_multiplier=2,
                             data_format="channels_first", name="dw")
    ours = _randomized(keras.Model(inputs, layer(inputs)), ("channels_first", kind))
    x = rng_for("x", kind).standard_normal((2, channels, steps)).astype(np.float32)
    back = tf_conv1d_op.to_stock(ours)
    assert type(back.get_layer("dw")) is KINDS[kind].composite
    np.testing.assert_allclose(back(x), ours(x), rtol=1e-5, atol=1e-5)
    # The reference: the same layer in channels_last on the transposed input.
    last_inputs = keras.Input((steps, channels))
    last = keras.Model(last_inputs, KINDS[kind].ours(*first, padding="same", depth_multiplier=2)(
        last_inputs))
    last.set_weights(ours.get_weights())
    np.testing.assert_allclose(ours(x), np.transpose(last(np.transpose(x, (0, 2, 1))), (0, 2, 1)),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_a_subclass_of_the_stock_layer_is_kept_and_reported(kind):
    class Scaled(KINDS[kind].stock):
        def call(self, inputs):
            return 2.0 * super().call(inputs)

    Scaled.__name__ = "Scaled"
    inputs = keras.Input((None, 4))
    first = (5,) if kind == "depthwise" else (7, 5)
    old = keras.Model(inputs, Scaled(*first, name="dw")(inputs))
    with pytest.warns(UserWarning, match="Scaled"):
        new, skipped = tf_conv1d_op.replace_conv1d(old, return_report=True)
    assert [name for name, _ in skipped] == ["dw"]
    assert KINDS[kind].stock.__name__ in skipped[0][1]
    assert type(new.get_layer("dw")) is Scaled


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("portable_export", [False, True])
def test_exports(kind, portable_export, tmp_path):
    model = _randomized(_model(kind, "ours"), ("export", kind))
    path = tf_conv1d_op.export(model, str(tmp_path / "export"), portable=portable_export)
    assert bool(portable.plugin_ops_in(path)) is not portable_export
    loaded = tf.saved_model.load(path)  # kept: its functions need its variables
    serve = loaded.serve if IS_KERAS_3 else loaded.signatures["serving_default"]
    got = serve(tf.constant(X))
    got = got if IS_KERAS_3 else next(iter(got.values()))
    np.testing.assert_allclose(got, model(X), rtol=1e-5, atol=1e-5)


def test_a_causal_separable_layer_streams():
    """Chunk by chunk with the carried state, as a causal Conv1D (the state
    is the depthwise step's inputs)."""
    layer, x, _, _ = draw("separable", "causal", "channels_last", (1, 2), 2, True)
    whole = layer(x)
    state = layer.get_initial_state(x.shape[0])
    chunks = []
    for begin, end in ((0, 3), (3, 4), (4, x.shape[1])):
        y, state = layer(x[:, begin:end], initial_state=state, return_state=True)
        chunks.append(y)
    np.testing.assert_allclose(np.concatenate(chunks, axis=1), whole, rtol=1e-5, atol=1e-5)
    if IS_KERAS_3:
        inputs = keras.Input((None, x.shape[2]))
        model = keras.Model(inputs, layer(inputs))
        streaming = tf_conv1d_op.streaming_model(model)
        state = tf_conv1d_op.initial_states(streaming, x.shape[0])
        outputs = []
        for begin, end in ((0, 5), (5, x.shape[1])):
            y, *state = streaming([tf.constant(x[:, begin:end]), *state])
            outputs.append(y)
        np.testing.assert_allclose(np.concatenate(outputs, axis=1), whole, rtol=1e-5,
                                   atol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("bad", [
    {"depth_multiplier": 0}, {"depth_multiplier": -2}, {"depth_multiplier": 1.5},
    {"depth_multiplier": True}, {"padding": "full"}, {"kernel_size": 0},
    {"strides": (1, 1)}, {"dilation_rate": -1}], ids=str)
def test_argument_errors(kind, bad):
    first = {"kernel_size": 3} if kind == "depthwise" else {"filters": 4, "kernel_size": 3}
    name = next(iter(bad))
    with pytest.raises(ValueError, match=name):
        KINDS[kind].ours(**{**first, **bad})


def test_errors_of_one_layer():
    with pytest.raises(ValueError, match="padding"):
        tf_conv1d_op.DepthwiseConv1D(3, padding="causal")  # as the stock layer
    for filters in (0, 2.5, None):
        with pytest.raises(ValueError, match="filters"):
            tf_conv1d_op.SeparableConv1D(filters, 3)


@pytest.mark.parametrize("kind", KINDS)
def test_build_errors(kind):
    first = (3,) if kind == "depthwise" else (4, 3)
    with pytest.raises(ValueError, match="channel dimension"):
        KINDS[kind].ours(*first).build((2, 10, None))
    with pytest.raises(ValueError, match="zero or negative"):
        KINDS[kind].ours(*first[:-1], 5)(tf.zeros([1, 4, 2]))
    layer = KINDS[kind].ours(*first)
    layer(tf.zeros([1, 8, 2]))
    with pytest.raises(ValueError):
        layer(tf.zeros([1, 8, 3]))  # the channels are fixed at build


@pytest.mark.skipif(not tf_conv1d_op.build_info().get("xla_kernels"),
                    reason="this op library was built without XLA kernels")
@pytest.mark.parametrize("kind", KINDS)
def test_xla_gives_the_same_outputs_and_gradients(kind):
    layer, x, cotangent, _ = draw(kind, "same", "channels_last", (2, 1), 2, True)

    def outputs_and_gradients(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x)
            loss = tf.reduce_sum(y * tf.constant(cotangent, y.dtype))
        return [y] + tape.gradient(loss, [x] + layer.trainable_weights)

    x = tf.constant(x)
    for got, want in zip(tf.function(outputs_and_gradients, jit_compile=True)(x),
                         outputs_and_gradients(x)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
