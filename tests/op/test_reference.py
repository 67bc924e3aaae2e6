"""The reference itself (python/gpu_check/reference.py, here through TF's
namespace): its activations are Keras', its convolution is TF's, and its
NumPy derivatives are TF's autodiff of its activations, kinks included.
tests/gpu/test_gpu_harness_reference.py checks its NumPy evaluation."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from python.gpu_check import reference as shared
from tests.support import reference

# Names whose stock function keras.activations.get does not give as such.
KERAS_FUNCTIONS = {
    "gelu_tanh": lambda x: keras.activations.gelu(x, approximate=True),
}

# Where a derivative jumps; each activation's subgradient there is the op's.
KINKS = (-3.0, 0.0, 3.0, 6.0)


@pytest.mark.parametrize("name", reference.ACTIVATIONS)
def test_activation_is_keras_definition(name):
    x = tf.constant(np.linspace(-8, 8, 1001), tf.float32)
    keras_fn = KERAS_FUNCTIONS[name] if name in KERAS_FUNCTIONS else keras.activations.get(name)
    ours = reference.keras_activation(name)(tf.cast(x, tf.float64)).numpy()
    np.testing.assert_allclose(ours, keras_fn(x).numpy(), rtol=2e-6, atol=2e-6)


@pytest.mark.parametrize("name,slope", [(a, 0.2) for a in reference.ACTIVATIONS]
                         + [("leaky_relu", -0.3)])
def test_numpy_derivative_is_the_autodiff_of_the_activation(name, slope):
    # Tails far enough out that a wrong branch would overflow to inf or NaN.
    z = np.concatenate([np.random.default_rng(4).normal(scale=4.0, size=400), KINKS,
                        [-40.0, 40.0, -800.0, 800.0]])
    tz = tf.constant(z)
    with tf.GradientTape() as tape:
        tape.watch(tz)
        y = reference.keras_activation(name, slope)(tz)
    autodiff = tape.gradient(y, tz).numpy()
    # Absolute 1e-14: 1 - tanh(z)^2 cancels where tanh saturates, in both.
    np.testing.assert_allclose(shared.derivative(name, z, slope), autodiff, rtol=1e-12,
                               atol=1e-14)
    np.testing.assert_allclose(shared.activate(name, z, slope), y.numpy(), rtol=1e-12,
                               atol=1e-300)


@pytest.mark.parametrize("padding", ["VALID", "SAME"])
@pytest.mark.parametrize("stride,dilation", [(1, 1), (2, 1), (1, 3)])
def test_convolution_matches_tf_nn_conv1d(padding, stride, dilation):
    rng = np.random.default_rng(stride * 10 + dilation)
    x = rng.standard_normal((2, 19, 3))
    w = rng.standard_normal((4, 3, 5))
    expected = tf.nn.conv1d(x, w, stride=stride, padding=padding, dilations=dilation)
    actual = reference.conv1d(x, w, None, stride, dilation, padding)
    np.testing.assert_allclose(actual.numpy(), expected.numpy(), rtol=1e-12, atol=1e-12)


def test_causal_matches_keras_causal_conv1d():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 13, 3)).astype(np.float32)
    layer = keras.layers.Conv1D(4, 3, padding="causal", dilation_rate=2, use_bias=False)
    expected = layer(x).numpy()
    actual = reference.conv1d(x, layer.kernel.numpy(), None, 1, 2, "CAUSAL")
    np.testing.assert_allclose(actual.numpy(), expected, rtol=1e-5, atol=1e-5)
