"""What swapping a stock layer for ours must keep, for each of the three
layers: the weights a seeded model starts from, the shapes it reports, and the
stock layers' attributes. Found missing by a differential fuzz of the layers'
API against the stock ones."""
import numpy as np
import pytest

import tf_conv1d_op
from tests.support.layer_support import keras

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
