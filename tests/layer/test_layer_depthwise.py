"""tf_conv1d_op.DepthwiseConv1D against the float64 reference and the stock
keras.layers.DepthwiseConv1D: outputs and the three gradients over a grid of
paddings, layouts, strides, dilations, multipliers and bias, activations
drawn per case; then what the stock layer does (config, weights and
checkpoints, files, training, mixed precision, replace_conv1d / to_stock,
exports) and the argument errors.

The reference is the dense float64 reference with groups = channels and the
kernel in the op's layout (tests/support/reference.py), which shares no code
with the layer. Runs under Keras 3 and tf-keras (scripts/test.sh runs
tests/layer/test_layer*.py both ways). Grid: a sample in CI, every case with
TF_CONV1D_FULL_GRID=1.
"""
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

FULL_GRID = os.environ.get("TF_CONV1D_FULL_GRID") == "1"
GRID = list(itertools.product(("valid", "same"), ("channels_last", "channels_first"),
                              [(1, 1), (2, 1), (1, 3), (2, 2)], (1, 2, 3), (True, False)))
# Every 5th case: 5 is prime to every factor's size, so the sample holds each value.
CASES = GRID if FULL_GRID else GRID[::5]
ACTIVATIONS = ["linear", "relu", "silu", "gelu", "tanh", "elu", "sigmoid"]
OP_FORMAT = {"channels_last": "NWC", "channels_first": "NCW"}


def test_signature_is_the_stock_one():
    ours = inspect.signature(tf_conv1d_op.DepthwiseConv1D)
    stock = inspect.signature(keras.layers.DepthwiseConv1D)
    assert [(p.name, p.default, p.kind) for p in ours.parameters.values()] == [
        (p.name, p.default, p.kind) for p in stock.parameters.values()]
    assert "DepthwiseConv1D" in tf_conv1d_op.__all__


def draw(padding, data_format, geometry, multiplier, use_bias, dtype="float32"):
    """Our layer, built with random weights, and (x, cotangent, config)."""
    stride, dilation = geometry
    rng = np.random.default_rng(zlib.crc32(repr((padding, data_format, geometry, multiplier,
                                                 use_bias)).encode()))
    channels, kernel_size = int(rng.integers(1, 9)), int(rng.integers(1, 6))
    steps = (kernel_size - 1) * dilation + 1 + int(rng.integers(0, 14))
    config = dict(kernel_size=kernel_size, strides=stride, padding=padding,
                  depth_multiplier=multiplier, data_format=data_format, dilation_rate=dilation,
                  activation=ACTIVATIONS[int(rng.integers(len(ACTIVATIONS)))],
                  use_bias=use_bias, dtype=dtype)
    shape = (3, steps, channels) if data_format == "channels_last" else (3, channels, steps)
    layer = tf_conv1d_op.DepthwiseConv1D(**config)
    layer.build(shape)
    layer.set_weights([rng.standard_normal(w.shape) for w in layer.get_weights()])
    x = rng.standard_normal(shape)
    cotangent = rng.standard_normal(layer.compute_output_shape(shape))
    return layer, x.astype(dtype), cotangent, config


def check_against_reference(layer, x, cotangent, config, dtype):
    kernel, *bias = layer.get_weights()
    k, channels, multiplier = kernel.shape
    (y, dx, dw, db), magnitudes = reference.conv1d_and_grads(
        x, kernel.reshape(k, 1, channels * multiplier), bias[0] if bias else None, cotangent,
        stride=config["strides"], dilation=config["dilation_rate"],
        padding=config["padding"].upper(), data_format=OP_FORMAT[config["data_format"]],
        activation=config["activation"], groups=channels)
    got_y, got_dx, got_dw, *got_db = outputs_and_grads(layer, x, cotangent)
    # The reference's kernel gradient in the op's layout, back in the layer's.
    mag_x, mag_w, mag_b = magnitudes
    reference.assert_matches(
        (got_y, got_dx, got_dw.reshape(k, 1, -1), got_db[0] if got_db else None),
        (y, dx, dw, db), (mag_x, mag_w, mag_b), OP_TOLERANCES[dtype], context=str(config))


@pytest.mark.parametrize("padding,data_format,geometry,multiplier,use_bias", CASES)
def test_outputs_and_gradients_against_the_reference(padding, data_format, geometry,
                                                      multiplier, use_bias):
    layer, x, cotangent, config = draw(padding, data_format, geometry, multiplier, use_bias)
    check_against_reference(layer, x, cotangent, config, "float32")


def test_float64():
    layer, x, cotangent, config = draw("same", "channels_last", (1, 2), 2, True, "float64")
    check_against_reference(layer, x, cotangent, config, "float64")


def _stock_twin(ours, shape, config):
    stock = keras.layers.DepthwiseConv1D(**config)
    stock.build(shape)
    stock.set_weights(ours.get_weights())
    return stock


@pytest.mark.parametrize("padding,data_format,geometry,multiplier,use_bias", GRID[::17])
def test_same_as_the_stock_layer(padding, data_format, geometry, multiplier, use_bias):
    if not IS_KERAS_3 and geometry == (2, 2):
        pytest.skip("tf-keras' stock layer refuses strides > 1 with dilation > 1")
    ours, x, cotangent, config = draw(padding, data_format, geometry, multiplier, use_bias)
    stock = _stock_twin(ours, x.shape, config)
    assert [w.name for w in ours.weights] == [w.name for w in stock.weights]
    stock_config = {k: v for k, v in stock.get_config().items() if k != "groups"}
    assert ours.get_config() == {**stock_config, "name": ours.name}
    for got, want in zip(outputs_and_grads(ours, x, cotangent),
                         outputs_and_grads(stock, x, cotangent)):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision(policy):
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(policy)
    try:
        ours, x, cotangent, config = draw("same", "channels_last", (1, 1), 2, True,
                                          dtype=None)
        stock = _stock_twin(ours, x.shape, {**config, "dtype": None})
    finally:
        keras.mixed_precision.set_global_policy(previous)
    assert ours.weights[0].dtype == "float32"
    y = ours(x)
    assert y.dtype == stock(x).dtype == keras.mixed_precision.Policy(policy).compute_dtype
    tolerance = 2e-2 if policy == "mixed_float16" else 1e-1
    np.testing.assert_allclose(np.asarray(y, np.float32), np.asarray(stock(x), np.float32),
                               rtol=tolerance, atol=tolerance)


def _model(depthwise, **extra):
    inputs = keras.Input((None, 4))
    h = keras.layers.Conv1D(6, 1, name="pointwise")(inputs)
    h = depthwise(5, padding="same", depth_multiplier=2, activation="swish", name="dw",
                  **extra)(h)
    return keras.Model(inputs, keras.layers.GlobalAveragePooling1D()(h))


def _randomized(model, seed):
    rng = rng_for("weights", seed)
    model.set_weights([rng.standard_normal(w.shape) * 0.5 for w in model.get_weights()])
    return model


def test_training_matches_the_stock_layer():
    stock = _randomized(_model(keras.layers.DepthwiseConv1D), "fit")
    ours = _model(tf_conv1d_op.DepthwiseConv1D)
    ours.set_weights(stock.get_weights())
    rng = rng_for("fit data")
    x, y = rng.standard_normal((8, 20, 4)), rng.standard_normal((8, 12))
    for model in (stock, ours):
        model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
        model.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0)
    for got, want in zip(ours.get_weights(), stock.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("direction", ["stock to ours", "ours to stock"])
def test_checkpoints_and_weights_files_move_between_stock_and_ours(direction, tmp_path):
    source = _randomized(_model(keras.layers.DepthwiseConv1D), direction)
    target = _model(tf_conv1d_op.DepthwiseConv1D)
    if direction == "ours to stock":
        target.set_weights(source.get_weights())
        source, target = target, _model(keras.layers.DepthwiseConv1D)
    x = rng_for("x").standard_normal((2, 17, 4)).astype(np.float32)
    path = tf.train.Checkpoint(model=source).write(str(tmp_path / "ckpt"))
    tf.train.Checkpoint(model=target).read(path).assert_consumed()
    np.testing.assert_allclose(target(x), source(x), rtol=1e-5, atol=1e-5)
    fresh = _model(keras.layers.DepthwiseConv1D if direction == "ours to stock"
                   else tf_conv1d_op.DepthwiseConv1D)
    weights = str(tmp_path / ("w.weights.h5" if IS_KERAS_3 else "w.h5"))
    source.save_weights(weights)
    fresh.load_weights(weights)
    np.testing.assert_allclose(fresh(x), source(x), rtol=1e-5, atol=1e-5)


def test_model_file_round_trip(tmp_path):
    model = _randomized(_model(tf_conv1d_op.DepthwiseConv1D), "file")
    path = str(tmp_path / ("m.keras" if IS_KERAS_3 else "m.h5"))
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded.get_layer("dw")) is tf_conv1d_op.DepthwiseConv1D
    x = rng_for("x").standard_normal((2, 17, 4)).astype(np.float32)
    np.testing.assert_array_equal(loaded(x), model(x))


@pytest.mark.parametrize("geometry", [(1, 1), (2, 2)])
def test_replace_conv1d_and_to_stock(geometry):
    stride, dilation = geometry
    extra = dict(strides=stride, dilation_rate=dilation)
    stock_refuses = not IS_KERAS_3 and stride > 1 and dilation > 1
    if stock_refuses:
        old = _randomized(_model(tf_conv1d_op.DepthwiseConv1D, **extra), geometry)
    else:
        old = _randomized(_model(keras.layers.DepthwiseConv1D, **extra), geometry)
        new, skipped = tf_conv1d_op.replace_conv1d(old, return_report=True)
        assert skipped == []
        assert type(new.get_layer("dw")) is tf_conv1d_op.DepthwiseConv1D
        assert type(new.get_layer("pointwise")) is tf_conv1d_op.Conv1D
        x = rng_for("x").standard_normal((2, 17, 4)).astype(np.float32)
        np.testing.assert_allclose(new(x), old(x), rtol=1e-5, atol=1e-5)
        old = new
    back = tf_conv1d_op.to_stock(old)
    expected = portable.CompositeDepthwiseConv1D if stock_refuses else \
        keras.layers.DepthwiseConv1D
    assert type(back.get_layer("dw")) is expected
    x = rng_for("x").standard_normal((2, 17, 4)).astype(np.float32)
    np.testing.assert_allclose(back(x), old(x), rtol=1e-5, atol=1e-5)


def test_a_subclass_of_the_stock_layer_is_kept_and_reported():
    class Scaled(keras.layers.DepthwiseConv1D):
        def call(self, inputs):
            return 2.0 * super().call(inputs)

    old = _model(Scaled)
    with pytest.warns(UserWarning, match="Scaled"):
        new, skipped = tf_conv1d_op.replace_conv1d(old, return_report=True)
    assert [name for name, _ in skipped] == ["dw"]
    assert "DepthwiseConv1D" in skipped[0][1]
    assert type(new.get_layer("dw")) is Scaled


@pytest.mark.parametrize("portable_export", [False, True])
def test_exports(portable_export, tmp_path):
    model = _randomized(_model(tf_conv1d_op.DepthwiseConv1D), "export")
    path = tf_conv1d_op.export(model, str(tmp_path / "export"), portable=portable_export)
    assert bool(portable.plugin_ops_in(path)) is not portable_export
    loaded = tf.saved_model.load(path)  # kept: its functions need its variables
    x = rng_for("x").standard_normal((2, 17, 4)).astype(np.float32)
    serve = loaded.serve if IS_KERAS_3 else loaded.signatures["serving_default"]
    got = serve(tf.constant(x))
    got = got if IS_KERAS_3 else next(iter(got.values()))
    np.testing.assert_allclose(got, model(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("bad", [
    {"depth_multiplier": 0}, {"depth_multiplier": -2}, {"depth_multiplier": 1.5},
    {"depth_multiplier": True}, {"padding": "causal"}, {"padding": "full"},
    {"kernel_size": 0}, {"strides": (1, 1)}, {"dilation_rate": -1}])
def test_argument_errors(bad):
    name = next(iter(bad))
    with pytest.raises(ValueError, match=name):
        tf_conv1d_op.DepthwiseConv1D(**{"kernel_size": 3, **bad})


def test_build_errors():
    with pytest.raises(ValueError, match="channel dimension"):
        tf_conv1d_op.DepthwiseConv1D(3).build((2, 10, None))
    with pytest.raises(ValueError, match="zero or negative"):
        tf_conv1d_op.DepthwiseConv1D(5)(tf.zeros([1, 4, 2]))
    layer = tf_conv1d_op.DepthwiseConv1D(3)
    layer(tf.zeros([1, 8, 2]))
    with pytest.raises(ValueError):
        layer(tf.zeros([1, 8, 3]))  # the channels are fixed at build
