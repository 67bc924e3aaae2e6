"""The bfloat16 forward and filter gradient on shapes that take each branch
of their AVX512_BF16 forms (cc/kernels/core/bf16_pair_passes.h; on CPUs without the instructions,
or at a lower TF_CONV1D_ISA level, the same cases check the float form):
several depth blocks, edge tiles copied with their padding, strides, partial
column panels, activations fused in registers or applied after, the kept
preactivation, windows of odd depth (copied, each with a zero after it), and
the forms it leaves to the float path (dilated taps, NCW). Against the float64 reference on the same bfloat16
values: each output is then off by its own rounding to bfloat16 (half a unit
in its 8th bit) and float summation, and a lost or misplaced product shows
as more.

Where the CPU has AMX (Sapphire Rapids and later) the same products run on
its tiles (cc/kernels/core/gemm_amx.h): whole tiles in place, the last rows
and pairs below a tile and partial column panels through zero-padded copies,
which the cases below reach too; the last test runs the file again with
TF_CONV1D_AMX=0, so that the dot products stay checked on those CPUs.

The input gradient's cases cover the forward of dz it runs (stride 1) and
the one forward per phase of a larger stride (rows without taps where the
stride exceeds the kernel, odd phase depths), and the float forms it leaves
(dilation, NCW). The forward runs with and without a tape: without one, the
products round their float sums to bfloat16 themselves, block by block, and
that rounding is checked bitwise against TensorFlow's cast (infinities, NaN,
sums below the normal floats).

The filter gradient's cases cover its windows read straight from NWC input
(16 row pairs by 16 channels at a time: partial blocks of both, odd row
counts, several tiles, padding, strides, dilation; fewer than 5 channels
value by value), dy packed as it is
(linear) or dz computed and rounded, the bias's gradient formed by the same
products, and NCW's windows from the float slab."""
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import tf_conv1d_op
from tf_conv1d_op import _library
from tests.support import REPO, reference

CASES = [  # batch, steps, in_ch, filters, kernel, stride, dilation, padding, format, activation
    (2, 300, 256, 64, 5, 1, 1, "CAUSAL", "NWC", "relu"),   # 640 pairs: two depth blocks
    (3, 211, 64, 40, 3, 2, 1, "SAME", "NWC", "linear"),    # stride, edges, a partial panel
    (2, 150, 32, 96, 4, 3, 1, "VALID", "NWC", "gelu"),     # applied after the sums
    (4, 97, 128, 33, 1, 1, 1, "VALID", "NWC", "leaky_relu"),  # pointwise, 33 columns
    (1, 64, 6, 8, 1, 1, 5, "SAME", "NWC", "relu6"),        # dilation with one tap: in place
    (2, 80, 7, 16, 3, 1, 1, "SAME", "NWC", "relu"),        # odd depth: windows copied
    (3, 129, 9, 64, 3, 2, 1, "CAUSAL", "NWC", "tanh"),     # odd depth, stride, padding
    (2, 70, 50, 48, 1, 1, 1, "VALID", "NWC", "relu"),      # 25 pairs: a tile and 9; 32 + 16 columns
    (1, 45, 300, 20, 5, 1, 1, "SAME", "NWC", "linear"),    # 750 pairs: 46 tiles and 14; 45 rows
    (2, 80, 16, 16, 3, 1, 2, "CAUSAL", "NWC", "silu"),     # dilated taps: the float form
    (2, 80, 16, 16, 3, 1, 1, "SAME", "NCW", "tanh"),       # NCW: the float form
]


def bfloat16_values(rng, shape, scale=1.0):
    return tf.cast(tf.constant(scale * rng.standard_normal(shape), tf.float32),
                   tf.bfloat16).numpy().astype(np.float64)


def forward(tensors, taped, **attrs):
    """The op's output; under a tape the op keeps the preactivation where the
    gradient reads it, and rounds the float sums in a pass of their own.
    Without, the products round them as they finish each block."""
    if not taped:
        return tf_conv1d_op.fused_conv1d(*tensors, **attrs)
    with tf.GradientTape() as tape:
        tape.watch(tensors)
        return tf_conv1d_op.fused_conv1d(*tensors, **attrs)


@pytest.mark.parametrize("taped", [True, False], ids=["taped", "inference"])
@pytest.mark.parametrize("case", CASES, ids=[
    f"{c[2]}x{c[3]}k{c[4]}s{c[5]}d{c[6]}-{c[7]}-{c[8]}-{c[9]}" for c in CASES])
def test_bfloat16_forward_matches_reference(case, taped):
    batch, steps, cin, cout, k, stride, dilation, padding, data_format, activation = case
    rng = np.random.default_rng(steps * cin + k)
    x = bfloat16_values(rng, (batch, steps, cin) if data_format == "NWC" else (batch, cin, steps))
    w = bfloat16_values(rng, (k, cin, cout), 1 / np.sqrt(k * cin))
    b = bfloat16_values(rng, (cout,))
    attrs = dict(stride=stride, dilation=dilation, padding=padding, data_format=data_format,
                 activation=activation)
    expected = reference.conv1d(x, w, b, **attrs).numpy()
    tensors = [tf.constant(v, tf.bfloat16) for v in (x, w, b)]
    y = forward(tensors, taped, stride=stride, dilations=dilation, padding=padding,
                data_format=data_format, activation=activation)
    got = tf.cast(y, tf.float64).numpy()
    bound = 2.0 ** -8 * np.abs(expected) + 1e-4 * np.abs(expected).max()
    worst = np.max(np.abs(got - expected) - bound)
    assert worst <= 0, f"an output is off by {worst:.3g} beyond its bfloat16 rounding"


@pytest.mark.parametrize("cin, k", [(3, 1), (9, 3), (1, 5)])
def test_odd_depth_windows_do_not_read_their_neighbour(cin, k):
    """An infinity in the input spoils the windows that hold it and no other:
    the value after a window of odd depth (the next window's first) must not
    meet the zero that pads its last pair."""
    steps, cout = 40, 16
    rng = np.random.default_rng(cin * 10 + k)
    x = bfloat16_values(rng, (1, steps, cin))
    x[0, 20, 0] = np.inf
    w = bfloat16_values(rng, (k, cin, cout), 1 / np.sqrt(k * cin))
    y = tf_conv1d_op.fused_conv1d(tf.constant(x, tf.bfloat16), tf.constant(w, tf.bfloat16),
                                  tf.zeros([cout], tf.bfloat16), padding="VALID")
    finite_rows = np.all(np.isfinite(tf.cast(y, tf.float32).numpy()[0]), axis=1)
    expected = np.array([not (o <= 20 < o + k) for o in range(steps - k + 1)])
    np.testing.assert_array_equal(finite_rows, expected)


@pytest.mark.parametrize("taped", [True, False], ids=["taped", "inference"])
def test_rounding_is_eigens_for_tiny_sums_infinities_and_nan(taped):
    """Where the products round their own sums (on AMX a block row of 32
    columns at a time, by AVX512_BF16's conversion unless the row holds a NaN
    or a denormal), the output is bitwise TensorFlow's cast of the float
    result, as TensorFlow computes floats in its ops: denormal results
    flushed to zero. Columns 0 to 31: tiny negative sums that a leaky relu's
    slope takes below the normal floats (signed zeros then). Columns 32 to
    63: one product and the bias, rounded to nearest even. Row 7 meets a
    NaN, row 9 an infinity (NaN where it meets a zero weight, +-inf
    elsewhere); NaN must come out quiet. 40 rows: whole tile blocks and the
    rest."""
    steps, cin, cout, slope = 40, 32, 64, 0.25
    rng = np.random.default_rng(11)
    x = np.ones((1, steps, cin))
    x[0, :, 0] = bfloat16_values(rng, (steps,))
    x[0, 7, 3] = np.nan
    x[0, 9, 0] = np.inf
    w = np.zeros((1, cin, cout))
    w[0, 0, 32:] = bfloat16_values(rng, (32,))
    tiny = np.float32(2.0) ** -126  # the smallest normal float
    b = np.concatenate([np.tile([-tiny, -3 * tiny], 16), bfloat16_values(rng, (32,))])
    tensors = [tf.constant(v, tf.bfloat16) for v in (x, w, b)]
    y = forward(tensors, taped, padding="VALID", activation="leaky_relu", negative_slope=slope)
    got = tf.bitcast(y, tf.uint16).numpy()[0]

    f32 = np.float32
    with np.errstate(invalid="ignore"):
        z = x[0, :, :1].astype(f32) * w[0, :1].astype(f32) + b.astype(f32)  # one rounding
        z[7] = np.nan
        z[9, :32] = np.nan
        activated = np.where(z > 0, z, f32(slope) * z)
        activated = np.where(np.abs(activated) < tiny, np.copysign(f32(0), activated), activated)
    want = tf.bitcast(tf.cast(tf.constant(activated, tf.float32), tf.bfloat16),
                      tf.uint16).numpy()
    nan = np.isnan(activated)
    np.testing.assert_array_equal(got[nan] & 0x7FFF, 0x7FC0)  # quiet NaN, either sign
    np.testing.assert_array_equal(np.where(nan, 0, got), np.where(nan, 0, want))


GRAD_CASES = [  # batch, steps, in_ch, filters, kernel, stride, dilation, padding, format, activation
    (2, 700, 40, 40, 3, 1, 1, "SAME", "NWC", "linear"),    # 3 tiles, 40 = 16 + 16 + 8 channels
    (3, 125, 21, 33, 5, 2, 1, "CAUSAL", "NWC", "relu"),    # odd rows, stride, a partial panel
    (2, 301, 16, 64, 3, 1, 4, "VALID", "NWC", "silu"),     # dilation, dz rounded
    (1, 67, 7, 5, 1, 3, 1, "VALID", "NWC", "linear"),      # pointwise, stride, 7 channels
    (2, 203, 1, 24, 9, 4, 1, "SAME", "NWC", "relu"),       # one channel: paired value by value
    (1, 150, 3, 16, 5, 2, 3, "CAUSAL", "NWC", "linear"),   # three channels, dilation, padding
    (2, 90, 24, 16, 4, 1, 1, "SAME", "NCW", "relu"),       # NCW: windows from the slab
]


def filter_sums(x, dz, w_shape, **geometry):
    """sum over steps of x * dz for each filter element, in float64."""
    w0 = tf.zeros(w_shape, tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(w0)
        loss = tf.reduce_sum(reference._linear_part(tf.constant(x), w0, **geometry) * dz)
    return tape.gradient(loss, w0).numpy()


def gradients_and_dz(case, seed):
    """The op's three gradients for random bfloat16 values and upstream
    gradient dy, and the float64 reference's dz = dy * activation'(z) (NWC),
    with x, w and the geometry they were computed for."""
    batch, steps, cin, cout, k, stride, dilation, padding, data_format, activation = case
    rng = np.random.default_rng(seed)
    x = bfloat16_values(rng, (batch, steps, cin) if data_format == "NWC" else (batch, cin, steps))
    w = bfloat16_values(rng, (k, cin, cout), 1 / np.sqrt(k * cin))
    b = bfloat16_values(rng, (cout,))
    geometry = dict(stride=stride, dilation=dilation, padding=padding, data_format=data_format)
    tensors = [tf.constant(v, tf.bfloat16) for v in (x, w, b)]
    with tf.GradientTape() as tape:
        tape.watch(tensors)
        y = tf_conv1d_op.fused_conv1d(*tensors, stride=stride, dilations=dilation,
                                      padding=padding, data_format=data_format,
                                      activation=activation)
    dy = bfloat16_values(rng, y.shape)
    grads = tape.gradient(y, tensors, output_gradients=tf.constant(dy, tf.bfloat16))

    # dz = dy * activation'(z), z in float64. (The op takes activation' at
    # its bfloat16 output or preactivation: the same for these activations
    # but for silu's, smooth enough that the bounds cover it; tanh's
    # 1 - y^2 near |y| = 1 would not be, so no case has it.)
    z = reference.conv1d(x, w, b, **geometry)
    with tf.GradientTape() as tape:
        tape.watch(z)
        activated = reference.keras_activation(activation)(z)
    dz = reference._to_layout(tape.gradient(activated, z, output_gradients=tf.constant(dy)),
                              data_format)  # NWC
    return x, w, geometry, [tf.cast(g, tf.float64).numpy() for g in grads], dz


@pytest.mark.parametrize("case", GRAD_CASES, ids=[
    f"{c[2]}x{c[3]}k{c[4]}s{c[5]}d{c[6]}-{c[7]}-{c[8]}-{c[9]}" for c in GRAD_CASES])
def test_bfloat16_filter_and_bias_gradients_match_reference(case):
    x, w, geometry, (_, dw, db), dz = gradients_and_dz(case, seed=7 * case[1] + case[2])
    want_dw = filter_sums(x, dz, w.shape, **geometry)
    want_db = tf.reduce_sum(dz, axis=[0, 1]).numpy()
    # Each product's dz is rounded to bfloat16 (relative 2^-9, independent
    # from term to term): about 2^-9 / sqrt(3) * sqrt(sum (x dz)^2), allowed
    # seven times that, plus the result's own rounding. A missing or doubled
    # term is about sqrt(sum (x dz)^2 / n): above that for these n.
    spread_dw = np.sqrt(filter_sums(x * x, dz * dz, w.shape, **geometry))
    spread_db = np.sqrt(tf.reduce_sum(dz * dz, axis=[0, 1]).numpy())
    for name, got, want, spread in (("grad_filter", dw, want_dw, spread_dw),
                                    ("grad_bias", db, want_db, spread_db)):
        bound = 2.0 ** -8 * np.abs(want) + 2.0 ** -7 * spread + 1e-6
        worst = np.max(np.abs(got - want) - bound)
        assert worst <= 0, f"{name} is off by {worst:.3g} beyond its bfloat16 roundings"


INPUT_GRAD_CASES = [  # batch, steps, in_ch, filters, kernel, stride, dilation, padding, format, act
    (2, 301, 64, 128, 3, 2, 1, "SAME", "NWC", "relu"),    # downsampling's form: two phases
    (3, 97, 40, 33, 5, 3, 1, "CAUSAL", "NWC", "linear"),  # odd filters: odd phase depths; 40 = 32 + 8
    (2, 150, 32, 48, 2, 4, 1, "VALID", "NWC", "silu"),    # stride above the kernel: rows without taps
    (1, 70, 70, 16, 4, 2, 1, "SAME", "NWC", "gelu"),      # dz from the preactivation, rounded
    (2, 120, 48, 40, 3, 1, 1, "SAME", "NWC", "relu"),     # stride 1: one forward of dz
    (2, 90, 40, 24, 3, 2, 2, "SAME", "NWC", "linear"),    # dilation: the float phase form
    (2, 90, 40, 24, 3, 2, 1, "SAME", "NCW", "relu"),      # NCW: the float phase form
]


def input_sums(w, dz, x_shape, **geometry):
    """sum over taps and filters of w * dz for each input element, in float64."""
    x0 = tf.zeros(x_shape, tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(x0)
        loss = tf.reduce_sum(reference._linear_part(x0, tf.constant(w), **geometry) * dz)
    return tape.gradient(loss, x0).numpy()


@pytest.mark.parametrize("case", INPUT_GRAD_CASES, ids=[
    f"{c[2]}x{c[3]}k{c[4]}s{c[5]}d{c[6]}-{c[7]}-{c[8]}-{c[9]}" for c in INPUT_GRAD_CASES])
def test_bfloat16_input_gradient_matches_reference(case):
    """The input gradient without dilation is a forward of dz in bfloat16
    pairs: one with stride 1, one per phase of the input steps modulo the
    stride above it (bf16_pair_passes.h, BackpropInputInBf16Phases)."""
    x, w, geometry, (got, _, _), dz = gradients_and_dz(case, seed=5 * case[1] + case[3])
    want = input_sums(w, dz, x.shape, **geometry)
    # As the filter gradient's bound: dz rounded to bfloat16 in each term.
    spread = np.sqrt(input_sums(w * w, dz * dz, x.shape, **geometry))
    bound = 2.0 ** -8 * np.abs(want) + 2.0 ** -7 * spread + 1e-6
    worst = np.max(np.abs(got - want) - bound)
    assert worst <= 0, f"grad_input is off by {worst:.3g} beyond its bfloat16 roundings"


@pytest.mark.skipif(not _library.cpu_levels()["bf16_amx"],
                    reason="no AMX tiles here: the cases above check the dot products")
def test_dot_products_pass_the_same_cases_on_a_cpu_with_amx():
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", __file__, "-k",
         "not on_a_cpu_with_amx"], cwd=REPO, env=dict(os.environ, TF_CONV1D_AMX="0"),
        capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
