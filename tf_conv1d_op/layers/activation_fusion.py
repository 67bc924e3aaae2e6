"""Which Keras activations the op can apply inside the convolution.

A Keras activation is fused only when it is one of the keras.activations
(or tf.nn) functions listed here (by identity, so a name, the function itself
and a deserialized config all qualify) and, once per process, the op's activation of
that name reproduces the function on a fixed set of points. Definitions differ
between Keras versions (tf-keras' hard_sigmoid is clip(0.2 x + 0.5, 0, 1), the
op's and Keras 3's is relu6(x + 3) / 6): a function that fails the check, and
any other callable, is applied after the op instead, which is always correct.
"""
import numpy as np
import tensorflow as tf

from tf_conv1d_op import ops
from tf_conv1d_op.activations import FUSED_ACTIVATIONS
from tf_conv1d_op.layers._keras import keras

# A fused activation may be the keras.activations, tf.nn or tf.math function
# of the same name, or of one of these other names.
_OTHER_NAMES = {"silu": ("swish",)}


def _functions_named(name):
    names = (name,) + _OTHER_NAMES.get(name, ())
    modules = (keras.activations, tf.nn, tf.math)
    return [getattr(module, attribute) for module in modules for attribute in names
            if getattr(module, attribute, None) is not None]


# Points on both sides of every kink and into both tails.
_PROBE = np.concatenate([np.linspace(-8.0, 8.0, 161), [-40.0, -20.0, 20.0, 40.0]])
_RTOL, _ATOL = 1e-5, 1e-6

_verified = {}  # keras function -> whether the op reproduces it


def _candidates():
    """{function: op activation name}."""
    return {function: name for name in FUSED_ACTIVATIONS for function in _functions_named(name)}


_CANDIDATES = _candidates()


def _matches(function, op_name):
    """Whether the op's `op_name` equals function(x) on the probe points."""
    x = tf.constant(_PROBE, tf.float32)
    want = tf.convert_to_tensor(function(x)).numpy()
    got = ops.fused_conv1d(tf.reshape(x, [1, -1, 1]), tf.ones([1, 1, 1]),
                           activation=op_name)
    got = tf.reshape(got, [-1]).numpy()
    return bool(np.allclose(got, want, rtol=_RTOL, atol=_ATOL))


def fused_name(activation):
    """The op's name for `activation` when the op can apply it, else None."""
    try:
        op_name = _CANDIDATES.get(activation)
    except TypeError:  # an unhashable callable
        return None
    if op_name is None:
        return None
    if activation not in _verified:
        # The check runs eagerly even when called while tracing a graph.
        with tf.init_scope():
            if not tf.executing_eagerly():
                return None  # a TF1-style graph: apply after, check later
            _verified[activation] = _matches(activation, op_name)
    return op_name if _verified[activation] else None
