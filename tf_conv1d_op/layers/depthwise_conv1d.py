"""tf_conv1d_op.DepthwiseConv1D: a drop-in replacement for
keras.layers.DepthwiseConv1D, computed by the fused op's depthwise kernels.

The stock layer's kernel is [kernel_size, channels, depth_multiplier]; output
channel c * depth_multiplier + j reads input channel c through kernel[:, c, j].
That is the op's depthwise convolution (groups = channels) with the kernel
reshaped to [kernel_size, 1, channels * depth_multiplier]: the same values in
the same order, so the reshape copies nothing.
"""
import tensorflow as tf

from tf_conv1d_op.layers import base_conv
from tf_conv1d_op.layers._keras import DEPTHWISE_KERNEL_ATTRIBUTE, keras

def as_op_kernel(depthwise_kernel):
    """The stock [kernel_size, channels, depth_multiplier] kernel in the op's
    depthwise layout [kernel_size, 1, channels * depth_multiplier]."""
    kernel_size, channels, multiplier = depthwise_kernel.shape
    return tf.reshape(depthwise_kernel, (kernel_size, 1, channels * multiplier))


# The stock layer's config keys, in Keras 3's order.
_CONFIG_KEYS = ("depth_multiplier", "kernel_size", "strides", "padding", "data_format",
                "dilation_rate", "activation", "use_bias", "depthwise_initializer",
                "bias_initializer", "depthwise_regularizer", "bias_regularizer",
                "activity_regularizer", "depthwise_constraint", "bias_constraint")


@keras.utils.register_keras_serializable(package="tf_conv1d_op")
class DepthwiseConv1D(base_conv.FusedConvBase):
    """Depthwise 1D convolution computed by the fused FusedConv1D op.

    Same arguments, weights (the depthwise kernel, of shape (kernel_size,
    channels, depth_multiplier), and `bias` of shape (channels *
    depth_multiplier,)), config and results as keras.layers.DepthwiseConv1D;
    bias and the activation run in the op when it implements the activation.
    Beyond the stock layer under tf-keras: `strides > 1` together with
    `dilation_rate > 1` (Keras 3's stock layer takes it too).

    Args:
        kernel_size: int or tuple/list of 1 int, the window length.
        strides: int or tuple/list of 1 int.
        padding: "valid" or "same" (case-insensitive), as the stock layer.
        depth_multiplier: output channels per input channel.
        data_format: "channels_last", "channels_first", or None (the Keras
            config's image data format), as the stock layer.
        dilation_rate: int or tuple/list of 1 int.
        activation: None (linear), a name, a keras.activations function or
            any callable.
        use_bias: whether to add a bias vector.
        depthwise_initializer, bias_initializer, depthwise_regularizer,
        bias_regularizer, activity_regularizer, depthwise_constraint,
        bias_constraint: as in keras.layers.DepthwiseConv1D.
        **kwargs: base-layer keywords (name, dtype, trainable, input_shape, ...).
    """

    PADDINGS = ("valid", "same")

    def __init__(self, kernel_size, strides=1, padding="valid", depth_multiplier=1,
                 data_format=None, dilation_rate=1, activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", bias_initializer="zeros",
                 depthwise_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, depthwise_constraint=None, bias_constraint=None,
                 **kwargs):
        base_conv.drop_tf_keras_leftovers(kwargs)
        kernel_initializers = {"depthwise_initializer": depthwise_initializer}
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate, activation,
                         use_bias, kernel_initializers, bias_initializer, bias_regularizer,
                         activity_regularizer, bias_constraint, **kwargs)
        self.depth_multiplier = base_conv.positive_int(depth_multiplier, "depth_multiplier")
        self.depthwise_regularizer = keras.regularizers.get(depthwise_regularizer)
        self.depthwise_constraint = keras.constraints.get(depthwise_constraint)

    def _add_kernel(self, channels):
        # In the stock layer's attribute and name (_keras.py), so checkpoints
        # and weights files match.
        setattr(self, DEPTHWISE_KERNEL_ATTRIBUTE, self.add_weight(
            name=DEPTHWISE_KERNEL_ATTRIBUTE,
            shape=self.kernel_size + (channels, self.depth_multiplier),
            initializer=self.depthwise_initializer, regularizer=self.depthwise_regularizer,
            constraint=self.depthwise_constraint, trainable=True, dtype=self.dtype))

    def _output_channels(self, channels):
        return None if channels is None else channels * self.depth_multiplier

    def _op_kernel(self):
        return as_op_kernel(getattr(self, DEPTHWISE_KERNEL_ATTRIBUTE))

    def _op_groups(self):
        return self._in_channels

    def get_config(self):
        return {**super().get_config(), **self._stock_config(_CONFIG_KEYS)}
