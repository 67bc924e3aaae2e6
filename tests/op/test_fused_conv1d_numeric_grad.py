"""The registered gradient against finite differences (tf.test.compute_gradient)."""
import zlib

import numpy as np
import pytest
import tensorflow as tf

import tf_conv1d_op
from tests.support import reference

CASES = [  # padding, data_format, stride, dilation
    ("VALID", "NWC", 1, 1), ("SAME", "NCW", 2, 1), ("CAUSAL", "NWC", 1, 2),
    ("SAME", "NWC", 3, 2), ("CAUSAL", "NCW", 2, 2),
]


@pytest.mark.parametrize("activation", reference.ACTIVATIONS)
@pytest.mark.parametrize("padding,data_format,stride,dilation", CASES)
def test_gradient_matches_finite_differences(activation, padding, data_format, stride,
                                             dilation, device):
    rng = np.random.default_rng(zlib.crc32(f"{activation}{padding}{stride}".encode()))
    steps, cin, cout, k = 7, 2, 3, 3
    shape = (2, steps, cin) if data_format == "NWC" else (2, cin, steps)
    x = tf.constant(rng.standard_normal(shape), tf.float64)
    w = tf.constant(rng.standard_normal((k, cin, cout)) / 2, tf.float64)
    b = tf.constant(rng.standard_normal(cout), tf.float64)

    def f(x, w, b):
        return tf_conv1d_op.fused_conv1d(x, w, b, stride=stride, padding=padding,
                                         dilations=dilation, activation=activation,
                                         data_format=data_format)

    theoretical, numerical = tf.test.compute_gradient(f, [x, w, b], delta=1e-6)
    for name, t, n in zip(("input", "filter", "bias"), theoretical, numerical):
        np.testing.assert_allclose(t, n, rtol=1e-5, atol=1e-6, err_msg=name)
