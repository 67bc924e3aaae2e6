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
from tf_conv1d_op.layers._keras import keras

# The op's activation name -> the keras.activations attributes that may be it.
_KERAS_FUNCTIONS = {
    "linear": ("linear",),
    "relu": ("relu",),
    "relu6": ("relu6",),
    "leaky_relu": ("leaky_relu",),
    "elu": ("elu",),
    "selu": ("selu",),
    "gelu": ("gelu",),
    "silu": ("silu", "swish"),
    "sigmoid": ("sigmoid",),
    "hard_sigmoid": ("hard_sigmoid",),
    "tanh": ("tanh",),
    "softplus": ("softplus",),
}

# TF functions that Keras resolves some names to (tf-keras' "leaky_relu" is
# tf.nn.leaky_relu) or that users pass directly.
_TF_FUNCTIONS = {
    "relu": (tf.nn.relu,),
    "relu6": (tf.nn.relu6,),
    "leaky_relu": (tf.nn.leaky_relu,),
    "elu": (tf.nn.elu,),
    "selu": (tf.nn.selu,),
    "gelu": (tf.nn.gelu,),
    "silu": (tf.nn.silu, tf.nn.swish),
    "sigmoid": (tf.math.sigmoid, tf.nn.sigmoid),
    "tanh": (tf.math.tanh, tf.nn.tanh),
    "softplus": (tf.math.softplus, tf.nn.softplus),
}

# Points on both sides of every kink and into both tails.
_PROBE = np.concatenate([np.linspace(-8.0, 8.0, 161), [-40.0, -20.0, 20.0, 40.0]])
_RTOL, _ATOL = 1e-5, 1e-6

_verified = {}  # keras function -> whether the op reproduces it


def _candidates():
    """{function: op activation name}."""
    found = {}
    for op_name, attributes in _KERAS_FUNCTIONS.items():
        for attribute in attributes:
            function = getattr(keras.activations, attribute, None)
            if function is not None:
                found[function] = op_name
    for op_name, functions in _TF_FUNCTIONS.items():
        found.update((function, op_name) for function in functions)
    return found


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
