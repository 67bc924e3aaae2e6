"""float16 and bfloat16 tensors widened to float and rounded back by the CPU
passes (cc/kernels/core/float_conversions.h: vectors of F16C conversions, or
bfloat16's bits shifted) must agree exactly with TensorFlow's own casts, for
every 16-bit pattern: where a layer's products are exact (identity filters),
any other rounding, or a lane read or stored in the wrong place, shows as a
mismatch, which the tolerances of the grid tests would let through.

Rows of 32 channels take the vector loops, one channel their scalar tails
(which also meet infinities and NaNs: with identity filters they would spill
into the other channels through their zero products). NCW's gradient rows are
gathered into the same float chunks, float32's too: a gathered operand read
one step off fails the NCW cases."""
import numpy as np
import pytest
import tensorflow as tf

import tf_conv1d_op

DTYPES = [tf.float16, tf.bfloat16]
BIASES = [0.0, 1.0, -3.140625, 1000.5, 2.0 ** -20, -65504.0, 1e-3, 7.0]


def every_pattern(dtype, finite_only):
    """All 2^16 values of dtype (the non-finite ones as zeros if finite_only).
    bfloat16's subnormals (float's) are zeros too: TensorFlow runs ops with
    subnormal floats flushed to zero, the op's arithmetic included."""
    values = tf.bitcast(tf.constant(np.arange(2 ** 16, dtype=np.uint16)), dtype)
    as_float = tf.cast(values, tf.float32)
    finite = tf.math.is_finite(as_float)
    keep = (tf.abs(as_float) >= np.finfo(np.float32).tiny) & finite
    if not finite_only:
        keep = keep | ~finite
    return tf.where(keep, values, tf.zeros_like(values))


def assert_same_values(got, want):
    """Equal as floats, NaN where NaN (zeros of either sign are equal)."""
    got = tf.cast(got, tf.float32).numpy().ravel()
    want = tf.cast(want, tf.float32).numpy().ravel()
    differ = ~((got == want) | (np.isnan(got) & np.isnan(want)))
    first = np.flatnonzero(differ)[:5]
    assert not differ.any(), (f"{differ.sum()} of {got.size} differ, e.g. at {first}: "
                              f"got {got[first]}, want {want[first]}")


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
@pytest.mark.parametrize("channels", [32, 1])
def test_forward_rounds_as_tensorflow_casts(dtype, channels):
    x = every_pattern(dtype, finite_only=channels > 1)
    x = tf.reshape(x, [1, -1, channels])
    if channels == 1:  # one channel in, the biases out: every value against each
        w = tf.ones([1, 1, len(BIASES)], dtype)
        b = tf.constant(BIASES, dtype)
    else:
        w = tf.eye(channels, dtype=dtype)[None]
        b = tf.constant((BIASES * channels)[:channels], dtype)
    want = tf.cast(tf.cast(x, tf.float32) + tf.cast(b, tf.float32), dtype)
    got = tf_conv1d_op.fused_conv1d(x, w, b, padding="VALID")
    assert_same_values(got, want)


# float32 only where the gradient is exact (its gelu derivative is checked
# against float64 by the grid tests).
GRADIENT_CASES = [(dtype, activation) for dtype in DTYPES for activation in
                  ("relu", "linear", "gelu")] + [(tf.float32, "relu"), (tf.float32, "linear")]


@pytest.mark.parametrize("dtype,activation", GRADIENT_CASES,
                         ids=[f"{d.name}-{a}" for d, a in GRADIENT_CASES])
@pytest.mark.parametrize("data_format", ["NWC", "NCW"])
def test_input_gradient_widens_dy_and_the_operand_exactly(dtype, activation, data_format):
    # Identity filter and a zero bias: the output is the input, activated,
    # and the input gradient is dz = dy * activation'(x) itself. (NCW's rows
    # are gathered into the same float chunks; float32 takes them too.)
    channels = 32
    patterns = every_pattern(tf.float16 if dtype == tf.float32 else dtype, finite_only=True)
    dy = tf.reshape(tf.cast(patterns, dtype), [1, -1, channels])
    if data_format == "NCW":
        dy = tf.transpose(dy, [0, 2, 1])
    if activation == "gelu":  # no dy whose dz overflows float: an infinite dz
        # times the identity's zeros would be NaN across its row
        dy = tf.where(tf.abs(tf.cast(dy, tf.float32)) < 1e38, dy, tf.zeros_like(dy))
    rng = np.random.default_rng(7)
    x = tf.cast(rng.standard_normal(dy.shape), dtype)
    w = tf.eye(channels, dtype=dtype)[None]
    b = tf.zeros([channels], dtype)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf_conv1d_op.fused_conv1d(x, w, b, padding="VALID", activation=activation,
                                      data_format=data_format)
    got = tape.gradient(y, x, output_gradients=dy)
    if activation == "relu":
        want = tf.where(x > 0, dy, tf.zeros_like(dy))
    elif activation == "linear":
        want = dy
    else:  # derivative in float; dz rounded once to the dtype
        with tf.GradientTape() as float_tape:
            x32 = tf.cast(x, tf.float32)
            float_tape.watch(x32)
            y32 = tf.nn.gelu(x32, approximate=False)
        slope = float_tape.gradient(y32, x32)
        got32 = tf.cast(got, tf.float32)
        want32 = tf.cast(dy, tf.float32) * slope
        # gelu's derivative is computed by our vectorized formula: within an
        # ulp of the dtype, with dy's widening exact (a wrong lane is far off).
        ulp = 2.0 ** (-10 if dtype == tf.float16 else -7)
        tiny = 2.0 ** (-24 if dtype == tf.float16 else -126)
        got32, want32 = got32.numpy().ravel(), want32.numpy().ravel()
        in_range = np.abs(want32) < 0.99 * float(dtype.max)  # not rounded to infinity
        assert in_range.mean() > 0.9
        error = np.abs(got32 - want32)[in_range]
        np.testing.assert_array_less(error, ulp * np.abs(want32[in_range]) + 4 * tiny)
        return
    assert_same_values(got, want)
