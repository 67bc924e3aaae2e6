"""The layer against the stock keras.layers.Conv1D in float64, same weights:
a WGAN-GP training step (a gradient penalty), Hessian-vector products, jvp
and vectorized Jacobians; and the behaviours docs/layer.md states against
the stock layer (channels_first on the CPU, the Keras config's data format,
integer inputs). Runs under Keras 3 and tf-keras (TF_USE_LEGACY_KERAS=1)."""
import os
import platform
import warnings

import numpy as np
import pytest
import tensorflow as tf

import tf_conv1d_op
from tests.support.layer_support import IS_KERAS_3, keras, rng_for
from tests.op.test_gradients_second_order import while_loop_warnings

TOL = 1e-10

# A small audio critic: strided, causal dilated and same-padded layers, with
# fused activations whose float64 stock versions are exact (not gelu: see
# docs/layer.md).
CRITIC = [dict(filters=6, kernel_size=5, strides=2, activation="leaky_relu"),
          dict(filters=5, kernel_size=3, dilation_rate=2, padding="causal",
               activation="swish"),
          dict(filters=1, kernel_size=3, padding="same", activation="tanh")]


class Critic:
    """Conv1D layers applied in sequence, then a mean: a score per example.

    Inputs and the `first` layer's outputs are channels_last whatever the
    layers' data_format (transposed around channels_first layers), because
    the stock layer cannot run channels_first in float64 on the CPU.
    """

    def __init__(self, layers, data_format):
        self.layers, self.data_format = layers, data_format

    def _to_layers(self, x):
        return x if self.data_format == "channels_last" else tf.transpose(x, [0, 2, 1])

    def first(self, x):
        return self._to_layers(self.layers[0](self._to_layers(x)))

    def __call__(self, x):
        x = self._to_layers(x)
        for layer in self.layers:
            x = layer(x)
        return tf.reduce_mean(x, axis=[1, 2])

    @property
    def weights(self):
        return [w for layer in self.layers for w in layer.trainable_weights]


def _critics(data_format, steps=24, channels=2):
    """A stock critic (channels_last) and ours (data_format) with the same
    random float64 weights."""
    rng = rng_for("critic", data_format)
    shape = (None, steps, channels)
    ours_shape = shape if data_format == "channels_last" else (None, channels, steps)
    stock, ours = [], []
    for config in CRITIC:
        stock.append(keras.layers.Conv1D(dtype="float64", **config))
        ours.append(tf_conv1d_op.Conv1D(dtype="float64", data_format=data_format, **config))
        stock[-1].build(shape)
        ours[-1].build(ours_shape)
        weights = [rng.standard_normal(w.shape) / np.sqrt(np.prod(w.shape[:2]))
                   for w in stock[-1].get_weights()]
        stock[-1].set_weights(weights)
        ours[-1].set_weights(weights)
        shape = stock[-1].compute_output_shape(shape)
        ours_shape = ours[-1].compute_output_shape(ours_shape)
    return Critic(stock, "channels_last"), Critic(ours, data_format)


def _batch(seed, n=3, steps=24, channels=2):
    return tf.constant(rng_for("batch", seed).standard_normal((n, steps, channels)))


def _wgan_gp_step(critic, real, fake, epsilon, learning_rate=0.05):
    """One critic step of WGAN-GP: the gradient of the Wasserstein loss plus
    10 x the penalty on the input gradient's norm at interpolated points,
    applied with plain SGD. Returns the loss gradients."""
    weights = critic.weights
    with tf.GradientTape() as tape:
        mixed = epsilon * real + (1 - epsilon) * fake
        with tf.GradientTape() as inner:
            inner.watch(mixed)
            score = critic(mixed)
        slopes = tf.norm(tf.reshape(inner.gradient(score, mixed), [mixed.shape[0], -1]),
                         axis=1)
        loss = (tf.reduce_mean(critic(fake)) - tf.reduce_mean(critic(real)) +
                10.0 * tf.reduce_mean((slopes - 1.0) ** 2))
    grads = tape.gradient(loss, weights)
    for w, g in zip(weights, grads):
        w.assign_sub(learning_rate * g)
    return grads


def _assert_close(actual, expected, what, tol=TOL):
    assert len(actual) == len(expected)
    for i, (got, want) in enumerate(zip(actual, expected)):
        got, want = np.asarray(got), np.asarray(want)
        error = np.abs(got - want).max() / max(np.abs(want).max(), 1e-30)
        assert error <= tol, f"{what}[{i}]: relative error {error:.3g} > {tol:g}"


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_wgan_gp_training_step_matches_stock(data_format):
    stock, ours = _critics(data_format)
    real, fake = _batch(0), _batch(1)
    epsilon = tf.constant(rng_for("eps").uniform(size=(3, 1, 1)))
    for step in range(2):  # the second step starts from the updated weights
        _assert_close(_wgan_gp_step(ours, real, fake, epsilon),
                      _wgan_gp_step(stock, real, fake, epsilon), f"step {step}")
    _assert_close([w.numpy() for w in ours.weights], [w.numpy() for w in stock.weights],
                  "weights")


def _hvps(critic, x):
    """Hessian of a loss in the weights times v: reverse over reverse, and
    forward over reverse."""
    weights = critic.weights
    rng = rng_for("v")
    v = [tf.constant(rng.standard_normal(w.shape)) for w in weights]
    with tf.GradientTape() as outer:
        with tf.GradientTape() as inner:
            loss = tf.reduce_sum(critic(x) ** 2)
        grads = inner.gradient(loss, weights)
    reverse = outer.gradient(grads, weights, output_gradients=v)
    # Keras 3 variables wrap the tf.Variable the accumulator watches.
    primals = [w.value for w in weights] if IS_KERAS_3 else weights
    with tf.autodiff.ForwardAccumulator(primals, v) as acc:
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(critic(x) ** 2)
        grads = tape.gradient(loss, weights)
    return reverse + [acc.jvp(g) for g in grads]


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_hessian_vector_products_match_stock(data_format):
    stock, ours = _critics(data_format)
    x = _batch(2)
    _assert_close(_hvps(ours, x), _hvps(stock, x), "hvp")


def _jvp_and_jacobians(critic, x):
    tangent = tf.constant(rng_for("tangent").standard_normal(x.shape))
    with tf.autodiff.ForwardAccumulator(x, tangent) as acc:
        y = critic.first(x)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        h = critic.first(x)
        score = critic(x)
    return [acc.jvp(y), tape.jacobian(score, x), tape.batch_jacobian(h, x),
            tape.jacobian(h, critic.weights[0])]


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_jvp_and_vectorized_jacobians_match_stock(data_format):
    stock, ours = _critics(data_format)
    x = _batch(3)
    with while_loop_warnings() as found:
        actual = _jvp_and_jacobians(ours, x)
    assert not found, found
    _assert_close(actual, _jvp_and_jacobians(stock, x), "jvp/jacobian")


# TF's oneDNN kernels (on by default on x86-64 Linux) take NCHW convolutions
# on the CPU; its own CPU kernels, which run float64 and everything when
# TF_ENABLE_ONEDNN_OPTS=0, take NHWC only.
ONEDNN = (os.environ.get("TF_ENABLE_ONEDNN_OPTS") != "0" and platform.system() == "Linux"
          and platform.machine() in ("x86_64", "AMD64"))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_stock_channels_first_on_the_cpu(dtype):
    """docs/layer.md's statement, measured: the stock layer runs
    channels_first on the CPU in float32 with oneDNN, never in float64."""
    x = tf.constant(rng_for("cf", dtype).standard_normal((2, 3, 20)), dtype)
    stock = keras.layers.Conv1D(5, 3, data_format="channels_first", dtype=dtype)
    ours = tf_conv1d_op.Conv1D(5, 3, data_format="channels_first", dtype=dtype)
    ours.build(x.shape)
    stock.build(x.shape)
    ours.set_weights(stock.get_weights())
    if dtype == "float64" or not ONEDNN:
        with pytest.raises(tf.errors.UnimplementedError, match="NHWC"):
            stock(x)
        return
    results = []
    for layer in (stock, ours):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x)
        results.append([y] + tape.gradient(y, [x] + layer.trainable_weights))
    _assert_close(results[1], results[0], "channels_first", tol=1e-5)


@pytest.fixture
def channels_first_config():
    keras.backend.set_image_data_format("channels_first")
    try:
        yield
    finally:
        keras.backend.set_image_data_format("channels_last")


def test_keras_config_channels_first(channels_first_config):
    x = tf.zeros([4, 3, 20])
    stock = keras.layers.Conv1D(5, 3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ours = tf_conv1d_op.Conv1D(5, 3)
        following = tf_conv1d_op.Conv1D(5, 3, data_format=None)
        reloaded = tf_conv1d_op.Conv1D.from_config(ours.get_config())
    ours_warnings = [w for w in caught if "tf_conv1d_op.Conv1D runs" in str(w.message)]
    assert following.data_format == "channels_first"
    assert reloaded.data_format == ours.data_format == "channels_last"
    assert tuple(following(x).shape) == (4, 5, 18)
    assert tuple(ours(x).shape) == (4, 1, 5)
    if IS_KERAS_3:
        # The stock default follows the config; ours warns, once (not for
        # data_format=None, nor for a layer from a config).
        assert tuple(stock(x).shape) == (4, 5, 18)
        assert len(ours_warnings) == 1 and ours_warnings[0].filename == __file__
    else:
        # tf-keras' stock default is channels_last too: nothing to warn about.
        assert tuple(stock(x).shape) == (4, 1, 5)
        assert not ours_warnings


def test_no_warning_with_the_default_config():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tf_conv1d_op.Conv1D(5, 3)
        tf_conv1d_op.Conv1D(5, 3, data_format="channels_first")


def test_integer_inputs_are_cast_where_the_stock_layer_raises():
    stock, ours = _critics("channels_last")
    stock, ours = stock.layers[0], ours.layers[0]
    values = rng_for("int").integers(-50, 50, size=(2, 24, 2))
    as_int = tf.constant(values, tf.int32)
    _assert_close([ours(as_int)], [stock(tf.constant(values, tf.float64))], "int")
    with pytest.raises(tf.errors.InvalidArgumentError):
        stock(as_int)
    for dtype in (tf.complex128, tf.bool):
        with pytest.raises(TypeError, match="floating or integer"):
            ours(tf.cast(values, dtype))
