"""Shapes large enough for several row tiles per batch item and several
partial-sum groups in the filter gradient: tile boundaries, in-place window
views next to gathered edge tiles, and the fixed-order reduction."""
import numpy as np
import pytest
import tensorflow as tf

import tf_conv1d_op
from tests.support import reference

CASES = [  # batch, steps, in_ch, filters, kernel, stride, dilation, padding, format, activation
    (3, 1200, 7, 5, 3, 1, 1, "SAME", "NWC", "relu"),
    (2, 900, 64, 48, 5, 1, 1, "VALID", "NWC", "tanh"),
    (2, 1000, 40, 16, 4, 2, 3, "CAUSAL", "NWC", "gelu"),
    (1, 1500, 24, 32, 7, 3, 1, "SAME", "NCW", "silu"),
    (20, 300, 9, 12, 3, 1, 2, "VALID", "NCW", "elu"),
    (2, 2000, 1, 16, 40, 4, 1, "VALID", "NWC", "relu"),
]


@pytest.mark.parametrize("dtype,tol", [("float64", 1e-11), ("float32", 1e-4)])
@pytest.mark.parametrize("case", CASES, ids=[f"{c[7]}-{c[8]}-s{c[5]}d{c[6]}" for c in CASES])
def test_multi_tile_shapes_match_reference(case, dtype, tol, device):
    batch, steps, cin, cout, k, stride, dilation, padding, data_format, activation = case
    rng = np.random.default_rng(steps)
    shape = (batch, steps, cin) if data_format == "NWC" else (batch, cin, steps)
    x = rng.standard_normal(shape)
    w = rng.standard_normal((k, cin, cout)) / np.sqrt(k * cin)
    b = rng.standard_normal(cout)
    attrs = dict(stride=stride, padding=padding, data_format=data_format, activation=activation)
    out, _ = reference.output_length_and_left_pad(steps, k, stride, dilation, padding)
    dy = rng.standard_normal((batch, out, cout) if data_format == "NWC" else (batch, cout, out))
    expected, magnitudes = reference.conv1d_and_grads(x, w, b, dy, dilation=dilation, **attrs)

    tensors = [tf.constant(v, dtype) for v in (x, w, b)]
    with tf.GradientTape() as tape:
        tape.watch(tensors)
        y = tf_conv1d_op.fused_conv1d(*tensors, dilations=dilation, **attrs)
        loss = tf.reduce_sum(tf.cast(y, tf.float64) * dy)
    actual = [y] + tape.gradient(loss, tensors)
    for name, got, want, magnitude in zip(("output", "dx", "dw", "db"), actual, expected,
                                          (None,) + magnitudes):
        error = reference.max_relative_error(got.numpy(), want, magnitude)
        assert error <= tol, f"{name}: {error:.3g}"
