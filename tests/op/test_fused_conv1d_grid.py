"""Forward and all three gradients of fused_conv1d against the float64 reference,
over every padding x data format x (stride, dilation) x bias x activation, in
every dtype, on random sizes and data, on each device (conftest.py).

Errors are norm-wise: max |ours - reference| over max |reference| for the
output, and over the largest gradient magnitude (the sum of absolute terms,
see reference.conv1d_and_grads) for gradients, which can cancel."""
import itertools
import zlib

import numpy as np
import pytest
import tensorflow as tf

import tf_conv1d_op
from python.gpu_check.grids import DATA_FORMATS, OP_TOLERANCES, PADDINGS, STRIDE_DILATIONS
from tests.support import RERUN_AGAINST_ANOTHER_BUILD, reference

DTYPES = OP_TOLERANCES  # dtype: (forward, gradient) norm-wise relative error

GRID = list(itertools.product(PADDINGS, DATA_FORMATS, STRIDE_DILATIONS, (True, False),
                              reference.ACTIVATIONS))
# The reruns against other builds (conftest.py) take every seventh case, which
# still meets every padding, layout, stride/dilation, bias choice and
# activation: they check the same sources built another way, after the main
# run checked all.
if RERUN_AGAINST_ANOTHER_BUILD:
    GRID = GRID[::7]


def random_case(padding, data_format, stride, dilation, use_bias, activation, dtype):
    """Sizes and data drawn from a seed fixed by the case, edge sizes included."""
    seed = zlib.crc32(repr((padding, data_format, stride, dilation, use_bias,
                            activation, dtype)).encode())
    rng = np.random.default_rng(seed)
    kernel_size = 1 if seed % 5 == 0 else int(rng.integers(1, 6))
    in_channels = 1 if seed % 7 == 0 else int(rng.integers(1, 6))
    filters = int(rng.integers(1, 7))
    batch = 0 if seed % 13 == 0 else int(rng.integers(1, 4))
    extent = (kernel_size - 1) * dilation + 1
    if padding == "VALID":
        steps = extent + int(rng.integers(0, 12))
    elif seed % 3 == 0:
        steps = int(rng.integers(1, extent + 1))  # kernel longer than the input
    elif seed % 11 == 0:
        steps = 1
    else:
        steps = int(rng.integers(1, 24))
    x_shape = (batch, steps, in_channels) if data_format == "NWC" else (batch, in_channels, steps)
    as_dtype = tf.as_dtype(dtype).as_numpy_dtype

    def draw(*shape):
        # Round through the test dtype, so the reference sees what the op sees.
        return rng.standard_normal(shape).astype(as_dtype).astype(np.float64)

    x = draw(*x_shape)
    w = draw(kernel_size, in_channels, filters) / np.sqrt(kernel_size * in_channels)
    w = w.astype(as_dtype).astype(np.float64)
    b = draw(filters) if use_bias else None
    out_steps, _ = reference.output_length_and_left_pad(steps, kernel_size, stride,
                                                         dilation, padding)
    y_shape = (batch, out_steps, filters) if data_format == "NWC" else (batch, filters, out_steps)
    dy = draw(*y_shape)
    return x, w, b, dy


def ours_and_grads(x, w, b, dy, dtype, **attrs):
    tensors = [tf.constant(v, dtype) for v in (x, w) + (() if b is None else (b,))]
    with tf.GradientTape() as tape:
        tape.watch(tensors)
        y = tf_conv1d_op.fused_conv1d(tensors[0], tensors[1],
                                      None if b is None else tensors[2], **attrs)
        loss = tf.reduce_sum(tf.cast(y, tf.float64) * dy)
    grads = tape.gradient(loss, tensors)
    grads = [g.numpy().astype(np.float64) for g in grads]
    return y.numpy().astype(np.float64), grads[0], grads[1], grads[2] if b is not None else None


@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("padding,data_format,stride_dilation,use_bias,activation", GRID,
                         ids=["-".join(map(str, c)) for c in GRID])
def test_forward_and_gradients_match_reference(padding, data_format, stride_dilation,
                                               use_bias, activation, dtype, device):
    stride, dilation = stride_dilation
    x, w, b, dy = random_case(padding, data_format, stride, dilation, use_bias, activation,
                              dtype)
    attrs = dict(stride=stride, dilation=dilation, padding=padding, data_format=data_format,
                 activation=activation)
    expected, magnitudes = reference.conv1d_and_grads(x, w, b, dy, **attrs)
    ours_attrs = dict(attrs, dilations=attrs.pop("dilation"))
    actual = ours_and_grads(x, w, b, dy, dtype, **ours_attrs)
    reference.assert_matches(actual, expected, magnitudes, DTYPES[dtype],
                             f"(x {x.shape}, w {w.shape})")
