"""pfor converters of the three ops, for tf.vectorized_map and the tapes'
jacobian and batch_jacobian.

A vectorized loop of n iterations gives each loop-variant operand a leading
dimension n. The converters fold it into a dimension the op already has,
so the whole loop is one call of the same kernel:

- into the batch, where the batch-carrying operands vary (input; output
  gradient and operand) and the filter does not: the batch is independent
  rows, except in FusedConv1DBackpropFilter, which sums over it;
- into the channels, where the filter (or bias) varies and the operand it
  meets does not: n filters side by side are one filter with n times the
  channels (out-channels in the forward op and the filter gradient,
  in-channels in the input gradient), and so is an input of n x Cin channels
  convolved per-iteration in the filter gradient.

Where both sides vary (per-example filter gradients under vectorized_map;
a filter that differs per iteration applied to inputs that differ too), no
fold keeps iterations apart; pfor's own fallback runs the op once per
iteration in a while_loop, and says so in a warning naming the reason.
Loop-invariant operands that meet a folded one are tiled n times.
"""
import tensorflow as tf
from tensorflow.python.ops.parallel_for import pfor as _pfor

from tf_conv1d_op import _op_names
from tf_conv1d_op._activation_derivatives import operand_is_preactivation
from tf_conv1d_op._library import ops as _ops
from tf_conv1d_op._op_attrs import attrs_of


def _loop_length(pfor_input):
    return tf.cast(pfor_input.pfor.loop_len_vector[0], tf.int32)


def _int32(t):
    return tf.cast(t, tf.int32)


# Activations [n, batch, ...] <-> [n * batch, ...].
def _fold_batch(t):
    shape = tf.shape(t)
    return tf.reshape(t, tf.concat([[shape[0] * shape[1]], shape[2:]], 0))


def _unfold_batch(t, n, batch):
    return tf.reshape(t, tf.concat([[n, batch], tf.shape(t)[1:]], 0))


# Activations [n, batch, steps, c] (NWC) <-> [batch, steps, n * c]; NCW alike.
# Channel j * c + k is channel k of iteration j, the order tf.tile gives.
def _fold_channels(t, data_format):
    shape = tf.shape(t)
    if data_format == "NWC":
        t = tf.transpose(t, [1, 2, 0, 3])
        return tf.reshape(t, [shape[1], shape[2], shape[0] * shape[3]])
    t = tf.transpose(t, [1, 0, 2, 3])
    return tf.reshape(t, [shape[1], shape[0] * shape[2], shape[3]])


def _unfold_channels(t, n, channels, data_format):
    shape = tf.shape(t)
    if data_format == "NWC":
        t = tf.reshape(t, [shape[0], shape[1], n, channels])
        return tf.transpose(t, [2, 0, 1, 3])
    t = tf.reshape(t, [shape[0], n, channels, shape[2]])
    return tf.transpose(t, [1, 0, 2, 3])


def _tile_channels(t, n, data_format):
    return tf.tile(t, [1, 1, n] if data_format == "NWC" else [1, n, 1])


def _channel_multiples(n, data_format):
    """Multiplies an activation shape's channel entry by n."""
    ones = tf.ones([], tf.int64)
    n = tf.cast(n, tf.int64)
    return tf.stack([ones, ones, n] if data_format == "NWC" else [ones, n, ones])


# Filters [n, k, cin, cout] <-> [k, n * cin, cout] or [k, cin, n * cout].
def _fold_filter(w, axis):
    shape = tf.shape(w)
    if axis == 1:
        return tf.reshape(tf.transpose(w, [1, 0, 2, 3]),
                          [shape[1], shape[0] * shape[2], shape[3]])
    return tf.reshape(tf.transpose(w, [1, 2, 0, 3]),
                      [shape[1], shape[2], shape[0] * shape[3]])


def _unfold_filter(w, n, channels, axis):
    shape = tf.shape(w)
    if axis == 1:
        w = tf.reshape(w, [shape[0], n, channels, shape[2]])
        return tf.transpose(w, [1, 0, 2, 3])
    w = tf.reshape(w, [shape[0], shape[1], n, channels])
    return tf.transpose(w, [2, 0, 1, 3])


def _tile_filter(w, n, axis):
    return tf.tile(w, [1, n, 1] if axis == 1 else [1, 1, n])


# Side by side, n grouped filters are not one grouped filter (its groups
# would mix iterations), so a grouped op folds into the batch only.
_GROUPED_CHANNEL_FOLD = ("the filter varies per iteration of a grouped convolution "
                         "(groups != 1: no channel fold keeps the groups apart)")


def _fallback(pfor_input, why):
    # vectorized_map(..., fallback_to_while_loop=False) asks for an error.
    if not getattr(pfor_input.pfor, "_fallback_to_while_loop", True):
        raise ValueError(f"No vectorized conversion of {pfor_input.op_type} where {why}, "
                         "and fallback_to_while_loop is False")
    return _pfor._fallback_converter(pfor_input, root_cause=why, warn=True)


def _fused_conv1d(pfor_input):
    x, x_stacked, _ = pfor_input.input(0)
    w, w_stacked, _ = pfor_input.input(1)
    b, b_stacked, _ = pfor_input.input(2)
    attrs = attrs_of(pfor_input)
    data_format = attrs["data_format"]
    keeps_z = operand_is_preactivation(attrs["activation"], attrs["negative_slope"])
    n = _loop_length(pfor_input)
    if not (w_stacked or b_stacked):
        y, z = _ops.fused_conv1d(_fold_batch(x), w, b, **attrs)
        batch = tf.shape(x)[1]
        y = _unfold_batch(y, n, batch)
        z = (_pfor.wrap(_unfold_batch(z, n, batch), True) if keeps_z
             else _pfor.wrap(z, False))  # the empty placeholder
        return _pfor.wrap(y, True), z
    if x_stacked:
        return _fallback(pfor_input, "both the input and the filter or bias vary per "
                         "iteration (no fold keeps iterations apart)")
    if attrs["groups"] != 1:
        return _fallback(pfor_input, _GROUPED_CHANNEL_FOLD)
    filters = tf.shape(w)[-1]
    w = _fold_filter(w, 2) if w_stacked else _tile_filter(w, n, 2)
    # A stacked bias [n, cout] flattens in the folded channel order; an
    # unstacked one, [cout] or [0] (no bias), tiles to it.
    b = tf.reshape(b, [-1]) if b_stacked else tf.tile(b, [n])
    y, z = _ops.fused_conv1d(x, w, b, **attrs)
    y = _pfor.wrap(_unfold_channels(y, n, filters, data_format), True)
    z = (_pfor.wrap(_unfold_channels(z, n, filters, data_format), True) if keeps_z
         else _pfor.wrap(z, False))
    return y, z


def _backprop_input(pfor_input):
    sizes, sizes_stacked, _ = pfor_input.input(0)
    w, w_stacked, _ = pfor_input.input(1)
    _, g_stacked, _ = pfor_input.input(2)
    _, o_stacked, _ = pfor_input.input(3)
    attrs = attrs_of(pfor_input)
    data_format = attrs["data_format"]
    n = _loop_length(pfor_input)
    if sizes_stacked:
        return _fallback(pfor_input, "the input sizes vary per iteration")
    if not w_stacked:
        pfor_input.stack_inputs(stack_indices=[2, 3])
        g, o = pfor_input.stacked_input(2), pfor_input.stacked_input(3)
        batch_multiple = tf.stack([tf.cast(n, tf.int64), 1, 1])
        grad = _ops.fused_conv1d_backprop_input(
            sizes * batch_multiple, w, _fold_batch(g), _fold_batch(o), **attrs)
        return _pfor.wrap(_unfold_batch(grad, n, _int32(sizes[0])), True)
    if g_stacked or o_stacked:
        return _fallback(pfor_input, "both the filter and the output gradient or "
                         "activation operand vary per iteration")
    if attrs["groups"] != 1:
        return _fallback(pfor_input, _GROUPED_CHANNEL_FOLD)
    g, o = pfor_input.unstacked_input(2), pfor_input.unstacked_input(3)
    grad = _ops.fused_conv1d_backprop_input(
        sizes * _channel_multiples(n, data_format), _fold_filter(w, 1), g, o, **attrs)
    in_channels = _int32(sizes[2] if data_format == "NWC" else sizes[1])
    return _pfor.wrap(_unfold_channels(grad, n, in_channels, data_format), True)


def _backprop_filter(pfor_input):
    x, x_stacked, _ = pfor_input.input(0)
    sizes, sizes_stacked, _ = pfor_input.input(1)
    g, g_stacked, _ = pfor_input.input(2)
    o, o_stacked, _ = pfor_input.input(3)
    attrs = attrs_of(pfor_input)
    data_format = attrs["data_format"]
    n = _loop_length(pfor_input)
    n64 = tf.cast(n, tf.int64)
    if sizes_stacked:
        return _fallback(pfor_input, "the filter sizes vary per iteration")
    if attrs["groups"] != 1:
        return _fallback(pfor_input, _GROUPED_CHANNEL_FOLD)
    if not x_stacked:
        # Each iteration's output gradient becomes its own block of filters.
        g = _fold_channels(g, data_format) if g_stacked else _tile_channels(g, n, data_format)
        o = _fold_channels(o, data_format) if o_stacked else _tile_channels(o, n, data_format)
        grad_w, grad_b = _ops.fused_conv1d_backprop_filter(
            x, sizes * tf.stack([tf.ones([], tf.int64), 1, n64]), g, o, **attrs)
        filters = _int32(sizes[2])
        return (_pfor.wrap(_unfold_filter(grad_w, n, filters, 2), True),
                _pfor.wrap(tf.reshape(grad_b, [n, filters]), True))
    if g_stacked or o_stacked:
        return _fallback(pfor_input, "the input and the output gradient vary per "
                         "iteration (per-example filter gradients; the batch sum "
                         "cannot fold)")
    # Each iteration's input becomes its own block of input channels.
    grad_w, grad_b = _ops.fused_conv1d_backprop_filter(
        _fold_channels(x, data_format), sizes * tf.stack([tf.ones([], tf.int64), n64, 1]),
        g, o, **attrs)
    in_channels = _int32(sizes[1])
    return (_pfor.wrap(_unfold_filter(grad_w, n, in_channels, 1), True),
            _pfor.wrap(grad_b, False))


_CONVERTERS = {
    _op_names.FORWARD: _fused_conv1d,
    _op_names.BACKPROP_INPUT: _backprop_input,
    _op_names.BACKPROP_FILTER: _backprop_filter,
}


def register():
    """Registers the converters once per process."""
    for op_type, converter in _CONVERTERS.items():
        if op_type not in _pfor._pfor_converter_registry:
            _pfor.RegisterPFor(op_type)(converter)


register()
