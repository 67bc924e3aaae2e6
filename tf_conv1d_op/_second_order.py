"""The gradients of FusedConv1DBackpropInput and FusedConv1DBackpropFilter.

With d = g * first(o) (g the output gradient, o the activation operand, first
the activation's derivative in o; _activation_derivatives.py), the backward
ops are linear maps of d:

  BackpropInput(W, g, o)  = conv_x^T(W, d)      <., G> = <d, conv(G, W)>
  BackpropFilter(x, g, o) = (conv_w^T(x, d), sum d)
                                                <., (GW, Gb)> = <d, conv(x, GW) + Gb>

so, for upstream gradients G (input-shaped) or (GW, Gb), with c the
convolution on the right:
  dL/dW = BackpropFilter(G, g, o)   dL/dx = BackpropInput(GW, g, o)
  dL/dg = first(o) * c              dL/do = g * c * second(o)

The convolutions run on the three ops themselves (c is FusedConv1D with no
activation), so the second derivative runs on the same kernels; the only new
arithmetic is elementwise. dL/do flows on to the forward op's output or
preactivation, whose gradient (_gradients.py) takes it into account.
"""
import tensorflow as tf

from tf_conv1d_op import _activation_derivatives as _derivatives
from tf_conv1d_op._library import ops as _ops
from tf_conv1d_op._op_attrs import activation_of, attrs_of, linear


def _skipped(op):
    """Input indices whose gradient nobody asked for (eager tapes say so)."""
    try:
        return op.skip_input_indices or ()
    except AttributeError:
        return ()


def _through_derivative(attrs, grad_output, operand, conv, skipped, g_index, o_index):
    """(dL/dg, dL/do) given c = conv: first(o) * c and g * c * second(o)."""
    activation = activation_of(attrs)
    slope = attrs["negative_slope"]
    dtype = grad_output.dtype
    if activation == "linear":
        return conv, None
    compute = _derivatives.compute_dtype(dtype)
    o = tf.cast(operand, compute)
    c = tf.cast(conv, compute)
    grad_g = grad_o = None
    if g_index not in skipped:
        grad_g = tf.cast(_derivatives.first(activation, slope, o) * c, dtype)
    if o_index not in skipped:
        second = _derivatives.second(activation, slope, o)
        if second is not None:
            grad_o = tf.cast(tf.cast(grad_output, compute) * c * second, dtype)
    return grad_g, grad_o


def _no_bias(dtype):
    return tf.zeros([0], dtype)


def backprop_input_grad(op, grad):
    """Gradient of FusedConv1DBackpropInput(input_sizes, filter, g, operand)."""
    _, filters, grad_output, operand = op.inputs
    attrs = attrs_of(op)
    skipped = _skipped(op)
    grad_filter = None
    if 1 not in skipped:
        grad_filter, _ = _ops.fused_conv1d_backprop_filter(
            grad, tf.shape(filters, out_type=tf.int64), grad_output, operand, **attrs)
    conv, _ = _ops.fused_conv1d(grad, filters, _no_bias(grad.dtype), **linear(attrs))
    grad_g, grad_o = _through_derivative(attrs, grad_output, operand, conv, skipped, 2, 3)
    return [None, grad_filter, grad_g, grad_o]


def backprop_filter_grad(op, grad_filter, grad_bias):
    """Gradient of FusedConv1DBackpropFilter(input, filter_sizes, g, operand)."""
    x, filter_sizes, grad_output, operand = op.inputs
    if grad_filter is None and grad_bias is None:
        return [None] * 4
    attrs = attrs_of(op)
    skipped = _skipped(op)
    grad_x = None
    if grad_filter is None:
        grad_filter = tf.zeros(filter_sizes, x.dtype)
    elif 0 not in skipped:
        grad_x = _ops.fused_conv1d_backprop_input(
            tf.shape(x, out_type=tf.int64), grad_filter, grad_output, operand, **attrs)
    bias = _no_bias(x.dtype) if grad_bias is None else grad_bias
    conv, _ = _ops.fused_conv1d(x, grad_filter, bias, **linear(attrs))
    grad_g, grad_o = _through_derivative(attrs, grad_output, operand, conv, skipped, 2, 3)
    return [grad_x, None, grad_g, grad_o]
