"""The bfloat16 forward on shapes that take each branch of its AVX512_BF16
form (cc/kernels/core/bf16_pair_passes.h; on CPUs without the instructions,
or at a lower TF_CONV1D_ISA level, the same cases check the float form):
several depth blocks, edge tiles copied with their padding, strides, partial
column panels, activations fused in registers or applied after, the kept
preactivation, and the forms it leaves to the float path (an odd depth,
dilated taps, NCW). Against the float64 reference on the same bfloat16
values: each output is then off by its own rounding to bfloat16 (half a unit
in its 8th bit) and float summation, and a lost or misplaced product shows
as more."""
import numpy as np
import pytest
import tensorflow as tf

import tf_conv1d_op
from tests.support import reference

CASES = [  # batch, steps, in_ch, filters, kernel, stride, dilation, padding, format, activation
    (2, 300, 256, 64, 5, 1, 1, "CAUSAL", "NWC", "relu"),   # 640 pairs: two depth blocks
    (3, 211, 64, 40, 3, 2, 1, "SAME", "NWC", "linear"),    # stride, edges, a partial panel
    (2, 150, 32, 96, 4, 3, 1, "VALID", "NWC", "gelu"),     # applied after the sums
    (4, 97, 128, 33, 1, 1, 1, "VALID", "NWC", "leaky_relu"),  # pointwise, 33 columns
    (1, 64, 6, 8, 1, 1, 5, "SAME", "NWC", "relu6"),        # dilation with one tap: in place
    (2, 80, 7, 16, 3, 1, 1, "SAME", "NWC", "relu"),        # odd depth: the float form
    (2, 80, 16, 16, 3, 1, 2, "CAUSAL", "NWC", "silu"),     # dilated taps: the float form
    (2, 80, 16, 16, 3, 1, 1, "SAME", "NCW", "tanh"),       # NCW: the float form
]


def bfloat16_values(rng, shape, scale=1.0):
    return tf.cast(tf.constant(scale * rng.standard_normal(shape), tf.float32),
                   tf.bfloat16).numpy().astype(np.float64)


@pytest.mark.parametrize("case", CASES, ids=[
    f"{c[2]}x{c[3]}k{c[4]}s{c[5]}d{c[6]}-{c[7]}-{c[8]}-{c[9]}" for c in CASES])
def test_bfloat16_forward_matches_reference(case):
    batch, steps, cin, cout, k, stride, dilation, padding, data_format, activation = case
    rng = np.random.default_rng(steps * cin + k)
    x = bfloat16_values(rng, (batch, steps, cin) if data_format == "NWC" else (batch, cin, steps))
    w = bfloat16_values(rng, (k, cin, cout), 1 / np.sqrt(k * cin))
    b = bfloat16_values(rng, (cout,))
    attrs = dict(stride=stride, dilation=dilation, padding=padding, data_format=data_format,
                 activation=activation)
    expected = reference.conv1d(x, w, b, **attrs).numpy()
    tensors = [tf.constant(v, tf.bfloat16) for v in (x, w, b)]
    with tf.GradientTape() as tape:  # a tape keeps the preactivation where the gradient reads it
        tape.watch(tensors)
        y = tf_conv1d_op.fused_conv1d(*tensors, stride=stride, dilations=dilation,
                                      padding=padding, data_format=data_format,
                                      activation=activation)
    got = tf.cast(y, tf.float64).numpy()
    bound = 2.0 ** -8 * np.abs(expected) + 1e-4 * np.abs(expected).max()
    worst = np.max(np.abs(got - expected) - bound)
    assert worst <= 0, f"an output is off by {worst:.3g} beyond its bfloat16 rounding"
