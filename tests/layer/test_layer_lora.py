"""LoRA in the layer (`lora_rank`, `lora_alpha`, `enable_lora`), as Keras 3's
stock Conv1D has it: outputs and gradients against the float64 reference
with the merged kernel, the stock layer's behaviour (trainable weights,
config, weights files both ways, replace_conv1d / to_stock), and the errors.

Runs under Keras 3 and tf-keras (scripts/test.sh runs tests/layer/test_layer*.py
both ways); tf-keras' stock layer has no LoRA, and there ours refuses it as
tf-keras' does.
"""
import numpy as np
import pytest
import tensorflow as tf

import tf_conv1d_op
from python.gpu_check.grids import OP_TOLERANCES
from tests.support import reference
from tests.support.layer_support import IS_KERAS_3, keras, outputs_and_grads, rng_for

needs_keras_3 = pytest.mark.skipif(not IS_KERAS_3, reason="LoRA is Keras 3's")

# (groups, padding, data_format, stride, dilation, activation, use_bias, lora_alpha);
# channels and steps are drawn per case.
CASES = [
    (1, "valid", "channels_last", 1, 1, None, True, None),
    (1, "causal", "channels_last", 1, 2, "silu", True, 4.0),
    (1, "same", "channels_first", 2, 1, "relu", False, None),
    (2, "same", "channels_last", 1, 1, "gelu", True, 0.5),
    ("depthwise", "causal", "channels_last", 1, 3, "tanh", True, None),
    ("depthwise", "valid", "channels_first", 3, 2, None, False, 8.0),
]


def draw(case):
    """A built layer of ours with LoRA on, random weights (B nonzero), and
    (x, cotangent, kwargs)."""
    groups, padding, data_format, stride, dilation, activation, use_bias, alpha = case
    rng = rng_for("lora", case)
    channels = int(rng.integers(2, 7)) * (2 if groups == 2 else 1)
    groups = channels if groups == "depthwise" else groups
    filters = groups * int(rng.integers(1, 4))
    kernel_size, rank = int(rng.integers(1, 5)), int(rng.integers(1, 4))
    steps = (kernel_size - 1) * dilation + 1 + int(rng.integers(0, 12))
    kwargs = dict(filters=filters, kernel_size=kernel_size, strides=stride, padding=padding,
                  data_format=data_format, dilation_rate=dilation, activation=activation,
                  use_bias=use_bias, groups=groups, lora_rank=rank, lora_alpha=alpha)
    shape = (3, steps, channels) if data_format == "channels_last" else (3, channels, steps)
    layer = tf_conv1d_op.Conv1D(**kwargs)
    layer.build(shape)
    layer.set_weights([rng.standard_normal(w.shape) * 0.5 for w in layer.get_weights()])
    x = rng.standard_normal(shape).astype(np.float32)
    out_shape = layer.compute_output_shape(shape)
    return layer, x, rng.standard_normal(out_shape), kwargs


@needs_keras_3
@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(map(str, c)))
def test_outputs_and_gradients_against_the_reference(case):
    layer, x, cotangent, kwargs = draw(case)
    kernel, *rest = layer.get_weights()
    bias = rest.pop(0) if kwargs["use_bias"] else None
    a, b = rest
    rank, alpha = kwargs["lora_rank"], kwargs["lora_alpha"] or kwargs["lora_rank"]
    scale = alpha / rank
    # The merged kernel in float64, and the reference's gradient for it.
    merged = kernel.astype(np.float64) + scale * np.einsum("kcr,rf->kcf", a, b)
    op_format = {"channels_last": "NWC", "channels_first": "NCW"}[kwargs["data_format"]]
    geometry = dict(stride=kwargs["strides"], dilation=kwargs["dilation_rate"],
                    padding=kwargs["padding"].upper(), data_format=op_format,
                    activation=kwargs["activation"] or "linear", groups=kwargs["groups"])
    (y, dx, dw, db), (mag_x, mag_w, mag_b) = reference.conv1d_and_grads(
        x, merged, bias, cotangent, **geometry)
    # Kernel gradients carried to the factors: dA = s dW B^T, dB = s A^T dW.
    da = scale * np.einsum("kcf,rf->kcr", dw, b)
    dlora_b = scale * np.einsum("kcr,kcf->rf", a, dw)
    mag_a = scale * np.einsum("kcf,rf->kcr", mag_w, np.abs(b))
    mag_lora_b = scale * np.einsum("kcr,kcf->rf", np.abs(a), mag_w)

    got = outputs_and_grads(layer, x, cotangent)
    expected = [y, dx] + ([db] if bias is not None else []) + [da, dlora_b]
    magnitudes = [None, mag_x] + ([mag_b] if bias is not None else []) + [mag_a, mag_lora_b]
    forward_tol, grad_tol = OP_TOLERANCES["float32"]
    assert len(got) == len(expected)  # the kernel is frozen: no gradient for it
    for i, (g, want, magnitude) in enumerate(zip(got, expected, magnitudes)):
        error = reference.max_relative_error(g, want, magnitude)
        assert error <= (forward_tol if i == 0 else grad_tol), (i, error)


@needs_keras_3
@pytest.mark.parametrize("case", CASES[:4], ids=lambda c: "-".join(map(str, c)))
def test_same_as_the_stock_layer(case):
    ours, x, cotangent, kwargs = draw(case)
    if kwargs["data_format"] == "channels_first":
        pytest.skip("the stock CPU layer runs channels_first only with oneDNN's layout")
    stock = keras.layers.Conv1D(**kwargs)
    stock.build(x.shape)
    stock.set_weights(ours.get_weights())
    assert [w.path.split("/")[-1] for w in stock.weights] == \
           [w.path.split("/")[-1] for w in ours.weights]
    assert [w.trainable for w in stock.weights] == [w.trainable for w in ours.weights]
    assert ours.get_config() == {**stock.get_config(), "name": ours.name}
    np.testing.assert_allclose(ours.kernel, stock.kernel, rtol=1e-6, atol=1e-6)
    for got, want in zip(outputs_and_grads(ours, x, cotangent),
                         outputs_and_grads(stock, x, cotangent)):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@needs_keras_3
def test_enable_lora_freezes_the_kernel_and_training_moves_the_factors():
    layer = tf_conv1d_op.Conv1D(4, 3, activation="relu")
    layer.build((None, 10, 3))
    kernel = layer.kernel.numpy()
    layer.enable_lora(2)
    assert layer.lora_enabled and layer.get_config()["lora_rank"] == 2
    assert [w.path.split("/")[-1] for w in layer.trainable_weights] == [
        "bias", "lora_kernel_a", "lora_kernel_b"]
    # B starts at zero: the layer computes what it did before.
    np.testing.assert_array_equal(layer.kernel, kernel)
    model = keras.Sequential([keras.Input((10, 3)), layer])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    rng = rng_for("fit")
    model.fit(rng.standard_normal((8, 10, 3)), rng.standard_normal((8, 8, 4)), epochs=2,
              verbose=0)
    np.testing.assert_array_equal(layer._kernel.numpy(), kernel)
    assert np.abs(layer.lora_kernel_b.numpy()).max() > 0
    assert np.abs(layer.kernel.numpy() - kernel).max() > 0


@needs_keras_3
def test_mixed_precision():
    keras.config.set_dtype_policy("mixed_float16")
    try:
        ours, x, cotangent, kwargs = draw(CASES[1])
        stock = keras.layers.Conv1D(**kwargs)
        stock.build(x.shape)
    finally:
        keras.config.set_dtype_policy("float32")
    stock.set_weights(ours.get_weights())
    assert ours.lora_kernel_a.dtype == "float32" and ours.kernel.dtype == "float16"
    y = ours(x)
    assert y.dtype == tf.float16
    np.testing.assert_allclose(y.numpy(), stock(x).numpy(), rtol=2e-2, atol=2e-2)


@needs_keras_3
def test_config_round_trip_and_keras_file(tmp_path):
    layer, x, _, kwargs = draw(CASES[3])
    config = layer.get_config()
    assert config["lora_rank"] == kwargs["lora_rank"] and config["lora_alpha"] == 0.5
    clone = tf_conv1d_op.Conv1D.from_config(config)
    clone.build(x.shape)
    assert clone.lora_enabled and len(clone.weights) == len(layer.weights)

    model = keras.Sequential([keras.Input(x.shape[1:]), layer])
    path = str(tmp_path / "lora.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    reloaded = loaded.layers[0]
    # As the stock layer: the file holds the merged kernel, the factors
    # start again from zero, and the predictions are kept.
    assert reloaded.lora_enabled
    np.testing.assert_allclose(reloaded._kernel.numpy(), layer.kernel.numpy(), rtol=1e-6)
    assert not np.any(reloaded.lora_kernel_a.numpy()) and not np.any(
        reloaded.lora_kernel_b.numpy())
    np.testing.assert_allclose(loaded(x), model(x), rtol=1e-5, atol=1e-5)


def _model(conv, lora):
    inputs = keras.Input((None, 3))
    h = conv(8, 3, padding="causal", activation="gelu", name="c1")(inputs)
    h = conv(4, 3, strides=2, name="c2", **({"lora_rank": 2} if lora else {}))(h)
    return keras.Model(inputs, keras.layers.GlobalAveragePooling1D()(h))


@needs_keras_3
@pytest.mark.parametrize("direction", ["stock to ours", "ours to stock"])
def test_weights_files_move_between_stock_and_ours(direction, tmp_path):
    source, target = _model(keras.layers.Conv1D, True), _model(tf_conv1d_op.Conv1D, True)
    if direction == "ours to stock":
        source, target = target, source
    rng = rng_for("weights", direction)
    source.set_weights([rng.standard_normal(w.shape) * 0.5 for w in source.get_weights()])
    path = str(tmp_path / "w.weights.h5")
    source.save_weights(path)
    target.load_weights(path)
    x = rng.standard_normal((2, 17, 3)).astype(np.float32)
    np.testing.assert_allclose(target(x), source(x), rtol=1e-5, atol=1e-5)
    # A layer without LoRA reads the same file: the merged kernel.
    plain = _model(tf_conv1d_op.Conv1D, False)
    plain.load_weights(path)
    np.testing.assert_allclose(plain(x), source(x), rtol=1e-5, atol=1e-5)


@needs_keras_3
def test_replace_conv1d_and_to_stock_keep_lora():
    stock = _model(keras.layers.Conv1D, True)
    stock.get_layer("c1").enable_lora(3, lora_alpha=6)
    rng = rng_for("replace")
    stock.set_weights([rng.standard_normal(w.shape) * 0.5 for w in stock.get_weights()])
    ours, skipped = tf_conv1d_op.replace_conv1d(stock, return_report=True)
    assert skipped == []
    for name in ("c1", "c2"):
        layer = ours.get_layer(name)
        assert type(layer) is tf_conv1d_op.Conv1D and layer.lora_enabled
        assert len(layer.trainable_weights) == len(stock.get_layer(name).trainable_weights)
    assert ours.get_layer("c1").lora_alpha == 6
    x = rng.standard_normal((2, 17, 3)).astype(np.float32)
    np.testing.assert_allclose(ours(x), stock(x), rtol=1e-5, atol=1e-5)
    back = tf_conv1d_op.to_stock(ours)
    assert type(back.get_layer("c1")) is keras.layers.Conv1D
    assert back.get_layer("c1").lora_enabled
    np.testing.assert_allclose(back(x), stock(x), rtol=1e-5, atol=1e-5)


@needs_keras_3
def test_errors():
    built = tf_conv1d_op.Conv1D(4, 3)
    with pytest.raises(ValueError, match="isn't yet built"):
        built.enable_lora(2)
    built.build((None, 8, 2))
    built.enable_lora(2)
    with pytest.raises(ValueError, match="already enabled"):
        built.enable_lora(2)
    constrained = tf_conv1d_op.Conv1D(4, 3, kernel_constraint="non_neg")
    constrained.build((None, 8, 2))
    with pytest.raises(ValueError, match="kernel constraints"):
        constrained.enable_lora(2)
    for bad in (-1, 2.5, "2", True, 2**70 * 1.0):
        with pytest.raises(ValueError, match="rank"):
            tf_conv1d_op.Conv1D(4, 3, lora_rank=bad)
    with pytest.raises(ValueError, match="lora_alpha"):
        tf_conv1d_op.Conv1D(4, 3, lora_rank=2, lora_alpha="big")
    # None and 0 leave LoRA off, as in the stock layer.
    for off in (None, 0):
        layer = tf_conv1d_op.Conv1D(4, 3, lora_rank=off)
        layer.build((None, 8, 2))
        assert not layer.lora_enabled and "lora_rank" not in layer.get_config()


@pytest.mark.skipif(IS_KERAS_3, reason="tf-keras' refusal")
def test_tf_keras_refuses_lora_as_its_own_layer_does():
    with pytest.raises(TypeError) as stock_error:
        keras.layers.Conv1D(4, 3, lora_rank=2)
    with pytest.raises(TypeError) as ours_error:
        tf_conv1d_op.Conv1D(4, 3, lora_rank=2)
    assert "lora_rank" in str(stock_error.value) and "lora_rank" in str(ours_error.value)


@needs_keras_3
@pytest.mark.parametrize("portable", [False, True])
def test_exports_serve_the_merged_kernel(portable, tmp_path):
    model = _model(tf_conv1d_op.Conv1D, True)
    rng = rng_for("export", portable)
    model.set_weights([rng.standard_normal(w.shape) * 0.5 for w in model.get_weights()])
    path = tf_conv1d_op.export(model, str(tmp_path / "export"), portable=portable)
    assert bool(tf_conv1d_op.portable.plugin_ops_in(path)) is not portable
    x = rng.standard_normal((2, 17, 3)).astype(np.float32)
    loaded = tf.saved_model.load(path)  # kept: serve needs its variables alive
    np.testing.assert_allclose(loaded.serve(x), model(x), rtol=1e-5, atol=1e-5)
