"""The registered gradients of the FusedConv1D op, of its two backward ops and
of the streaming op.

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
from tf_conv1d_op._op_attrs import activation_of, attrs_of, linear, stream_attrs_of

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
    operand = op.outputs[1] if _needs_preactivation(attrs) else op.outputs[0]
    return _forward_grads(x, filters, bias, attrs, operand, grad_output, grad_preactivation)


def _needs_preactivation(attrs):
    return _derivatives.operand_is_preactivation(activation_of(attrs), attrs["negative_slope"])


def _forward_grads(x, filters, bias, attrs, operand, grad_output, grad_preactivation):
    """[dL/dx, dL/dfilters, dL/dbias] of the forward op with `attrs` whose
    activation operand (output or preactivation) is `operand`."""
    activation = activation_of(attrs)
    needs_z = _needs_preactivation(attrs)
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


def _fused_conv1d_stream_grad(op, grad_output, grad_new_state):
    """dL/d(state, chunk, filter, bias) of the streaming op, through the
    formulation it computes in place: the forward op's VALID gradients of
    padded = concat(state, chunk), plus dL/d(new_state) on padded's last
    steps. The activation's preactivation, which the streaming op does not
    return, is recomputed from padded where the derivative needs it.
    """
    state, chunk, filters, bias = op.inputs
    attrs = dict(stream_attrs_of(op), padding="VALID")  # the forward op's for the same sum
    axis = 1 if attrs["data_format"] == "NWC" else 2
    padded = tf.concat([state, chunk], axis=axis)
    if _needs_preactivation(attrs):
        _, operand = _ops.fused_conv1d(padded, filters, bias, **attrs)
    else:
        operand = op.outputs[0]
    if grad_output is None:
        grad_output = tf.zeros_like(op.outputs[0])
    grad_padded, grad_filter, grad_bias = _forward_grads(
        padded, filters, bias, attrs, operand, grad_output, None)
    state_steps, chunk_steps = tf.shape(state)[axis], tf.shape(chunk)[axis]
    if grad_new_state is not None:
        # new_state is padded's last state_steps steps: its gradient lands there.
        before = tf.stack([chunk_steps, 0])
        paddings = tf.stack([[0, 0], before, [0, 0]] if axis == 1 else [[0, 0], [0, 0], before])
        grad_padded += tf.pad(grad_new_state, paddings)
    grad_state, grad_chunk = tf.split(grad_padded, tf.stack([state_steps, chunk_steps]), axis)
    return [grad_state, grad_chunk, grad_filter, grad_bias]


_GRADIENTS = {
    _op_names.FORWARD: _fused_conv1d_grad,
    _op_names.STREAM: _fused_conv1d_stream_grad,
    _op_names.BACKPROP_INPUT: _second_order.backprop_input_grad,
    _op_names.BACKPROP_FILTER: _second_order.backprop_filter_grad,
}


def register():
    """Registers the gradients once per process."""
    for op_type, gradient in _GRADIENTS.items():
        try:
            _framework_ops.gradient_registry.lookup(op_type)
        except LookupError:
            tf.RegisterGradient(op_type)(gradient)


register()
