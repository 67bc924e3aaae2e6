"""float64 activations near the float64 reference, values and derivatives, on
the CPU: the grid's tolerances (sums of many products) would let an activation
computed to float precision through. Relative 1e-12 or absolute 1e-14 (the
functions and derivatives are of order 1): derivatives taken from the output
(elu's, sigmoid's, tanh's) lose relative digits in their tails, and
exponentials of large arguments a few ulps per unit of argument. (tf-keras'
own gelu is 5e-9 off in float64, a float32 constant; ours is not.)"""
import numpy as np
import pytest
import tensorflow as tf

from tf_conv1d_op import ops
from tests.support import reference

# Where each activation is steep or curved, its tails, and 0.
Z = np.concatenate([np.linspace(-30.0, 30.0, 1201), np.linspace(-4.0, 4.0, 801), [0.0]])
RELATIVE, ABSOLUTE = 1e-12, 1e-14


@pytest.mark.parametrize("activation", reference.ACTIVATIONS)
def test_float64_activation_and_its_derivative(activation):
    # One tap, eight filters of unit weight: each output channel's preactivation
    # is the input (the vectorized activations take runs of channels).
    x = tf.constant(Z.reshape(1, -1, 1))
    w = tf.ones([1, 1, 8], tf.float64)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        got = ops.fused_conv1d(x, w, activation=activation)
        want = reference.keras_activation(activation)(tf.tile(x, [1, 1, 8]))
    # The input's gradient sums the eight channels' derivatives.
    got_dx, want_dx = (tape.gradient(y, x).numpy() / 8 for y in (got, want))
    for name, a, b in (("value", got.numpy(), want.numpy()), ("derivative", got_dx, want_dx)):
        error = np.abs(a - b).ravel()
        excess = np.minimum(error / np.maximum(RELATIVE * np.abs(b).ravel(), 1e-300),
                            error / ABSOLUTE)
        worst = int(np.argmax(excess))
        assert excess[worst] <= 1, (
            f"{activation} {name} at z = {Z[worst // (error.size // Z.size)]}: "
            f"{a.ravel()[worst]!r} vs {b.ravel()[worst]!r}")
