"""The registered gradient of FusedConv1D.

Importing this module registers it. That must happen in every process that
differentiates through the op, a reloaded SavedModel included, which is why
the package's __init__ imports it.
"""
import tensorflow as tf
from tensorflow.python.framework import ops as _framework_ops

from tf_conv1d_op._library import ops as _ops
from tf_conv1d_op.activations import needs_preactivation

_FORWARD_OP = "FusedConv1D"


def _attrs(op):
    return {name: op.get_attr(name) for name in
            ("stride", "dilation", "padding", "data_format", "activation",
             "negative_slope")}


def _fused_conv1d_grad(op, grad_output, grad_preactivation):
    """dL/d(input, filter, bias) from dL/d(output).

    The activation's derivative is applied inside the backward kernels, from
    the forward output or, where that does not determine it, from the
    pre-activation the forward op saved. The preactivation output is internal
    and carries no gradient of its own.
    """
    del grad_preactivation
    x, filters, bias = op.inputs
    attrs = _attrs(op)
    needs_z = needs_preactivation(attrs["activation"].decode(), attrs["negative_slope"])
    operand = op.outputs[1] if needs_z else op.outputs[0]
    grad_input = _ops.fused_conv1d_backprop_input(
        tf.shape(x, out_type=tf.int64), filters, grad_output, operand, **attrs)
    grad_filter, grad_bias = _ops.fused_conv1d_backprop_filter(
        x, tf.shape(filters, out_type=tf.int64), grad_output, operand, **attrs)
    # A [0]-shaped bias means "no bias"; its gradient has its shape.
    if bias.shape[0] == 0:
        grad_bias = tf.zeros_like(bias)
    elif bias.shape[0] is None:
        grad_bias = grad_bias[: tf.size(bias)]
    return [grad_input, grad_filter, grad_bias]


def register():
    """Registers the gradient once per process."""
    try:
        _framework_ops.gradient_registry.lookup(_FORWARD_OP)
    except LookupError:
        tf.RegisterGradient(_FORWARD_OP)(_fused_conv1d_grad)


register()
