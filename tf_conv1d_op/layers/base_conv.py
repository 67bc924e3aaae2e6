"""The base class of the fused convolution layers.

Follows Keras' layers/convolutional/base_conv.py: arguments, weights, config
and shapes live here; Conv1D (conv1d.py) only fixes the public signature.
The computation is one FusedConv1D op: convolution, bias and, when the op
implements the Keras activation (activation_fusion.py), the activation.
"""
import numbers
import threading
import warnings

import tensorflow as tf

from tf_conv1d_op import _xla_support, ops
from tf_conv1d_op._geometry import KERAS_DATA_FORMATS as DATA_FORMATS
from tf_conv1d_op._geometry import PADDINGS as _OP_PADDINGS
from tf_conv1d_op._geometry import output_steps
from tf_conv1d_op.layers import activation_fusion
from tf_conv1d_op.layers.lora import LoraMixin
from tf_conv1d_op.layers._keras import IS_KERAS_3, KERNEL_ATTRIBUTE, keras

PADDINGS = tuple(padding.lower() for padding in _OP_PADDINGS)  # Keras spells them so


def _positive_int_tuple(value, name):
    """An int or a tuple/list of one int, > 0, as a 1-tuple (Keras' form)."""
    items = tuple(value) if isinstance(value, (tuple, list)) else (value,)
    if len(items) != 1 or isinstance(items[0], bool) or not isinstance(
            items[0], numbers.Integral):
        raise ValueError(f"The `{name}` argument must be a tuple of 1 integers. "
                         f"Received {name}={value!r}")
    if items[0] <= 0:
        raise ValueError(f"The `{name}` argument must be a tuple of 1 integers, "
                         f"each > 0. Received {name}={value!r}")
    return (int(items[0]),)


def _choice(value, choices, name):
    if not isinstance(value, str) or value.lower() not in choices:
        raise ValueError(f"The `{name}` argument must be one of {list(choices)}. "
                         f"Received {name}={value!r}")
    return value.lower()


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


# Set while from_config builds a layer: a config states its data_format.
_FROM_CONFIG = threading.local()


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
            getattr(_FROM_CONFIG, "depth", 0) or
            keras.backend.image_data_format() != "channels_first"):
        return
    warnings.warn(
        "tf_conv1d_op.Conv1D runs data_format='channels_last' (its default), but the "
        "Keras config's image data format is 'channels_first', which the stock "
        "keras.layers.Conv1D follows by default. Pass data_format=None (or "
        "'channels_first') to follow the config; where channels_last is meant, "
        "filter this warning (an explicit 'channels_last' cannot be told from the "
        "default).",
        UserWarning, stacklevel=4)


# LoRA exists in Keras 3's stock convolutions only (lora.py).
_KERAS_3_FEATURES = (LoraMixin,) if IS_KERAS_3 else ()


class FusedConvBase(*_KERAS_3_FEATURES, keras.layers.Layer):
    """activation(conv1d(inputs, kernel) + bias) as one fused op.

    See tf_conv1d_op.Conv1D for the arguments.
    """

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
        super().__init__(activity_regularizer=keras.regularizers.get(activity_regularizer),
                         **kwargs)
        if IS_KERAS_3:
            self._init_lora(lora_rank, lora_alpha)
        if (isinstance(filters, bool) or not isinstance(filters, numbers.Integral)
                or filters <= 0):
            raise ValueError("Invalid value for argument `filters`. Expected a strictly "
                             f"positive integer. Received filters={filters!r}.")
        self.filters = int(filters)
        self.groups = _groups(groups, self.filters, f"{type(self).__name__} {self.name!r}")
        self.kernel_size = _positive_int_tuple(kernel_size, "kernel_size")
        self.strides = _positive_int_tuple(strides, "strides")
        self.dilation_rate = _positive_int_tuple(dilation_rate, "dilation_rate")
        self.padding = _choice(padding, PADDINGS, "padding")
        if data_format is None:  # what the stock layer's default means
            data_format = keras.backend.image_data_format()
        self.data_format = _choice(data_format, tuple(DATA_FORMATS), "data_format")
        warn_if_config_says_channels_first(self.data_format)
        self.activation = keras.activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.bias_constraint = keras.constraints.get(bias_constraint)
        self.input_spec = keras.layers.InputSpec(ndim=3)
        # XLA compiles the op through its XLA kernels (cc/kernels/xla/); a library
        # built without them cannot be compiled, and then keeps Keras 3's
        # compile(jit_compile="auto") off XLA as before.
        if not _xla_support.can_compile():
            self.supports_jit = False
        # Decide (and check, once per process) the fusion now, while eager.
        activation_fusion.fused_name(self.activation)

    @property
    def _channel_axis(self):
        return -1 if self.data_format == "channels_last" else 1

    @property
    def _steps_axis(self):
        return 1 if self.data_format == "channels_last" else 2

    def build(self, input_shape):
        input_shape = tf.TensorShape(input_shape)
        if input_shape.rank != 3:
            raise ValueError(f"{type(self).__name__} expects inputs of rank 3, received "
                             f"input shape {input_shape}")
        channels = input_shape[self._channel_axis]
        if channels is None:
            raise ValueError(f"The channel dimension of the inputs to {type(self).__name__} "
                             f"must be known; received input shape {input_shape} "
                             f"(data_format={self.data_format}).")
        if channels % self.groups:
            raise ValueError(
                f"{type(self).__name__} {self.name!r}: the number of input channels must be "
                f"evenly divisible by the number of groups. Received groups={self.groups}, "
                f"but the input has {channels} channels (input shape {input_shape}).")
        self.input_spec = keras.layers.InputSpec(ndim=3, axes={self._channel_axis: channels})
        self.compute_output_shape(input_shape)  # validates the length
        kernel = self.add_weight(
            name="kernel", shape=self.kernel_size + (channels // self.groups, self.filters),
            initializer=self.kernel_initializer, regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint, trainable=True, dtype=self.dtype)
        setattr(self, KERNEL_ATTRIBUTE, kernel)
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias", shape=(self.filters,), initializer=self.bias_initializer,
                regularizer=self.bias_regularizer, constraint=self.bias_constraint,
                trainable=True, dtype=self.dtype)
        else:
            self.bias = None
        self.built = True
        if IS_KERAS_3:
            self._build_lora()

    def _cast_input(self, inputs, dtype, what="inputs"):
        inputs = tf.convert_to_tensor(inputs)
        if inputs.dtype != dtype:
            # Integers are cast like floats (the stock layer raises for them;
            # docs/layer.md); a cast would drop an imaginary part or fail.
            if not (inputs.dtype.is_floating or inputs.dtype.is_integer):
                raise TypeError(f"{type(self).__name__} takes floating or integer "
                                f"{what}, got {inputs.dtype.name}")
            inputs = tf.cast(inputs, dtype)
        return inputs

    def _check_streaming(self):
        if self.padding != "causal":
            raise ValueError(
                f"{type(self).__name__} {self.name!r}: initial_state and return_state need "
                f"padding='causal' (a stream can only be cut where no output step reads "
                f"later inputs); this layer has padding={self.padding!r}")
        if self._overrides_convolution_op():
            raise ValueError(
                f"{type(self).__name__} {self.name!r}: initial_state and return_state run "
                "the fused streaming op, which cannot call this class's own convolution_op")

    def _overrides_convolution_op(self):
        return type(self).convolution_op is not FusedConvBase.convolution_op

    def convolution_op(self, inputs, kernel):
        """conv1d(inputs, kernel) alone, without bias or activation: the stock
        layer's method, computed by our op. A subclass may override it (to
        transform the kernel, say, as Keras' examples do); `call` then calls
        it and adds the bias and the activation after it, unfused."""
        return ops.fused_conv1d(
            inputs, kernel, None, stride=self.strides[0], padding=self.padding.upper(),
            dilations=self.dilation_rate[0], data_format=DATA_FORMATS[self.data_format],
            groups=self.groups)

    def _call_through_convolution_op(self, inputs, kernel, bias):
        outputs = self.convolution_op(inputs, kernel)
        if bias is not None:
            outputs += tf.reshape(bias, (1, 1, -1) if self.data_format == "channels_last"
                                  else (1, -1, 1))
        return self.activation(outputs)

    def call(self, inputs, initial_state=None, return_state=False):
        """The layer's output; with return_state, (output, state).

        initial_state / return_state (causal padding only) run a stream chunk
        by chunk: the state is the last (kernel_size - 1) * dilation_rate
        input steps, [batch, steps, channels] in the layer's data_format
        (get_initial_state gives the zeros a sequence starts from).
        """
        dtype = tf.as_dtype(self.compute_dtype)
        inputs = self._cast_input(inputs, dtype)
        if initial_state is not None or return_state:
            self._check_streaming()
        if initial_state is not None:
            initial_state = self._cast_input(initial_state, dtype, "states")
        # Variables stay in their own dtype (float32 under mixed precision);
        # `kernel` is the variable, or under LoRA the merged kernel.
        kernel = tf.cast(self.kernel, dtype)
        bias = tf.cast(self.bias, dtype) if self.use_bias else None
        if self._overrides_convolution_op():
            return self._call_through_convolution_op(inputs, kernel, bias)
        fused = activation_fusion.fused_name(self.activation)
        outputs = ops.fused_conv1d(
            inputs, kernel, bias, stride=self.strides[0], padding=self.padding.upper(),
            dilations=self.dilation_rate[0], activation=fused,
            data_format=DATA_FORMATS[self.data_format], groups=self.groups,
            initial_state=initial_state,
            return_final_state=bool(return_state))
        outputs, state = outputs if return_state else (outputs, None)
        if fused is None and self.activation is not None:
            outputs = self.activation(outputs)
        return (outputs, state) if return_state else outputs

    def state_shape(self, batch_size=None):
        """The shape of the streaming state (see call): [batch, (kernel_size - 1)
        * dilation_rate, input channels] in the layer's data_format."""
        if not self.built:
            raise ValueError(f"{type(self).__name__} {self.name!r} must be built before its "
                             "state shape is known")
        steps = (self.kernel_size[0] - 1) * self.dilation_rate[0]
        channels = getattr(self, KERNEL_ATTRIBUTE).shape[1] * self.groups
        return ((batch_size, steps, channels) if self.data_format == "channels_last"
                else (batch_size, channels, steps))

    def get_initial_state(self, batch_size):
        """The state a stream starts from: zeros, as causal padding uses."""
        self._check_streaming()
        return tf.zeros(self.state_shape(batch_size), dtype=self.compute_dtype)

    if IS_KERAS_3:
        def compute_output_spec(self, inputs, initial_state=None, return_state=False):
            # The default reads compute_output_shape, which cannot say that
            # return_state adds a second output.
            output = keras.KerasTensor(self.compute_output_shape(inputs.shape),
                                       dtype=self.compute_dtype)
            if not return_state:
                return output
            self._check_streaming()
            state = self.state_shape(inputs.shape[0])
            return output, keras.KerasTensor(state, dtype=self.compute_dtype)

    def compute_output_shape(self, input_shape):
        shape = tf.TensorShape(input_shape)
        if shape.rank != 3:
            raise ValueError(f"{type(self).__name__} expects inputs of rank 3, received "
                             f"input shape {shape}")
        dims = shape.as_list()
        steps = output_steps(dims[self._steps_axis], self.kernel_size[0],
                             self.strides[0], self.dilation_rate[0], self.padding)
        if steps is not None and steps <= 0:
            raise ValueError(
                "Computed output size would be zero or negative. Received inputs shape="
                f"{tuple(dims)}, kernel_size={self.kernel_size}, strides={self.strides}, "
                f"dilation_rate={self.dilation_rate}, padding={self.padding}.")
        dims[self._steps_axis] = steps
        dims[self._channel_axis] = self.filters
        return tuple(dims) if IS_KERAS_3 else tf.TensorShape(dims)

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        # Checked before Keras 3's from_config could turn the ValueError into
        # a TypeError; filters themselves are checked by __init__.
        filters = config.get("filters")
        valid_filters = (isinstance(filters, numbers.Integral) and
                         not isinstance(filters, bool) and filters > 0)
        _groups(config.get("groups", 1), filters if valid_filters else None,
                f"{cls.__name__} {config.get('name')!r}")
        _FROM_CONFIG.depth = getattr(_FROM_CONFIG, "depth", 0) + 1
        try:
            return super().from_config(config)
        finally:
            _FROM_CONFIG.depth -= 1

    def get_config(self):
        config = super().get_config()
        config.update({
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": self.dilation_rate,
            "groups": self.groups,
            "activation": keras.activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
            "activity_regularizer": keras.regularizers.serialize(self.activity_regularizer),
            "kernel_constraint": keras.constraints.serialize(self.kernel_constraint),
            "bias_constraint": keras.constraints.serialize(self.bias_constraint),
        })
        if IS_KERAS_3:
            config.update(self._lora_config())
        return config
