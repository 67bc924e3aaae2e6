"""What swapping a stock layer for ours must keep, for each of the three
layers: the weights a seeded model starts from, the shapes it reports, and the
stock layers' attributes. Found missing by a differential fuzz of the layers'
API against the stock ones."""
import numpy as np
import pytest

import tf_conv1d_op
from tests.support.layer_support import IS_KERAS_3, keras, outputs_and_grads, rng_for, stock_and_ours

# (ours, stock, constructor arguments), the bias initializer random so that
# its seed is drawn too.
PAIRS = {
    "conv1d": (tf_conv1d_op.Conv1D, keras.layers.Conv1D, dict(filters=6, kernel_size=3)),
    "depthwise": (tf_conv1d_op.DepthwiseConv1D, keras.layers.DepthwiseConv1D,
                  dict(kernel_size=3, depth_multiplier=2)),
    "separable": (tf_conv1d_op.SeparableConv1D, keras.layers.SeparableConv1D,
                  dict(filters=6, kernel_size=3)),
}


def _output_filters(kind, channels):
    return None if kind == "depthwise" and channels is None else (
        2 * channels if kind == "depthwise" else 6)


@pytest.mark.parametrize("kind", sorted(PAIRS))
def test_a_seeded_layer_starts_from_the_stock_layers_weights(kind):
    ours_class, stock_class, arguments = PAIRS[kind]
    weights = []
    for layer_class in (stock_class, ours_class):
        keras.utils.set_random_seed(11)
        layer = layer_class(bias_initializer="random_uniform", **arguments)
        layer.build((None, 9, 4))
        weights.append(layer.get_weights())
    assert len(weights[0]) == len(weights[1])
    for stock, ours in zip(*weights):
        np.testing.assert_array_equal(ours, stock)


@pytest.mark.parametrize("kind", sorted(PAIRS))
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_output_shapes_with_unknown_channels_or_no_steps(kind, data_format):
    ours_class, _, arguments = PAIRS[kind]
    layer = ours_class(data_format=data_format, padding="same", **arguments)

    def shape(batch, steps, channels):
        dims = (batch, steps, channels)
        return dims if data_format == "channels_last" else (batch, channels, steps)

    for steps, channels in [(10, None), (0, 4), (None, None)]:
        expected = shape(2, steps, _output_filters(kind, channels))
        assert tuple(layer.compute_output_shape(shape(2, steps, channels))) == expected
    # An input with no steps runs (SAME gives no steps), as a symbolic and a real one.
    x = np.zeros(shape(2, 0, 4), np.float32)
    assert tuple(layer(x).shape) == shape(2, 0, _output_filters(kind, 4))
    assert tuple(layer(keras.Input(batch_shape=shape(None, 0, 4))).shape) == shape(
        None, 0, _output_filters(kind, 4))
    with pytest.raises(ValueError, match="zero or negative"):
        ours_class(**arguments).compute_output_shape((2, 2, 4))  # VALID needs the kernel


@pytest.mark.parametrize("kind", sorted(PAIRS))
def test_the_stock_layers_attributes(kind):
    ours_class, stock_class, arguments = PAIRS[kind]
    assert ours_class(**arguments).rank == stock_class(**arguments).rank == 1


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("padding", ["valid", "same", "causal"])
def test_inputs_with_several_batch_dimensions(data_format, padding):
    """tf-keras' Conv1D folds leading batch dimensions into one, and ours
    with it: outputs and gradients as the stock layer's on the folded input
    (tf-keras' own layer, given them unfolded, ignores the strides of
    channels_first and cannot add its bias to an output without steps);
    Keras 3's layers and tf-keras' depthwise and separable ones refuse such
    inputs."""
    rng = rng_for(data_format, padding)
    batch = tuple(int(n) for n in rng.integers(1, 4, size=int(rng.integers(2, 4))))
    steps, channels = int(rng.integers(5, 12)), int(rng.integers(1, 5))
    if padding == "causal":
        data_format = "channels_last"  # the stock layers' one causal layout
    inner = (steps, channels) if data_format == "channels_last" else (channels, steps)
    arguments = dict(filters=int(rng.integers(1, 5)), kernel_size=int(rng.integers(1, 4)),
                     strides=int(rng.integers(2, 4)), padding=padding, activation="tanh",
                     data_format=data_format)
    x = rng.standard_normal(batch + inner).astype(np.float32)
    if IS_KERAS_3:
        with pytest.raises(ValueError):
            tf_conv1d_op.Conv1D(**arguments)(x)
        return
    stock, ours = stock_and_ours((None,) + inner, **arguments)
    output_shape = tuple(ours.compute_output_shape(x.shape))
    cotangent = rng.standard_normal(output_shape)
    expected = outputs_and_grads(stock, x.reshape((-1,) + inner),
                                 cotangent.reshape((-1,) + output_shape[-2:]))
    expected[:2] = [expected[0].reshape(output_shape), expected[1].reshape(x.shape)]
    for want, got in zip(expected, outputs_and_grads(ours, x, cotangent)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    inputs = keras.Input(batch_shape=(None,) + batch[1:] + inner)
    assert ours(inputs).shape.as_list() == [None] + list(output_shape[1:])
    if padding != "valid" and data_format == "channels_last":
        empty = np.zeros(batch + (0, channels), np.float32)
        assert tuple(ours(empty).shape) == batch + (0, arguments["filters"])
    for layer in (tf_conv1d_op.DepthwiseConv1D(2), tf_conv1d_op.SeparableConv1D(2, 2)):
        with pytest.raises(ValueError, match="ndim=3"):
            layer(x)
    if padding == "causal":
        with pytest.raises(ValueError, match="one batch dimension"):
            ours(x, return_state=True)
