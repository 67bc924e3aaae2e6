"""The base class of the fused convolution layers.

Follows Keras' layers/convolutional/: what every layer shares (the window's
geometry, data format, activation, bias, the call through the op, streaming,
shapes, the config's serialization) lives here; each layer adds its kernels
and its own arguments: Conv1D (conv1d.py: filters, groups, LoRA),
DepthwiseConv1D (depthwise_conv1d.py: a depth multiplier) and SeparableConv1D
(separable_conv1d.py: both). The computation is one FusedConv1D op (two for
the separable layer): convolution, bias and, when the op implements the Keras
activation (activation_fusion.py), the activation.
"""
import numbers
import threading

import tensorflow as tf

from tf_conv1d_op import _xla_support, ops
from tf_conv1d_op._geometry import KERAS_DATA_FORMATS as DATA_FORMATS
from tf_conv1d_op._geometry import PADDINGS as _OP_PADDINGS
from tf_conv1d_op._geometry import output_steps
from tf_conv1d_op.layers import activation_fusion
from tf_conv1d_op.layers._keras import IS_KERAS_3, keras, require_tensorflow_backend

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


def positive_int(value, name):
    """An int > 0 (not a bool), else the stock layers' ValueError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"Invalid value for argument `{name}`. Expected a strictly positive "
                         f"integer. Received {name}={value!r}.")
    return int(value)


def drop_tf_keras_leftovers(kwargs, names=()):
    """tf-keras' DepthwiseConv1D and SeparableConv1D derive from its Conv1D,
    and their configs carry keys of it that they do not use: `groups` (1) and
    the separable layer's kernel_* (`names`). Ours takes such a config and
    drops them; another `groups` stays, for the base layer to refuse."""
    if IS_KERAS_3:
        return
    if kwargs.get("groups", 1) == 1:
        kwargs.pop("groups", None)
    for name in names:
        kwargs.pop(name, None)


def _choice(value, choices, name):
    if not isinstance(value, str) or value.lower() not in choices:
        raise ValueError(f"The `{name}` argument must be one of {list(choices)}. "
                         f"Received {name}={value!r}")
    return value.lower()


# Set while from_config builds a layer: a config states its data_format.
_FROM_CONFIG = threading.local()


def building_from_config():
    """Whether a layer is being built from a config (loading, conversion)."""
    return bool(getattr(_FROM_CONFIG, "depth", 0))


class FusedConvBase(keras.layers.Layer):
    """activation(conv1d(inputs, kernel) + bias) as one fused op (or, with a
    pointwise kernel, as a grouped convolution and then a fused pointwise one).

    A subclass names its kernels' initializers (`kernel_initializers` of
    __init__), creates the kernel (`_add_kernel`), says how many output
    channels it makes (`_output_channels`) and hands the op its kernel in the
    op's layout [kernel_size, in_channels // groups, filters] with the groups
    (`_op_kernel`, `_op_groups`), and a separable layer its pointwise kernel
    (`_op_pointwise_kernel`); `get_config` lists its stock keys
    (`_stock_config`).
    """

    PADDINGS = PADDINGS  # the paddings the stock counterpart accepts
    rank = 1  # the stock convolutions' number of spatial dimensions
    # Whether the layer takes inputs with more than one batch dimension,
    # [batch..., steps, channels] (or [batch..., channels, steps]), folded
    # into one around the op, as its stock counterpart does (a subclass says).
    folds_batch_dims = False

    def __init__(self, kernel_size, strides, padding, data_format, dilation_rate, activation,
                 use_bias, kernel_initializers, bias_initializer, bias_regularizer,
                 activity_regularizer, bias_constraint, **kwargs):
        require_tensorflow_backend(type(self).__name__)
        super().__init__(activity_regularizer=keras.regularizers.get(activity_regularizer),
                         **kwargs)
        self.kernel_size = _positive_int_tuple(kernel_size, "kernel_size")
        self.strides = _positive_int_tuple(strides, "strides")
        self.dilation_rate = _positive_int_tuple(dilation_rate, "dilation_rate")
        self.padding = _choice(padding, self.PADDINGS, "padding")
        if data_format is None:  # what the stock layers' default means
            data_format = keras.backend.image_data_format()
        self.data_format = _choice(data_format, tuple(DATA_FORMATS), "data_format")
        self.activation = keras.activations.get(activation)
        self.use_bias = bool(use_bias)
        # The kernels' initializers (attribute: identifier, in the stock
        # layer's order), then the bias's, as the stock layers make them:
        # Keras 3 draws an unseeded initializer's seed when it is made, so the
        # order decides the weights that keras.utils.set_random_seed gives.
        for attribute, identifier in kernel_initializers.items():
            setattr(self, attribute, keras.initializers.get(identifier))
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.bias_constraint = keras.constraints.get(bias_constraint)
        self.input_spec = self._make_input_spec()
        # XLA compiles the op through its XLA kernels (cc/kernels/xla/); a library
        # built without them cannot be compiled, and then keeps Keras 3's
        # compile(jit_compile="auto") off XLA as before.
        if not _xla_support.can_compile():
            self.supports_jit = False
        # Decide (and check, once per process) the fusion now, while eager.
        activation_fusion.fused_name(self.activation)

    # What a subclass provides.
    def _check_channels(self, channels, input_shape):
        """Refuses input channels the layer cannot take (at build)."""

    def _add_kernel(self, channels):
        raise NotImplementedError

    def _output_channels(self, channels):
        """The output channels for `channels` input channels (None: unknown)."""
        raise NotImplementedError

    def _op_kernel(self):
        raise NotImplementedError

    def _op_groups(self):
        raise NotImplementedError

    def _op_pointwise_kernel(self):
        """A separable layer's [1, channels, filters] kernel, applied after
        the first (grouped) convolution; None for one convolution."""
        return None

    def _call_own_convolution(self, inputs, kernel, bias):
        """The output computed by a subclass's own convolution (Conv1D's
        overridden convolution_op), or None where the layer runs the op."""
        return None

    # Counted from the end: leading batch dimensions come first.
    @property
    def _channel_axis(self):
        return -1 if self.data_format == "channels_last" else -2

    @property
    def _steps_axis(self):
        return -2 if self.data_format == "channels_last" else -1

    def _make_input_spec(self, axes=None):
        if self.folds_batch_dims:
            return keras.layers.InputSpec(min_ndim=3, axes=axes)
        return keras.layers.InputSpec(ndim=3, axes=axes)

    def _check_rank(self, shape):
        if shape.rank == 3 or (self.folds_batch_dims and (shape.rank or 0) > 3):
            return
        expected = "3 or more" if self.folds_batch_dims else "3"
        raise ValueError(f"{type(self).__name__} {self.name!r} expects inputs of rank "
                         f"{expected}, received input shape {shape}")

    def build(self, input_shape):
        input_shape = tf.TensorShape(input_shape)
        self._check_rank(input_shape)
        channels = input_shape[self._channel_axis]
        if channels is None:
            raise ValueError(f"The channel dimension of the inputs to {type(self).__name__} "
                             f"must be known; received input shape {input_shape} "
                             f"(data_format={self.data_format}).")
        self._check_channels(channels, input_shape)
        self.input_spec = self._make_input_spec(axes={self._channel_axis: channels})
        self.compute_output_shape(input_shape)  # validates the length
        self._in_channels = int(channels)
        self._add_kernel(channels)
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias", shape=(self._output_channels(channels),),
                initializer=self.bias_initializer, regularizer=self.bias_regularizer,
                constraint=self.bias_constraint, trainable=True, dtype=self.dtype)
        else:
            self.bias = None
        self.built = True

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
        if inputs.shape.rank is not None and inputs.shape.rank > 3:
            if initial_state is not None or return_state:
                raise ValueError(
                    f"{type(self).__name__} {self.name!r}: initial_state and return_state "
                    f"take inputs with one batch dimension; received input shape "
                    f"{inputs.shape}")
            return self._call_folded(inputs)
        if initial_state is not None:
            initial_state = self._cast_input(initial_state, dtype, "states")
        # Variables stay in their own dtype (float32 under mixed precision).
        kernel = tf.cast(self._op_kernel(), dtype)
        bias = tf.cast(self.bias, dtype) if self.use_bias else None
        own = self._call_own_convolution(inputs, kernel, bias)
        if own is not None:
            return own
        fused = activation_fusion.fused_name(self.activation)
        data_format = DATA_FORMATS[self.data_format]
        pointwise = self._op_pointwise_kernel()
        # A separable layer's bias and activation follow its pointwise step.
        epilogue = (bias, fused) if pointwise is None else (None, None)
        outputs = ops.fused_conv1d(
            inputs, kernel, epilogue[0], stride=self.strides[0], padding=self.padding.upper(),
            dilations=self.dilation_rate[0], activation=epilogue[1], data_format=data_format,
            groups=self._op_groups(), initial_state=initial_state,
            return_final_state=bool(return_state))
        outputs, state = outputs if return_state else (outputs, None)
        if pointwise is not None:
            # SAME: for one tap what VALID computes, and it takes no steps too.
            outputs = ops.fused_conv1d(outputs, tf.cast(pointwise, dtype), bias, padding="SAME",
                                       activation=fused, data_format=data_format)
        if fused is None and self.activation is not None:
            outputs = self.activation(outputs)
        return (outputs, state) if return_state else outputs

    def _call_folded(self, inputs):
        """The output for inputs with several batch dimensions, computed with
        them folded into one (the product is stated: -1 cannot be inferred
        where a step or channel count is 0)."""
        self._check_rank(inputs.shape)
        leading = tf.shape(inputs)[:-2]
        folded = tf.reshape(inputs, tf.concat(
            [tf.reduce_prod(leading, keepdims=True), tf.shape(inputs)[-2:]], 0))
        outputs = self.call(folded)
        return tf.reshape(outputs, tf.concat([leading, tf.shape(outputs)[1:]], 0))

    def state_shape(self, batch_size=None):
        """The shape of the streaming state (see call): [batch, (kernel_size - 1)
        * dilation_rate, input channels] in the layer's data_format."""
        if not self.built:
            raise ValueError(f"{type(self).__name__} {self.name!r} must be built before its "
                             "state shape is known")
        steps = (self.kernel_size[0] - 1) * self.dilation_rate[0]
        channels = self._in_channels
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
        self._check_rank(shape)
        dims = shape.as_list()
        steps = output_steps(dims[self._steps_axis], self.kernel_size[0],
                             self.strides[0], self.dilation_rate[0], self.padding)
        # SAME and CAUSAL give no steps for none (an empty output the op
        # computes); VALID needs the kernel's extent, as the stock layers do.
        if steps is not None and steps <= 0 and self.padding == "valid":
            raise ValueError(
                "Computed output size would be zero or negative. Received inputs shape="
                f"{tuple(dims)}, kernel_size={self.kernel_size}, strides={self.strides}, "
                f"dilation_rate={self.dilation_rate}, padding={self.padding}.")
        dims[self._steps_axis] = steps
        dims[self._channel_axis] = self._output_channels(dims[self._channel_axis])
        return tuple(dims) if IS_KERAS_3 else tf.TensorShape(dims)

    @classmethod
    def from_config(cls, config):
        _FROM_CONFIG.depth = getattr(_FROM_CONFIG, "depth", 0) + 1
        try:
            return super().from_config(config)
        finally:
            _FROM_CONFIG.depth -= 1

    def _stock_config(self, keys):
        """The config entries `keys` (the stock layer's names, in its order)
        from the attributes of the same names, serialized as Keras does."""
        serializers = {"initializer": keras.initializers.serialize,
                       "regularizer": keras.regularizers.serialize,
                       "constraint": keras.constraints.serialize}
        config = {}
        for key in keys:
            value = getattr(self, key)
            if key == "activation":
                value = keras.activations.serialize(value)
            elif key.rsplit("_", 1)[-1] in serializers:
                value = serializers[key.rsplit("_", 1)[-1]](value)
            config[key] = value
        return config
