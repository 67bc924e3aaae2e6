"""tf_conv1d_op.Conv1D: a drop-in replacement for keras.layers.Conv1D."""
import numbers
import warnings

import tensorflow as tf

from tf_conv1d_op import ops
from tf_conv1d_op._geometry import KERAS_DATA_FORMATS as DATA_FORMATS
from tf_conv1d_op.layers import base_conv
from tf_conv1d_op.layers._keras import IS_KERAS_3, KERNEL_ATTRIBUTE, keras
from tf_conv1d_op.layers.lora import LoraMixin

# The stock layer's config keys, in its order.
_CONFIG_KEYS = ("filters", "kernel_size", "strides", "padding", "data_format",
                "dilation_rate", "groups", "activation", "use_bias", "kernel_initializer",
                "bias_initializer", "kernel_regularizer", "bias_regularizer",
                "activity_regularizer", "kernel_constraint", "bias_constraint")

# LoRA exists in Keras 3's stock convolutions only (lora.py).
_KERAS_3_FEATURES = (LoraMixin,) if IS_KERAS_3 else ()


def _groups(value, filters, layer):
    """The stock layer's `groups`, checked as Keras 3 checks it: a positive
    int dividing `filters` (unless None; build checks the input channels).
    tf-keras' layer takes `groups or 1`, so there None and 0 mean 1, for ours
    too."""
    if not IS_KERAS_3 and (value is None or value is False or (
            isinstance(value, numbers.Number) and value == 0)):
        return 1
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"{layer}: the number of groups must be a positive integer. "
                         f"Received: groups={value!r}.")
    if filters is not None and filters % value:
        raise ValueError(f"{layer}: the number of filters must be evenly divisible by "
                         f"the number of groups. Received: groups={value}, filters={filters}.")
    return int(value)


def warn_if_config_says_channels_first(data_format):
    """Warns where the stock layer would follow the Keras config and ours not.

    Keras 3's stock default data_format=None reads keras.config's image data
    format; ours defaults to 'channels_last' (the documented signature), so
    under set_image_data_format("channels_first") the same code gives other
    shapes. tf-keras' stock default is 'channels_last' too: no warning there.
    A layer built from a config (loading, replace_conv1d) states its format
    and is not warned about.
    """
    if (not IS_KERAS_3 or data_format != "channels_last" or
            base_conv.building_from_config() or
            keras.backend.image_data_format() != "channels_first"):
        return
    warnings.warn(
        "tf_conv1d_op.Conv1D runs data_format='channels_last' (its default), but the "
        "Keras config's image data format is 'channels_first', which the stock "
        "keras.layers.Conv1D follows by default. Pass data_format=None (or "
        "'channels_first') to follow the config; where channels_last is meant, "
        "filter this warning (an explicit 'channels_last' cannot be told from the "
        "default).",
        UserWarning, stacklevel=3)


@keras.utils.register_keras_serializable(package="tf_conv1d_op")
class Conv1D(*_KERAS_3_FEATURES, base_conv.FusedConvBase):
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

    # tf-keras' Conv1D folds leading batch dimensions into one (not its
    # DepthwiseConv1D or SeparableConv1D, nor Keras 3's layers).
    folds_batch_dims = not IS_KERAS_3

    def __init__(self, filters, kernel_size, strides=1, padding="valid",
                 data_format="channels_last", dilation_rate=1, activation=None,
                 use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        # `groups` (and Keras 3's `lora_rank`, `lora_alpha`) travel in
        # **kwargs: the documented signature is the stock Conv1D's as README
        # shows it. The stock layer's default is 1 group.
        groups = kwargs.pop("groups", 1)
        if IS_KERAS_3:
            lora_rank, lora_alpha = kwargs.pop("lora_rank", None), kwargs.pop("lora_alpha", None)
        kernel_initializers = {"kernel_initializer": kernel_initializer}
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate, activation,
                         use_bias, kernel_initializers, bias_initializer, bias_regularizer,
                         activity_regularizer, bias_constraint, **kwargs)
        self.filters = base_conv.positive_int(filters, "filters")
        self.groups = _groups(groups, self.filters, f"{type(self).__name__} {self.name!r}")
        warn_if_config_says_channels_first(self.data_format)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        if IS_KERAS_3:
            self._init_lora(lora_rank, lora_alpha)

    def _check_channels(self, channels, input_shape):
        if channels % self.groups:
            raise ValueError(
                f"{type(self).__name__} {self.name!r}: the number of input channels must be "
                f"evenly divisible by the number of groups. Received groups={self.groups}, "
                f"but the input has {channels} channels (input shape {input_shape}).")

    def _add_kernel(self, channels):
        # In the stock layer's attribute (_keras.py), so checkpoints match.
        setattr(self, KERNEL_ATTRIBUTE, self.add_weight(
            name="kernel", shape=self.kernel_size + (channels // self.groups, self.filters),
            initializer=self.kernel_initializer, regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint, trainable=True, dtype=self.dtype))

    def build(self, input_shape):
        super().build(input_shape)
        if IS_KERAS_3:
            self._build_lora()

    def _output_channels(self, channels):
        return self.filters

    def _op_kernel(self):
        return self.kernel  # the variable, or under LoRA the merged kernel

    def _op_groups(self):
        return self.groups

    def convolution_op(self, inputs, kernel):
        """conv1d(inputs, kernel) alone, without bias or activation: the stock
        layer's method, computed by our op. A subclass may override it (to
        transform the kernel, say, as Keras' examples do); `call` then calls
        it and adds the bias and the activation after it, unfused."""
        return ops.fused_conv1d(
            inputs, kernel, None, stride=self.strides[0], padding=self.padding.upper(),
            dilations=self.dilation_rate[0], data_format=DATA_FORMATS[self.data_format],
            groups=self.groups)

    def _overrides_convolution_op(self):
        return type(self).convolution_op is not Conv1D.convolution_op

    def _call_own_convolution(self, inputs, kernel, bias):
        if not self._overrides_convolution_op():
            return None
        outputs = self.convolution_op(inputs, kernel)
        if bias is not None:
            outputs += tf.reshape(bias, (1, 1, -1) if self.data_format == "channels_last"
                                  else (1, -1, 1))
        return self.activation(outputs)

    def _check_streaming(self):
        super()._check_streaming()
        if self._overrides_convolution_op():
            raise ValueError(
                f"{type(self).__name__} {self.name!r}: initial_state and return_state run "
                "the fused streaming op, which cannot call this class's own convolution_op")

    @classmethod
    def from_config(cls, config):
        # Checked before Keras 3's from_config could turn the ValueError into
        # a TypeError; filters themselves are checked by __init__.
        filters = config.get("filters")
        valid_filters = (isinstance(filters, numbers.Integral) and
                         not isinstance(filters, bool) and filters > 0)
        _groups(config.get("groups", 1), filters if valid_filters else None,
                f"{cls.__name__} {config.get('name')!r}")
        return super().from_config(config)

    def get_config(self):
        config = {**super().get_config(), **self._stock_config(_CONFIG_KEYS)}
        if IS_KERAS_3:
            config.update(self._lora_config())
        return config
