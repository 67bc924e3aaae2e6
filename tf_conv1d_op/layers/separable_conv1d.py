"""tf_conv1d_op.SeparableConv1D: a drop-in replacement for
keras.layers.SeparableConv1D, as two fused ops: the depthwise convolution
(the op's depthwise kernels, groups = channels), then the pointwise one
(kernel size 1) with the bias and the activation fused into it.

The stock depthwise kernel goes into the op's layout as DepthwiseConv1D's
does (depthwise_conv1d.as_op_kernel); the pointwise kernel [1, channels *
depth_multiplier, filters] is already in the op's layout.
"""
from tf_conv1d_op.layers import base_conv
from tf_conv1d_op.layers.depthwise_conv1d import as_op_kernel
from tf_conv1d_op.layers._keras import keras

# The stock layer's config keys, in Keras 3's order.
_CONFIG_KEYS = ("depth_multiplier", "filters", "kernel_size", "strides", "padding",
                "data_format", "dilation_rate", "activation", "use_bias",
                "depthwise_initializer", "pointwise_initializer", "bias_initializer",
                "depthwise_regularizer", "pointwise_regularizer", "bias_regularizer",
                "activity_regularizer", "depthwise_constraint", "pointwise_constraint",
                "bias_constraint")


@keras.utils.register_keras_serializable(package="tf_conv1d_op")
class SeparableConv1D(base_conv.FusedConvBase):
    """Depthwise separable 1D convolution as two fused FusedConv1D ops.

    Same arguments, weights (`depthwise_kernel` (kernel_size, channels,
    depth_multiplier), `pointwise_kernel` (1, channels * depth_multiplier,
    filters), `bias` (filters,)), config and results as
    keras.layers.SeparableConv1D. Beyond Keras 3's stock layer: padding
    "causal" (tf-keras' has it), with streaming as Conv1D's (`initial_state`,
    `return_state`); under tf-keras, strides > 1 together with dilation > 1.

    Args:
        filters: int, the number of output channels.
        kernel_size: int or tuple/list of 1 int, the depthwise window length.
        strides: int or tuple/list of 1 int.
        padding: "valid", "same" or "causal" (case-insensitive).
        data_format: "channels_last", "channels_first", or None (the Keras
            config's image data format), as the stock layer.
        dilation_rate: int or tuple/list of 1 int.
        depth_multiplier: depthwise output channels per input channel.
        activation: None (linear), a name, a keras.activations function or
            any callable.
        use_bias: whether to add a bias vector.
        depthwise_initializer, pointwise_initializer, bias_initializer,
        depthwise_regularizer, pointwise_regularizer, bias_regularizer,
        activity_regularizer, depthwise_constraint, pointwise_constraint,
        bias_constraint: as in keras.layers.SeparableConv1D.
        **kwargs: base-layer keywords (name, dtype, trainable, input_shape, ...).
    """

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, depth_multiplier=1, activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", pointwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None,
                 pointwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, pointwise_constraint=None, bias_constraint=None,
                 **kwargs):
        base_conv.drop_tf_keras_leftovers(
            kwargs, ("kernel_initializer", "kernel_regularizer", "kernel_constraint"))
        kernel_initializers = {"depthwise_initializer": depthwise_initializer,
                               "pointwise_initializer": pointwise_initializer}
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate, activation,
                         use_bias, kernel_initializers, bias_initializer, bias_regularizer,
                         activity_regularizer, bias_constraint, **kwargs)
        self.filters = base_conv.positive_int(filters, "filters")
        self.depth_multiplier = base_conv.positive_int(depth_multiplier, "depth_multiplier")
        self.depthwise_regularizer = keras.regularizers.get(depthwise_regularizer)
        self.pointwise_regularizer = keras.regularizers.get(pointwise_regularizer)
        self.depthwise_constraint = keras.constraints.get(depthwise_constraint)
        self.pointwise_constraint = keras.constraints.get(pointwise_constraint)

    def _add_kernel(self, channels):
        self.depthwise_kernel = self.add_weight(
            name="depthwise_kernel", shape=self.kernel_size + (channels, self.depth_multiplier),
            initializer=self.depthwise_initializer, regularizer=self.depthwise_regularizer,
            constraint=self.depthwise_constraint, trainable=True, dtype=self.dtype)
        self.pointwise_kernel = self.add_weight(
            name="pointwise_kernel", shape=(1, channels * self.depth_multiplier, self.filters),
            initializer=self.pointwise_initializer, regularizer=self.pointwise_regularizer,
            constraint=self.pointwise_constraint, trainable=True, dtype=self.dtype)

    def _output_channels(self, channels):
        return self.filters

    def _op_kernel(self):
        return as_op_kernel(self.depthwise_kernel)

    def _op_groups(self):
        return self._in_channels

    def _op_pointwise_kernel(self):
        return self.pointwise_kernel

    def get_config(self):
        return {**super().get_config(), **self._stock_config(_CONFIG_KEYS)}
