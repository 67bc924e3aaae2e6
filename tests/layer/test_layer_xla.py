"""Models of tf_conv1d_op.Conv1D under XLA: compile(jit_compile=True) keeps
XLA on and trains to the losses of the same model without XLA, and a model
that trained under XLA exports and reloads. Run under Keras 3 and, by
scripts/test.sh, under tf-keras."""
import os

import numpy as np
import pytest
import tensorflow as tf

import tf_conv1d_op
from tests.support.layer_support import IS_KERAS_3, keras, rng_for

pytestmark = pytest.mark.skipif(
    not tf_conv1d_op.build_info().get("xla_kernels"),
    reason="this op library was built without XLA kernels (build_tools/xla.py says why)")


def build_model():
    """Fused activations (gelu needs the preactivation), strides with
    dilation, one activation applied after the op, channels_first."""
    keras.utils.set_random_seed(3)
    inputs = keras.Input((None, 3))
    h = tf_conv1d_op.Conv1D(6, 3, padding="causal", dilation_rate=2, activation="gelu")(inputs)
    h = tf_conv1d_op.Conv1D(6, 3, strides=2, dilation_rate=2, padding="same",
                            activation="softsign")(h)
    h = keras.layers.Permute((2, 1))(h)
    h = tf_conv1d_op.Conv1D(4, 1, data_format="channels_first", activation="selu")(h)
    h = keras.layers.GlobalAveragePooling1D(data_format="channels_first")(h)
    return keras.Model(inputs, keras.layers.Dense(2)(h))


def jit_compile_of(model):
    # Keras 3 turns a requested XLA off for layers that set supports_jit = False.
    return model.jit_compile if IS_KERAS_3 else model._jit_compile


def train(jit_compile, x, y):
    model = build_model()
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse", jit_compile=jit_compile)
    history = model.fit(x, y, batch_size=4, epochs=3, shuffle=False, verbose=0)
    return model, history.history["loss"]


@pytest.fixture(scope="module")
def data():
    rng = rng_for("layer_xla")
    return (rng.standard_normal((8, 21, 3)).astype(np.float32),
            rng.standard_normal((8, 2)).astype(np.float32))


@pytest.fixture(scope="module")
def trained_under_xla(data):
    return train(True, *data)


def test_jit_compile_stays_on_and_trains_like_without_xla(data, trained_under_xla):
    model, xla_losses = trained_under_xla
    assert jit_compile_of(model) is True
    _, losses = train(False, *data)
    np.testing.assert_allclose(xla_losses, losses, rtol=1e-4)
    assert xla_losses[-1] < xla_losses[0]


@pytest.mark.skipif(not IS_KERAS_3, reason="jit_compile='auto' is Keras 3's")
def test_auto_keeps_xla_where_keras_would_choose_it(data):
    model = build_model()
    model.compile(optimizer="sgd", loss="mse", jit_compile="auto")
    # "auto" means XLA when a GPU is visible, unless a layer vetoes it (what
    # Keras asks here); ours no longer do.
    from keras.src.trainers.trainer import model_supports_jit

    assert model_supports_jit(model)
    assert jit_compile_of(model) == bool(tf.config.list_physical_devices("GPU"))


def test_export_of_a_jit_compiled_model_reloads(data, trained_under_xla, tmp_path):
    model, _ = trained_under_xla
    x, _ = data
    path = os.path.join(tmp_path, "export")
    model.export(path)
    reloaded = tf.saved_model.load(path)
    np.testing.assert_allclose(reloaded.serve(tf.constant(x)).numpy(), model.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)
