"""tf_conv1d_op.Conv1D: a drop-in replacement for keras.layers.Conv1D."""
from tf_conv1d_op.layers._keras import keras
from tf_conv1d_op.layers.base_conv import FusedConvBase


@keras.utils.register_keras_serializable(package="tf_conv1d_op")
class Conv1D(FusedConvBase):
    """1D convolution layer computed by the fused FusedConv1D op.

    Same arguments, weights (`kernel` of shape (kernel_size, in_channels //
    groups, filters), `bias` of shape (filters,)), config and results as
    keras.layers.Conv1D. Convolution, bias and the activation run in one op
    when the op implements the activation (relu, gelu, silu/swish, tanh, ...;
    see docs/layer.md); any other callable is applied after the op.

    Beyond the stock layer: `strides > 1` together with `dilation_rate > 1`,
    and data_format="channels_first" on the CPU in every dtype.

    Args:
        filters: int, the number of output channels.
        kernel_size: int or tuple/list of 1 int, the window length.
        strides: int or tuple/list of 1 int.
        padding: "valid", "same" or "causal" (case-insensitive).
        data_format: "channels_last" (batch, steps, channels) or
            "channels_first" (batch, channels, steps); None follows the Keras
            config, which Keras 3's stock layer does by default (ours warns
            when the config says channels_first and it runs channels_last).
        dilation_rate: int or tuple/list of 1 int.
        activation: None (linear), a name, a keras.activations function or
            any callable.
        use_bias: whether to add a bias vector.
        kernel_initializer, bias_initializer, kernel_regularizer,
        bias_regularizer, activity_regularizer, kernel_constraint,
        bias_constraint: as in keras.layers.Conv1D.
        **kwargs: base-layer keywords (name, dtype, trainable, input_shape, ...),
            and the stock layer's `groups` (default 1): the input channels and
            filters split into `groups` groups, each output group reading its
            input group only; groups == input channels is the depthwise
            convolution (filters = multiplier * channels); under Keras 3,
            the stock layer's `lora_rank` and `lora_alpha` (see enable_lora).
    """

    def __init__(self, filters, kernel_size, strides=1, padding="valid",
                 data_format="channels_last", dilation_rate=1, activation=None,
                 use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(
            filters=filters, kernel_size=kernel_size, strides=strides, padding=padding,
            data_format=data_format, dilation_rate=dilation_rate, activation=activation,
            use_bias=use_bias, kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer, activity_regularizer=activity_regularizer,
            kernel_constraint=kernel_constraint, bias_constraint=bias_constraint, **kwargs)
