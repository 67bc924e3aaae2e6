"""Saving, exporting and reloading models built from tf_conv1d_op.Conv1D, and
loading stock Conv1D weights into them.

The model is saved here; tests/layer/layer_child_load.py loads it in fresh
processes (one with tf_conv1d_op imported, one without).
"""
import json
import os

import numpy as np
import pytest
import tensorflow as tf

import tf_conv1d_op
from tf_conv1d_op import _op_names
from tests.support.layer_support import IS_KERAS_3, keras, rng_for, run_script

CHILD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "layer_child_load.py")


def build_model(conv):
    """Causal/gelu, strides with dilation (ours only), an activation applied
    after the op (softsign), and channels_first."""
    extension = {} if conv is keras.layers.Conv1D else dict(strides=2, dilation_rate=2)
    inputs = keras.Input((None, 3))
    h = conv(8, 3, padding="causal", dilation_rate=2, activation="gelu",
             kernel_regularizer="l2", name="causal_gelu")(inputs)
    h = conv(8, 3, activation="softsign", name="softsign", **extension)(h)
    h = keras.layers.Permute((2, 1))(h)
    h = conv(4, 1, data_format="channels_first", activation="relu", name="channels_first")(h)
    h = keras.layers.GlobalAveragePooling1D(data_format="channels_first")(h)
    return keras.Model(inputs, keras.layers.Dense(2, name="head")(h))


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A trained model saved every way, with its predictions and gradients."""
    directory = str(tmp_path_factory.mktemp("saved"))
    rng = rng_for("saving")
    x = rng.standard_normal((6, 25, 3)).astype(np.float32)
    model = build_model(tf_conv1d_op.Conv1D)
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, rng.standard_normal((6, 2)), epochs=2, verbose=0)
    x_tensor = tf.constant(x)
    cotangent = rng.standard_normal((6, 2)).astype(np.float32)
    with tf.GradientTape() as tape:
        tape.watch(x_tensor)
        y = model(x_tensor)
        loss = tf.reduce_sum(y * cotangent)
    np.savez(os.path.join(directory, "expected.npz"), x=x, y=y.numpy(), cotangent=cotangent,
             dx=tape.gradient(loss, x_tensor).numpy())
    model.save(os.path.join(directory, "m.keras"))
    model.save(os.path.join(directory, "m.h5"))
    if not IS_KERAS_3:
        model.save(os.path.join(directory, "keras_saved_model"), save_format="tf")
    model.export(os.path.join(directory, "export"))
    tf.saved_model.save(model, os.path.join(directory, "saved_model"))
    return directory


def run_child(directory, *mode):
    output = run_script(CHILD, directory, *mode).stdout
    line = next(l for l in output.splitlines() if l.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


@pytest.fixture(scope="module")
def fresh_process(saved):
    return run_child(saved)


def test_keras_files_reload_in_a_fresh_process(fresh_process):
    found = fresh_process["keras"]
    expected_files = {"m.keras", "m.h5"} | (set() if IS_KERAS_3 else {"keras_saved_model"})
    assert set(found) == expected_files
    for name, result in found.items():
        assert result["error"] == 0.0, name
        assert result["layer_types"] == ["tf_conv1d_op.layers.conv1d.Conv1D"], name


def test_exports_serve_the_same_predictions_with_our_op(fresh_process):
    for name, result in fresh_process["saved_model"].items():
        assert result["error"] < 1e-6, name
        assert _op_names.FORWARD in result["ops"], name
        assert not {"Conv1D", "Conv2D"} & set(result["ops"]), name  # no stock fallback


def test_gradients_through_a_reloaded_export(fresh_process):
    for name, result in fresh_process["saved_model"].items():
        assert result["grad_error"] < 1e-6, name


def test_loading_without_importing_tf_conv1d_op_fails_clearly(saved):
    found = run_child(saved, "--bare")
    assert found["tf_conv1d_op_imported"] is False
    export = found["export"]
    assert export["failed"]
    # TensorFlow's own loader error; it names one of the ops the export needs,
    # whose namespace names this package.
    assert f"'{_op_names.NAMESPACE}>" in export["message"] and "not registered" in export["message"]
    keras_file = found["m.keras"]
    if IS_KERAS_3:
        assert keras_file["failed"]
        assert "tf_conv1d_op" in keras_file["message"]
        assert "imported" in keras_file["message"]
    else:
        # tf-keras falls back to its own Conv1D by class name, which refuses
        # the strides-with-dilation layer of this model.
        assert keras_file["failed"]


def test_in_process_keras_round_trip(saved):
    expected = np.load(os.path.join(saved, "expected.npz"))
    model = keras.models.load_model(os.path.join(saved, "m.keras"))
    np.testing.assert_array_equal(model.predict(expected["x"], verbose=0), expected["y"])
    assert type(model.get_layer("causal_gelu")) is tf_conv1d_op.Conv1D
    assert len(model.losses) == 1  # the kernel regularizer survived


def _same_architecture(conv):
    inputs = keras.Input((None, 3))
    h = conv(8, 3, padding="causal", dilation_rate=2, activation="gelu", name="c1")(inputs)
    h = conv(4, 3, strides=2, activation="relu", name="c2")(h)
    h = keras.layers.GlobalAveragePooling1D()(h)
    return keras.Model(inputs, keras.layers.Dense(2, name="head")(h))


def _weights_formats():
    formats = ["checkpoint"]
    formats += ["weights.h5"] if IS_KERAS_3 else ["h5", "tf"]
    return formats


@pytest.mark.parametrize("weights_format", _weights_formats())
def test_stock_weights_load_into_ours(weights_format, tmp_path):
    stock = _same_architecture(keras.layers.Conv1D)
    rng = rng_for("stock weights", weights_format)
    stock.set_weights([rng.standard_normal(w.shape) for w in stock.get_weights()])
    ours = _same_architecture(tf_conv1d_op.Conv1D)
    if weights_format == "checkpoint":
        path = tf.train.Checkpoint(model=stock).write(str(tmp_path / "ckpt"))
        tf.train.Checkpoint(model=ours).read(path).assert_consumed()
    else:
        path = str(tmp_path / ("w." + weights_format if weights_format != "tf" else "w"))
        if weights_format == "tf":
            stock.save_weights(path, save_format="tf")
        else:
            stock.save_weights(path)
        ours.load_weights(path)
    x = rng.standard_normal((3, 19, 3)).astype(np.float32)
    np.testing.assert_allclose(ours(x), stock(x), rtol=1e-5, atol=1e-5)
    for w_ours, w_stock in zip(ours.get_weights(), stock.get_weights()):
        np.testing.assert_array_equal(w_ours, w_stock)


@pytest.mark.skipif(IS_KERAS_3, reason="Keras 3's formats: tests/packaging/test_keras_export_formats.py")
def test_tf_keras_export_writes_saved_models_only(tmp_path):
    model = keras.Sequential([keras.Input((9, 2)), tf_conv1d_op.Conv1D(3, 2)])
    with pytest.raises(ValueError, match="under tf-keras the export is a SavedModel"):
        tf_conv1d_op.export(model, str(tmp_path / "model.onnx"), format="onnx")
