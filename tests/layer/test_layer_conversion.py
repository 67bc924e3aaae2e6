"""tf_conv1d_op.replace_conv1d on stock models."""
import warnings

import numpy as np
import pytest
import tensorflow as tf

import tf_conv1d_op
from tests.support.layer_support import IS_KERAS_3, keras, rng_for


def randomize(model, seed):
    rng = rng_for("weights", seed)
    model.set_weights([rng.standard_normal(w.shape) * 0.5 for w in model.get_weights()])
    return model


def conv_types(model):
    found = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            found += conv_types(layer)
        elif "Conv1D" in type(layer).__name__:
            found.append(type(layer))
    return found


def assert_same_predictions(new, old, x):
    np.testing.assert_allclose(new.predict(x, verbose=0), old.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-5)


def test_sequential():
    old = randomize(keras.Sequential([
        keras.Input((30, 4)),
        keras.layers.Conv1D(8, 5, padding="causal", dilation_rate=2, activation="relu"),
        keras.layers.BatchNormalization(),
        keras.layers.Conv1D(8, 3, strides=2, activation="swish"),
        keras.layers.MaxPooling1D(2),
        keras.layers.Flatten(),
        keras.layers.Dense(3, activation="softmax"),
    ]), "sequential")
    new, skipped = tf_conv1d_op.replace_conv1d(old, return_report=True)
    assert skipped == []
    assert new is not old and isinstance(new, keras.Sequential)
    assert conv_types(new) == [tf_conv1d_op.Conv1D] * 2
    assert conv_types(old) == [keras.layers.Conv1D] * 2  # the original is untouched
    x = rng_for("x").standard_normal((5, 30, 4)).astype(np.float32)
    assert_same_predictions(new, old, x)
    assert [l.name for l in new.layers] == [l.name for l in old.layers]


def test_functional_with_branches_shared_and_nested_layers():
    shared = keras.layers.Conv1D(6, 3, padding="same", activation="tanh", name="shared")
    inner = keras.Sequential([keras.Input((None, 6)),
                              keras.layers.Conv1D(6, 2, padding="causal", name="inner")],
                             name="nested")
    a, b = keras.Input((None, 4)), keras.Input((None, 4))
    merged = keras.layers.Concatenate()([shared(a), shared(b)])
    h = keras.layers.Conv1D(6, 1, name="mix", kernel_regularizer="l2")(merged)
    h = inner(h)
    old = randomize(keras.Model([a, b], keras.layers.GlobalMaxPooling1D()(h)), "functional")
    new = tf_conv1d_op.replace_conv1d(old)
    assert conv_types(new) == [tf_conv1d_op.Conv1D] * 3
    assert new.get_layer("shared").name == "shared"
    # The shared layer stays one layer (one set of weights) used twice.
    assert len(new.get_layer("shared").weights) == 2
    rng = rng_for("two inputs")
    xs = [rng.standard_normal((3, 11, 4)).astype(np.float32) for _ in range(2)]
    assert_same_predictions(new, old, xs)
    assert len(new.losses) == len(old.losses) == 1


class ScaledConv1D(keras.layers.Conv1D):
    """A user subclass: its behaviour may differ, so it is not replaced."""

    def call(self, inputs):
        return 2.0 * super().call(inputs)


@pytest.mark.skipif(IS_KERAS_3, reason="tf-keras' Conv1D only takes several batch dimensions")
def test_a_conv_with_several_batch_dimensions_is_replaced_and_turned_back():
    inputs = keras.Input((3, 12, 4))
    hidden = keras.layers.Conv1D(6, 3, padding="causal", activation="relu")(inputs)
    old = randomize(keras.Model(inputs, keras.layers.Conv1D(2, 2, strides=2)(hidden)), "dims")
    x = rng_for("dims").standard_normal((5, 3, 12, 4)).astype(np.float32)
    new = tf_conv1d_op.replace_conv1d(old)
    assert conv_types(new) == [tf_conv1d_op.Conv1D] * 2
    assert_same_predictions(new, old, x)
    assert_same_predictions(tf_conv1d_op.to_stock(new), old, x)


def test_layers_it_cannot_replace_are_kept_and_reported():
    old = randomize(keras.Sequential([
        keras.Input((16, 4)),
        ScaledConv1D(4, 3, name="subclassed"),
        keras.layers.Conv1D(4, 3, name="plain"),
    ]), "unreplaceable")
    with pytest.warns(UserWarning, match="subclassed") as caught:
        new, skipped = tf_conv1d_op.replace_conv1d(old, return_report=True)
    assert "ScaledConv1D" in str(caught[0].message)
    assert [name for name, _ in skipped] == ["subclassed"]
    assert [type(l) for l in new.layers] == [ScaledConv1D, tf_conv1d_op.Conv1D]
    x = rng_for("x").standard_normal((2, 16, 4)).astype(np.float32)
    np.testing.assert_allclose(new(x), old(x), rtol=1e-5, atol=1e-5)


def test_wrapped_layers_are_replaced_and_turned_back():
    """A TimeDistributed around a stock conv layer (alone, or in a nested
    model) gets ours inside, with the weights; to_stock turns it back."""
    inner = keras.Sequential([keras.Input((20, 4)), keras.layers.DepthwiseConv1D(3, name="dw")],
                             name="inner")
    inputs = keras.Input((3, 20, 4))
    h = keras.layers.TimeDistributed(
        keras.layers.Conv1D(4, 3, padding="causal", activation="relu", name="conv"),
        name="over_time")(inputs)
    old = randomize(keras.Model(inputs, keras.layers.TimeDistributed(inner, name="nested")(h)),
                    "wrapped")
    new, skipped = tf_conv1d_op.replace_conv1d(old, return_report=True)
    assert skipped == []
    over_time, nested = new.get_layer("over_time"), new.get_layer("nested")
    assert isinstance(over_time, keras.layers.TimeDistributed)
    assert type(over_time.layer) is tf_conv1d_op.Conv1D and over_time.layer.name == "conv"
    assert type(nested.layer.get_layer("dw")) is tf_conv1d_op.DepthwiseConv1D
    assert type(old.get_layer("over_time").layer) is keras.layers.Conv1D  # untouched
    x = rng_for("x").standard_normal((2, 3, 20, 4)).astype(np.float32)
    assert_same_predictions(new, old, x)
    back = tf_conv1d_op.to_stock(new)
    assert type(back.get_layer("over_time").layer) is keras.layers.Conv1D
    assert type(back.get_layer("nested").layer.get_layer("dw")) is keras.layers.DepthwiseConv1D
    assert_same_predictions(back, old, x)


class HoldsAConv(keras.layers.Layer):
    """A user layer that builds a stock Conv1D itself: replace_conv1d cannot
    rebuild it with ours, so it reports it."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.conv = keras.layers.Conv1D(4, 3, name="held")

    def call(self, inputs):
        return self.conv(inputs)


def test_stock_layers_inside_user_layers_are_reported():
    old = keras.Sequential([keras.Input((16, 4)), HoldsAConv(name="custom")])
    with pytest.warns(UserWarning, match="held, out of reach inside a HoldsAConv"):
        new, skipped = tf_conv1d_op.replace_conv1d(old, return_report=True)
    assert [name for name, _ in skipped] == ["custom"]
    x = rng_for("x").standard_normal((2, 16, 4)).astype(np.float32)
    np.testing.assert_allclose(new(x), old(x), rtol=1e-6, atol=1e-6)


def test_subclassed_models_are_refused():
    class Subclassed(keras.Model):
        def __init__(self):
            super().__init__()
            self.conv = keras.layers.Conv1D(2, 3)

        def call(self, inputs):
            return self.conv(inputs)

    model = Subclassed()
    model(tf.zeros([1, 8, 2]))
    with pytest.raises(TypeError, match="Sequential and functional"):
        tf_conv1d_op.replace_conv1d(model)
    with pytest.raises(TypeError, match="keras.Model"):
        tf_conv1d_op.replace_conv1d(keras.layers.Conv1D(2, 3))


def test_converted_model_trains_and_saves(tmp_path):
    old = randomize(keras.Sequential([keras.Input((20, 2)),
                                      keras.layers.Conv1D(4, 3, activation="relu"),
                                      keras.layers.GlobalAveragePooling1D(),
                                      keras.layers.Dense(1)]), "train")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing to report
        new = tf_conv1d_op.replace_conv1d(old)
    new.compile(optimizer="sgd", loss="mse")
    rng = rng_for("train data")
    x, y = rng.standard_normal((16, 20, 2)), rng.standard_normal((16, 1))
    history = new.fit(x, y, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    path = str(tmp_path / "converted.keras")
    new.save(path)
    again = keras.models.load_model(path)
    assert type(again.layers[0]) is tf_conv1d_op.Conv1D
    np.testing.assert_array_equal(again.predict(x, verbose=0), new.predict(x, verbose=0))


def test_dtype_policy_is_kept():
    old = keras.Sequential([keras.Input((10, 3)),
                            keras.layers.Conv1D(4, 3, dtype="mixed_float16")])
    new = tf_conv1d_op.replace_conv1d(old)
    assert new.layers[0].dtype_policy.name == "mixed_float16"
    assert new.layers[0].compute_dtype == "float16"
