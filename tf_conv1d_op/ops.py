"""`fused_conv1d`: the Python face of the FusedConv1D op."""
import numbers

import tensorflow as tf

from tf_conv1d_op import _causal_state, _implementation
from tf_conv1d_op import activations as _activations
from tf_conv1d_op import composite as _composite
from tf_conv1d_op._geometry import DATA_FORMATS, PADDINGS
from tf_conv1d_op._library import ops as _ops


# The ops' T attribute (cc/kernels/core/dtypes.h); written here too, since the
# composite implementation runs without the library (tests/op/test_tables_agree.py).
SUPPORTED_DTYPES = (tf.float16, tf.bfloat16, tf.float32, tf.float64)
_INT64_MAX = 2**63 - 1


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _window_attr(value, what, data_format):
    """An int, or a list of 1 or 3 ints as tf.nn.conv1d takes for strides.

    Anything but an int is refused here: the generated op would truncate
    1.5 to 1 and 0.5 to 0 before any check could see it.
    """
    if isinstance(value, (list, tuple)):
        if not all(_is_int(v) for v in value):
            raise TypeError(f"fused_conv1d: {what} must be an int or a list of ints, "
                            f"got {value!r}")
        if len(value) == 1:
            value = value[0]
        elif len(value) == 3:
            spatial = 1 if data_format == "NWC" else 2
            others = [v for i, v in enumerate(value) if i != spatial]
            if any(v != 1 for v in others):
                raise ValueError(
                    f"fused_conv1d: {what} of length 3 must be 1 in the batch and "
                    f"channel positions, got {list(value)}")
            value = value[spatial]
        else:
            raise ValueError(f"fused_conv1d: {what} must be an int or a list of 1 or "
                             f"3 ints, got {value!r}")
    return _positive_int(value, what, "an int")


def _positive_int(value, what, expected):
    """value as an int in [1, 2**63 - 1] (an int64 attribute, checked by the op
    too); otherwise an error saying `what` must be `expected`."""
    if not _is_int(value):
        raise TypeError(f"fused_conv1d: {what} must be {expected}, got {value!r} "
                        f"({type(value).__name__})")
    value = int(value)
    if not 1 <= value <= _INT64_MAX:
        raise ValueError(f"fused_conv1d: {what} must be in [1, 2**63 - 1], got {value}")
    return value


def _check_choice(value, choices, what):
    if not isinstance(value, str) or value.upper() not in choices:
        raise ValueError(f"fused_conv1d: {what} must be one of {list(choices)}, "
                         f"got {value!r}")
    return value.upper()


def _check_static_shapes(x, filters, bias, data_format, padding, dilation, groups):
    if x.shape.rank is not None and x.shape.rank != 3:
        raise ValueError(f"fused_conv1d: input must be rank 3 ({data_format}), got "
                         f"shape {x.shape}")
    if filters.shape.rank is not None and filters.shape.rank != 3:
        raise ValueError("fused_conv1d: filters must be rank 3 [kernel_size, "
                         f"in_channels, out_channels], got shape {filters.shape}")
    if bias is not None and bias.shape.rank is not None and bias.shape.rank != 1:
        raise ValueError(f"fused_conv1d: bias must be rank 1, got shape {bias.shape}")
    if groups == 1 and x.shape.rank == 3 and filters.shape.rank == 3:
        in_channels = x.shape[2 if data_format == "NWC" else 1]
        if None not in (in_channels, filters.shape[1]) and in_channels != filters.shape[1]:
            raise ValueError(
                f"fused_conv1d: input has {in_channels} channels but filters expect "
                f"{filters.shape[1]} (filters shape {filters.shape})")
    if groups > 1:
        _check_static_groups(x, filters, data_format, groups)
    if filters.shape.rank == 3:
        if filters.shape[0] == 0:
            raise ValueError("fused_conv1d: kernel_size (filters dimension 0) must be >= 1, "
                             f"got filters shape {filters.shape}")
        if filters.shape[2] == 0:
            raise ValueError("fused_conv1d: the number of filters (filters dimension 2) "
                             f"must be >= 1, got filters shape {filters.shape}")
        steps = x.shape[1 if data_format == "NWC" else 2] if x.shape.rank == 3 else None
        if padding == "VALID" and None not in (steps, filters.shape[0]):
            extent = (filters.shape[0] - 1) * dilation + 1
            if steps < extent:
                raise ValueError(
                    "fused_conv1d: VALID padding needs at least (kernel_size - 1) * "
                    f"dilation + 1 = {extent} input steps, got {steps}")
        if (bias is not None and bias.shape.rank == 1 and
                None not in (bias.shape[0], filters.shape[2]) and
                bias.shape[0] != filters.shape[2]):
            raise ValueError(
                f"fused_conv1d: bias has {bias.shape[0]} elements but there are "
                f"{filters.shape[2]} filters (bias shape {bias.shape}, filters shape "
                f"{filters.shape})")




def _check_static_groups(x, filters, data_format, groups):
    """The channel counts `groups` must divide, and the filter's group width.

    Filters are [kernel_size, in_channels // groups, out_channels], as Keras';
    output channel f belongs to group f // (out_channels // groups).
    """
    in_channels = x.shape[2 if data_format == "NWC" else 1] if x.shape.rank == 3 else None
    group_width = filters.shape[1] if filters.shape.rank == 3 else None
    out_channels = filters.shape[2] if filters.shape.rank == 3 else None
    if in_channels is not None and in_channels % groups:
        raise ValueError(
            f"fused_conv1d: groups must divide the input channels; expected a divisor "
            f"of {in_channels} (input shape {x.shape}), got groups={groups}")
    if out_channels is not None and out_channels % groups:
        raise ValueError(
            f"fused_conv1d: groups must divide the number of filters; expected a "
            f"divisor of {out_channels} (filters shape {filters.shape}), got "
            f"groups={groups}")
    if None not in (in_channels, group_width) and group_width * groups != in_channels:
        raise ValueError(
            f"fused_conv1d: with groups={groups}, the filters must have in_channels // "
            f"groups = {in_channels // groups} in dimension 1 ([kernel_size, "
            f"in_channels // groups, out_channels]); got filters shape {filters.shape} "
            f"for input shape {x.shape}")


def fused_conv1d(input, filters, bias=None, stride=1, padding="VALID", dilations=1,
                 activation=None, data_format="NWC", name=None, *,
                 negative_slope=_activations.DEFAULT_NEGATIVE_SLOPE, groups=1,
                 initial_state=None, return_final_state=False):
    """activation(conv1d(input, filters) + bias) in one fused op.

    Args:
      input: [batch, steps, in_channels] (NWC) or [batch, in_channels, steps]
        (NCW); half, bfloat16, float32 or float64.
      filters: [kernel_size, in_channels // groups, out_channels] (the Keras
        kernel layout).
      bias: [out_channels] or None.
      stride: int, or a list of 1 or 3 ints as in tf.nn.conv1d.
      padding: "VALID", "SAME" (TF's rule) or "CAUSAL" (output step t sees input
        steps up to t * stride only).
      dilations: int, or a list of 1 or 3 ints. Unlike tf.nn.conv1d, stride > 1
        together with dilation > 1 is supported.
      activation: None (linear) or one of tf_conv1d_op.FUSED_ACTIVATIONS
        ("swish" is an alias of "silu").
      data_format: "NWC" or "NCW".
      negative_slope: the slope of "leaky_relu" for negative inputs.
      groups: grouped convolution: in_channels and out_channels split into
        `groups` equal groups, output group g reading input group g only
        (output channel f is in group f // (out_channels // groups)).
        groups == in_channels is the depthwise convolution (out_channels =
        multiplier * in_channels; output channel c * multiplier + j reads
        input channel c).
      initial_state: CAUSAL padding only: the (kernel_size - 1) * dilation
        input steps before `input`, [batch, steps, in_channels] or NCW, in
        place of the zeros CAUSAL padding puts there. For running a stream in
        chunks (docs/layer.md, "Streaming"); gradients flow into it.
      return_final_state: CAUSAL padding only: also return the state for the
        next chunk, the last (kernel_size - 1) * dilation input steps. The
        chunk's length must then be a multiple of the stride. With the
        compiled library this runs the streaming op, which reads the state
        and the chunk in place (docs/layer.md, "Streaming").

    Returns:
      The output, [batch, out_steps, out_channels] or NCW; with
      return_final_state, (output, final_state).
    """
    with tf.name_scope(name or "fused_conv1d"):
        data_format = _check_choice(data_format, DATA_FORMATS, "data_format")
        padding = _check_choice(padding, PADDINGS, "padding")
        stride = _window_attr(stride, "stride", data_format)
        dilation = _window_attr(dilations, "dilations", data_format)
        groups = _positive_int(groups, "groups", "an int >= 1")
        activation = _activations.canonical_activation(activation)
        if isinstance(negative_slope, bool) or not isinstance(negative_slope, numbers.Real):
            raise TypeError(f"fused_conv1d: negative_slope must be a number, "
                            f"got {negative_slope!r}")

        x = tf.convert_to_tensor(input)
        if x.dtype not in SUPPORTED_DTYPES:
            raise TypeError(f"fused_conv1d: input dtype must be one of "
                            f"{[d.name for d in SUPPORTED_DTYPES]}, got {x.dtype.name}")
        filters = tf.convert_to_tensor(filters, dtype_hint=x.dtype)
        if filters.dtype != x.dtype:
            raise TypeError(f"fused_conv1d: filters dtype {filters.dtype.name} does not "
                            f"match input dtype {x.dtype.name}")
        if bias is not None:
            bias = tf.convert_to_tensor(bias, dtype_hint=x.dtype)
            if bias.dtype != x.dtype:
                raise TypeError(f"fused_conv1d: bias dtype {bias.dtype.name} does not "
                                f"match input dtype {x.dtype.name}")
        _check_static_shapes(x, filters, bias, data_format, padding, dilation, groups)
        if bias is None:
            bias = tf.zeros([0], dtype=x.dtype)  # the op's "no bias"
        composite = _implementation.current() == _implementation.COMPOSITE

        def convolve(x, padding):
            if composite:
                return _composite.fused_conv1d(
                    x, filters, bias, stride=stride, dilation=dilation, padding=padding,
                    data_format=data_format, activation=activation,
                    negative_slope=negative_slope, groups=groups)
            output, _ = _ops.fused_conv1d(
                x, filters, bias, stride=stride, dilation=dilation, padding=padding,
                data_format=data_format, activation=activation,
                negative_slope=float(negative_slope), groups=groups)
            return output

        if initial_state is None and not return_final_state:
            return convolve(x, padding)

        def stream(state, x):
            return _ops.fused_conv1d_stream(
                state, x, filters, bias, stride=stride, dilation=dilation,
                data_format=data_format, activation=activation,
                negative_slope=float(negative_slope))

        # The streaming op is dense: a grouped chunk runs the convolution of
        # concat(state, chunk) instead.
        return _with_state(convolve, None if composite or groups != 1 else stream, x, filters,
                           initial_state, return_final_state, padding, stride, dilation,
                           data_format, groups)


def _through_stride_split(x, stride, steps_axis):
    """x, reshaped with its steps split into [steps / stride, stride] and back
    (no copy): the check of the chunk length that XLA keeps, which compiles
    Assert ops away. A length off the stride fails that reshape when XLA
    compiles the step, the node's name saying why. (The streaming op's XLA
    kernel checks it itself; the concat formulation has no other check.)"""
    shape = tf.shape(x)
    split = tf.concat([shape[:steps_axis], [shape[steps_axis] // stride, stride],
                       shape[steps_axis + 1:]], axis=0)
    return tf.reshape(tf.reshape(x, split, name="chunk_length_must_be_a_multiple_of_the_stride"),
                      shape)


def _with_state(convolve, stream, x, filters, initial_state, return_final_state, padding,
                stride, dilation, data_format, groups):
    """fused_conv1d's CAUSAL padding from a state (tf_conv1d_op/_causal_state.py)."""
    if padding != "CAUSAL":
        raise ValueError("fused_conv1d: initial_state and return_final_state need "
                         f"padding='CAUSAL', got padding={padding!r}")
    steps_axis = 1 if data_format == "NWC" else 2
    if x.shape.rank == 3 and x.shape[steps_axis] == 0:
        raise ValueError("fused_conv1d: a chunk run with initial_state or "
                         "return_final_state needs at least one step, got input shape "
                         f"{x.shape}")
    if return_final_state and stride > 1:
        # A state is the steps before the next chunk; the next chunk's first
        # output must then fall on its first step, so this chunk's length must
        # be a multiple of the stride. Otherwise the state would silently give
        # wrong outputs later.
        steps = x.shape[steps_axis] if x.shape.rank == 3 else None
        message = (f"fused_conv1d: with return_final_state and stride {stride}, the chunk "
                   f"length must be a multiple of the stride (pad the last chunk of a "
                   f"stream at its end and drop the extra outputs)")
        if steps is not None and steps % stride:
            raise ValueError(f"{message}; got input shape {x.shape}")
        if steps is None:
            with tf.control_dependencies([tf.debugging.assert_equal(
                    tf.shape(x)[steps_axis] % stride, 0, message=message)]):
                x = tf.identity(x)
            x = _through_stride_split(x, stride, steps_axis)
    kernel_size = filters.shape[0] if filters.shape[0] is not None else tf.shape(filters)[0]
    # The state holds input steps, all in_channels = filters dimension 1 * groups.
    group_width = filters.shape[1] if filters.shape[1] is not None else tf.shape(filters)[1]
    in_channels = group_width * groups
    if initial_state is None:
        state = _causal_state.zero_state(x, kernel_size, in_channels, dilation, data_format)
    else:
        state = tf.convert_to_tensor(initial_state, dtype_hint=x.dtype)
        _causal_state.check_state(state, x, kernel_size, in_channels, dilation, data_format)
    # The streaming op returns a final state, so it runs only when one is asked for.
    output, final_state = _causal_state.run(lambda padded: convolve(padded, "VALID"), x,
                                            state, kernel_size, dilation, data_format,
                                            stream=stream if return_final_state else None)
    return (output, final_state) if return_final_state else output
