"""The registered gradients of the FusedConv1D op and of its two backward ops.

Importing this module registers them. That must happen in every process that
differentiates through the op, a reloaded SavedModel included, which is why
the package's __init__ imports it. The backward ops' gradients
(_second_order.py) make second-order reverse mode and TensorFlow's forward
mode (which differentiates the gradient) work, on the same three ops.
"""
import numpy as np
import tensorflow as tf
from tensorflow.python.eager import record as _record
from tensorflow.python.framework import ops as _framework_ops
from tensorflow.python.framework import tensor_util as _tensor_util

from tf_conv1d_op import _activation_derivatives as _derivatives
from tf_conv1d_op import _op_names
from tf_conv1d_op import _second_order
from tf_conv1d_op._library import ops as _ops
from tf_conv1d_op._op_attrs import activation_of, attrs_of, linear

def _is_known_zero(tensor):
    """Whether `tensor` is certainly all zeros: the zeros TF passes for an
    output nobody differentiated (graph: a Fill, ZerosLike or constant; eager:
    checked by value)."""
    if isinstance(tensor, _framework_ops.EagerTensor):
        return not bool(tf.reduce_any(tf.not_equal(tensor, 0)))
    op_type = tensor.op.type
    if op_type == "ZerosLike":
        return True
    if op_type == "Fill":
        value = _tensor_util.constant_value(tensor.op.inputs[1])
    elif op_type == "Const":
        value = _tensor_util.constant_value(tensor)
    else:
        return False
    return value is not None and not np.any(value)


def _preactivation_grad_is_zero(grad_preactivation):
    """Whether dL/dz (the preactivation output's gradient) can be dropped.

    It is zero in first-order gradients, where nothing consumes z but the
    gradient itself; not when a tape watches it (forward mode differentiates
    the gradient with respect to it), nor in second order, where the backward
    ops' gradients send it a value.
    """
    if grad_preactivation is None:
        return True
    if _record.should_record_backprop([grad_preactivation]):
        return False
    return _is_known_zero(grad_preactivation)


def _fused_conv1d_grad(op, grad_output, grad_preactivation):
    """dL/d(input, filter, bias) from dL/d(output) and dL/d(preactivation).

    The activation's derivative is applied inside the backward kernels, from
    the forward output or, where that does not determine it, from the
    pre-activation the forward op saved (the activation "operand"). Feeding
    the operand to the backward ops makes their results depend on the forward
    outputs, so gradients of this gradient reach the forward op through
    dL/d(output) and, for the preactivation, through grad_preactivation:
    dL/dz = dL/dy * act'(z) + grad_preactivation. Only then (second order,
    forward mode) is the derivative applied here, before linear backward ops.
    """
    x, filters, bias = op.inputs
    attrs = attrs_of(op)
    activation = activation_of(attrs)
    needs_z = _derivatives.operand_is_preactivation(activation, attrs["negative_slope"])
    operand = op.outputs[1] if needs_z else op.outputs[0]
    if needs_z and not _preactivation_grad_is_zero(grad_preactivation):
        dtype = _derivatives.compute_dtype(x.dtype)
        grad_z = (tf.cast(grad_output, dtype) *
                  _derivatives.first(activation, attrs["negative_slope"],
                                     tf.cast(operand, dtype)) +
                  tf.cast(grad_preactivation, dtype))
        grad_output = operand = tf.cast(grad_z, x.dtype)
        attrs = linear(attrs)  # applied above; the operand is unused
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


_GRADIENTS = {
    _op_names.FORWARD: _fused_conv1d_grad,
    _op_names.BACKPROP_INPUT: _second_order.backprop_input_grad,
    _op_names.BACKPROP_FILTER: _second_order.backprop_filter_grad,
}


def register():
    """Registers the three gradients once per process."""
    for op_type, gradient in _GRADIENTS.items():
        try:
            _framework_ops.gradient_registry.lookup(op_type)
        except LookupError:
            tf.RegisterGradient(op_type)(gradient)


register()
