"""The reference itself: its activations are Keras', its convolution is TF's."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.support import reference

KERAS_FUNCTIONS = {
    "gelu": lambda x: keras.activations.gelu(x),
    "gelu_tanh": lambda x: keras.activations.gelu(x, approximate=True),
}


@pytest.mark.parametrize("name", reference.ACTIVATIONS)
def test_activation_is_keras_definition(name):
    x = tf.constant(np.linspace(-8, 8, 1001), tf.float32)
    keras_fn = KERAS_FUNCTIONS.get(name, reference.keras_activation(name))
    ours = reference.keras_activation(name)(tf.cast(x, tf.float64)).numpy()
    np.testing.assert_allclose(ours, keras_fn(x).numpy(), rtol=2e-6, atol=2e-6)


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
