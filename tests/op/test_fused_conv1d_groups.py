"""Grouped and depthwise fused_conv1d (`groups`) against the float64 reference
(tests/support/reference.py: the dense reference per group), outputs and all
three gradients, every dtype; finite differences, second order, XLA, the
depthwise pass's tiles, vectorized_map, and graphs saved before the attribute
existed.

The default run takes a sample that meets every group case, padding, layout,
stride/dilation pair, bias choice and activation; TF_CONV1D_FULL_GRID=1 runs
the whole product (python/gpu_check/grids.py GROUP_CASES).
"""
import itertools
import os
import zlib

import numpy as np
import pytest
import tensorflow as tf

import tf_conv1d_op
from tf_conv1d_op import _op_names
from python.gpu_check.grids import (DATA_FORMATS, GROUP_CASES, OP_TOLERANCES, PADDINGS,
                                    STRIDE_DILATIONS)
from python.gpu_check import reference as shared_reference
from tests.support import reference

FULL_GRID = list(itertools.product(GROUP_CASES, PADDINGS, DATA_FORMATS, STRIDE_DILATIONS,
                                   (True, False), reference.ACTIVATIONS))


def _sample():
    """Each group case x padding x layout once, the other choices cycled."""
    cases = []
    for i, (group_case, padding, data_format) in enumerate(
            itertools.product(GROUP_CASES, PADDINGS, DATA_FORMATS)):
        stride_dilation = STRIDE_DILATIONS[i % len(STRIDE_DILATIONS)]
        activation = reference.ACTIVATIONS[(5 * i) % len(reference.ACTIVATIONS)]
        cases.append((group_case, padding, data_format, stride_dilation, i % 3 != 0,
                      activation))
    return cases


GRID = FULL_GRID if os.environ.get("TF_CONV1D_FULL_GRID") == "1" else _sample()


def _skip_gpu(device):
    if device == "GPU":
        pytest.skip("the CUDA core has no grouped kernels yet: the op refuses groups != 1 "
                    "on the GPU (docs/cuda.md)")


def random_case(group_case, padding, data_format, stride, dilation, use_bias, dtype,
                batch=None, steps=None, kernel_size=None):
    """x, w, b, dy for (in_channels, filters, groups), drawn from a seed fixed by the case."""
    in_channels, filters, groups = group_case
    seed = zlib.crc32(repr((group_case, padding, data_format, stride, dilation, use_bias,
                            dtype)).encode())
    rng = np.random.default_rng(seed)
    drawn_kernel_size = int(rng.integers(1, 6))
    kernel_size = drawn_kernel_size if kernel_size is None else kernel_size
    batch = int(rng.integers(1, 4)) if batch is None else batch
    extent = (kernel_size - 1) * dilation + 1
    if steps is None:
        steps = extent + int(rng.integers(0, 12)) if padding == "VALID" else int(
            rng.integers(1, 24))
    as_dtype = tf.as_dtype(dtype).as_numpy_dtype

    def draw(*shape):
        return rng.standard_normal(shape).astype(as_dtype).astype(np.float64)

    x = draw(*((batch, steps, in_channels) if data_format == "NWC"
               else (batch, in_channels, steps)))
    group_in = in_channels // groups
    w = (draw(kernel_size, group_in, filters) / np.sqrt(kernel_size * group_in))
    w = w.astype(as_dtype).astype(np.float64)
    b = draw(filters) if use_bias else None
    out_steps, _ = reference.output_length_and_left_pad(steps, kernel_size, stride,
                                                         dilation, padding)
    dy = draw(*((batch, out_steps, filters) if data_format == "NWC"
                else (batch, filters, out_steps)))
    return x, w, b, dy


def ours_and_grads(x, w, b, dy, dtype, fn=tf_conv1d_op.fused_conv1d, **attrs):
    tensors = [tf.constant(v, dtype) for v in (x, w) + (() if b is None else (b,))]

    def run(*tensors):
        with tf.GradientTape() as tape:
            tape.watch(tensors)
            y = fn(tensors[0], tensors[1], None if b is None else tensors[2], **attrs)
            loss = tf.reduce_sum(tf.cast(y, tf.float64) * dy)
        return [y] + tape.gradient(loss, list(tensors))

    results = [t.numpy().astype(np.float64) for t in run(*tensors)]
    return results[0], results[1], results[2], results[3] if b is not None else None


def _check(group_case, padding, data_format, stride_dilation, use_bias, activation, dtype,
           tolerances, fn=tf_conv1d_op.fused_conv1d, **sizes):
    stride, dilation = stride_dilation
    x, w, b, dy = random_case(group_case, padding, data_format, stride, dilation, use_bias,
                              dtype, **sizes)
    groups = group_case[2]
    attrs = dict(stride=stride, dilation=dilation, padding=padding, data_format=data_format,
                 activation=activation)
    expected, magnitudes = reference.conv1d_and_grads(x, w, b, dy, groups=groups, **attrs)
    ours_attrs = dict(attrs, dilations=attrs.pop("dilation"), groups=groups)
    actual = ours_and_grads(x, w, b, dy, dtype, fn=fn, **ours_attrs)
    reference.assert_matches(actual, expected, magnitudes, tolerances,
                             f"(x {x.shape}, w {w.shape}, groups {groups})")


@pytest.mark.parametrize("dtype", list(OP_TOLERANCES))
@pytest.mark.parametrize("group_case,padding,data_format,stride_dilation,use_bias,activation",
                         GRID, ids=["-".join(map(str, c)) for c in GRID])
def test_grouped_forward_and_gradients_match_reference(group_case, padding, data_format,
                                                       stride_dilation, use_bias, activation,
                                                       dtype, device):
    _skip_gpu(device)
    _check(group_case, padding, data_format, stride_dilation, use_bias, activation, dtype,
           OP_TOLERANCES[dtype])


# The depthwise pass across its tiles, threads and sparse-window fallback:
# (in_channels, filters, groups), padding, layout, (stride, dilation),
# activation, batch, steps.
DEPTHWISE_TILES = [
    ((96, 96, 96), "CAUSAL", "NWC", (1, 1), "silu", 3, 700),       # many tiles, multiplier 1
    ((40, 80, 40), "SAME", "NCW", (2, 3), "gelu", 2, 333),          # multiplier 2, strided
    ((70, 70, 70), "SAME", "NWC", (1, 1), "relu", 2, 257),          # channels past a block
    ((6, 6, 6), "SAME", "NWC", (1, 200), "tanh", 1, 500),           # windows sparse in the slab
    ((6, 12, 3), "CAUSAL", "NCW", (3, 50), "elu", 2, 400),          # grouped, sparse
    ((48, 96, 8), "VALID", "NWC", (1, 2), "leaky_relu", 4, 300),    # grouped, several tiles
    ((64, 48, 4), "CAUSAL", "NWC", (1, 4), "relu", 3, 300),         # 16 per group: copied out
    ((32, 16, 2), "VALID", "NWC", (5, 1), "linear", 2, 400),        # copied, sparse in the slab
]


@pytest.mark.parametrize("dtype", ["float32", "float64", "bfloat16"])
@pytest.mark.parametrize("case", DEPTHWISE_TILES, ids=[str(c[:4]) for c in DEPTHWISE_TILES])
def test_large_grouped_cases_match_reference(case, dtype, device):
    _skip_gpu(device)
    group_case, padding, data_format, stride_dilation, activation, batch, steps = case
    _check(group_case, padding, data_format, stride_dilation, True, activation, dtype,
           OP_TOLERANCES[dtype], batch=batch, steps=steps)


# Windows of 8 taps or more whose taps lie a row apart (stride equal to
# dilation): the depthwise forward loads each input row once for the 8 output
# rows under it. (in_channels, filters, groups), padding, layout,
# (stride, dilation), activation, batch, steps, kernel_size.
DEPTHWISE_WIDE = [
    ((64, 64, 64), "SAME", "NWC", (1, 1), "linear", 2, 200, 31),   # Conformer's window
    ((48, 48, 48), "CAUSAL", "NWC", (2, 2), "silu", 2, 150, 9),    # stride = dilation = 2
    ((37, 37, 37), "VALID", "NWC", (1, 1), "sigmoid", 3, 90, 8),   # channels past a vector
    ((20, 20, 20), "SAME", "NCW", (1, 1), "gelu", 2, 19, 12),      # runs shorter than a group
    # Rows of a page or more with few taps: groups of rows across all the
    # channels (a tail past the last vector), dilated.
    ((1030, 1030, 1030), "CAUSAL", "NWC", (1, 3), "gelu_tanh", 2, 45, 3),
    # Mamba's in miniature: whole lane vectors, so the filter gradient's
    # groups go across the channels with dz in registers; 4 and 1 rows left.
    ((1024, 1024, 1024), "CAUSAL", "NWC", (1, 1), "silu", 2, 37, 4),
    # The clamps in registers too: relu6 across the channels, relu on a
    # window of 9 taps lane vector by lane vector (sliding sums).
    ((512, 512, 512), "CAUSAL", "NWC", (1, 1), "relu6", 2, 40, 4),
    ((64, 64, 64), "SAME", "NWC", (1, 1), "relu", 2, 70, 9),
]


# half and bfloat16 NWC windows are read in place and the sums rounded in
# registers (linear and the packet forms), the others through float tiles.
@pytest.mark.parametrize("dtype", ["float32", "float64", "bfloat16", "float16"])
@pytest.mark.parametrize("case", DEPTHWISE_WIDE, ids=[str(c[:4] + c[-1:]) for c in DEPTHWISE_WIDE])
def test_wide_depthwise_windows_match_reference(case, dtype, device):
    _skip_gpu(device)
    group_case, padding, data_format, stride_dilation, activation, batch, steps, kernel = case
    _check(group_case, padding, data_format, stride_dilation, True, activation, dtype,
           OP_TOLERANCES[dtype], batch=batch, steps=steps, kernel_size=kernel)


@pytest.mark.main_run_only
def test_depthwise_output_beyond_the_caches_matches_reference(device):
    """A float32 NWC output over 64 MiB: the forward stores it past the caches
    with linear and silu, the preactivation too where it is kept (relu is
    applied to the finished tile, stored normally), and so does the input
    gradient, as large."""
    _skip_gpu(device)
    batch, steps, channels, kernel_size = 2, 4100, 2048, 4
    rng = np.random.default_rng(17)
    x = rng.standard_normal((batch, steps, channels)).astype(np.float32)
    w = (rng.standard_normal((kernel_size, 1, channels)) / 2).astype(np.float32)
    b = rng.standard_normal(channels).astype(np.float32)
    # The causal preactivation by shifted slices in float64 (output step o reads
    # input steps o - 3 .. o): the shared reference's windows would take 0.5 GB.
    padded = np.pad(x.astype(np.float64), ((0, 0), (kernel_size - 1, 0), (0, 0)))
    z = b.astype(np.float64) + sum(padded[:, k:k + steps] * w[k, 0].astype(np.float64)
                                   for k in range(kernel_size))
    for activation in ("linear", "silu", "relu"):
        # In a function, so that the preactivation output is not required
        # (eagerly it is computed too: the gradients below).
        forward = tf.function(lambda x, activation=activation: tf_conv1d_op.fused_conv1d(
            x, w, b, padding="CAUSAL", activation=activation, groups=channels))
        error = reference.max_relative_error(forward(x).numpy(),
                                             shared_reference.activate(activation, z))
        assert error <= OP_TOLERANCES["float32"][0], f"{activation}: relative error {error:.3g}"
    dy = rng.standard_normal(x.shape).astype(np.float32)
    for activation in ("linear", "silu"):
        x_tensor = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(x_tensor)
            y = tf_conv1d_op.fused_conv1d(x_tensor, w, b, padding="CAUSAL",
                                          activation=activation, groups=channels)
        dx = tape.gradient(y, x_tensor, output_gradients=dy).numpy()
        error = reference.max_relative_error(y.numpy(), shared_reference.activate(activation, z))
        assert error <= OP_TOLERANCES["float32"][0], f"{activation} y: relative error {error:.3g}"
        # Input step i receives dz at output steps i + 3 - k (those before the end).
        dz = np.pad(dy * shared_reference.derivative(activation, z),
                    ((0, 0), (0, kernel_size - 1), (0, 0)))
        expected = sum(dz[:, kernel_size - 1 - k:kernel_size - 1 - k + steps] *
                       w[k, 0].astype(np.float64) for k in range(kernel_size))
        error = reference.max_relative_error(dx, expected)
        assert error <= OP_TOLERANCES["float32"][1], f"{activation} dx: relative error {error:.3g}"


NUMERIC_CASES = [  # (in_channels, filters, groups), padding, layout, stride, dilation, activation
    ((4, 6, 2), "SAME", "NCW", 2, 1, "gelu"),
    ((3, 3, 3), "CAUSAL", "NWC", 1, 2, "silu"),
    ((2, 6, 2), "VALID", "NWC", 1, 1, "elu"),
    ((4, 4, 4), "SAME", "NCW", 3, 2, "softplus"),
]


@pytest.mark.parametrize("case", NUMERIC_CASES, ids=[str(c) for c in NUMERIC_CASES])
def test_grouped_gradient_matches_finite_differences(case, device):
    _skip_gpu(device)
    (cin, cout, groups), padding, data_format, stride, dilation, activation = case
    rng = np.random.default_rng(zlib.crc32(repr(case).encode()))
    shape = (2, 9, cin) if data_format == "NWC" else (2, cin, 9)
    x = tf.constant(rng.standard_normal(shape), tf.float64)
    w = tf.constant(rng.standard_normal((3, cin // groups, cout)) / 2, tf.float64)
    b = tf.constant(rng.standard_normal(cout), tf.float64)

    def f(x, w, b):
        return tf_conv1d_op.fused_conv1d(x, w, b, stride=stride, padding=padding,
                                         dilations=dilation, activation=activation,
                                         data_format=data_format, groups=groups)

    theoretical, numerical = tf.test.compute_gradient(f, [x, w, b], delta=1e-6)
    for name, t, n in zip(("input", "filter", "bias"), theoretical, numerical):
        np.testing.assert_allclose(t, n, rtol=1e-5, atol=1e-6, err_msg=name)


@pytest.mark.parametrize("case", NUMERIC_CASES, ids=[str(c) for c in NUMERIC_CASES])
def test_grouped_second_order_matches_reference(case, device):
    """d/d(x, w) of <dL/dx, u> + <dL/dw, v>: the backward ops' own gradients."""
    _skip_gpu(device)
    (cin, cout, groups), padding, data_format, stride, dilation, activation = case
    rng = np.random.default_rng(zlib.crc32(repr(case).encode()) + 1)
    shape = (2, 9, cin) if data_format == "NWC" else (2, cin, 9)
    x = tf.constant(rng.standard_normal(shape), tf.float64)
    w = tf.constant(rng.standard_normal((3, cin // groups, cout)) / 2, tf.float64)
    b = tf.constant(rng.standard_normal(cout), tf.float64)
    u = tf.constant(rng.standard_normal(shape), tf.float64)
    v = tf.constant(rng.standard_normal(w.shape), tf.float64)

    def second(conv):
        with tf.GradientTape() as outer:
            outer.watch([x, w, b])
            with tf.GradientTape() as inner:
                inner.watch([x, w, b])
                y = conv(x, w, b)
                loss = tf.reduce_sum(y * y) / 2
            dx, dw = inner.gradient(loss, [x, w])
            mixed = tf.reduce_sum(dx * u) + tf.reduce_sum(dw * v)
        return [g.numpy() for g in outer.gradient(mixed, [x, w, b])]

    attrs = dict(stride=stride, padding=padding, activation=activation,
                 data_format=data_format, groups=groups)
    ours = second(lambda x, w, b: tf_conv1d_op.fused_conv1d(x, w, b, dilations=dilation,
                                                            **attrs))
    expected = second(lambda x, w, b: reference.conv1d(x, w, b, dilation=dilation, **attrs))
    for name, got, want in zip(("input", "filter", "bias"), ours, expected):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9, err_msg=name)


XLA_CASES = [  # a sample: grouped and depthwise, both layouts, strides, dilations
    ((4, 6, 2), "SAME", "NCW", (2, 1), True, "gelu"),
    ((3, 6, 3), "CAUSAL", "NWC", (1, 2), True, "silu"),
    ((8, 8, 8), "VALID", "NWC", (3, 2), False, "relu"),
    ((6, 3, 3), "SAME", "NWC", (2, 2), True, "tanh"),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", XLA_CASES, ids=[str(c) for c in XLA_CASES])
def test_grouped_xla_matches_reference(case, dtype):
    xla = tf.function(tf_conv1d_op.fused_conv1d, jit_compile=True, reduce_retracing=True)
    _check(*case, dtype, OP_TOLERANCES[dtype], fn=xla)


def test_grouped_vectorized_map_falls_back_and_matches():
    """Per-iteration grouped filters cannot fold into the channels: pfor runs
    them one at a time, with the same results as a loop."""
    rng = np.random.default_rng(17)
    x = tf.constant(rng.standard_normal((2, 8, 4)), tf.float64)
    ws = tf.constant(rng.standard_normal((3, 2, 2, 6)), tf.float64)
    got = tf.vectorized_map(lambda w: tf_conv1d_op.fused_conv1d(x, w, groups=2,
                                                                padding="SAME"), ws)
    want = [reference.conv1d(x, w, None, padding="SAME", groups=2) for w in ws]
    np.testing.assert_allclose(got.numpy(), np.stack(want), rtol=1e-12, atol=1e-12)


def test_graph_without_groups_attribute_runs_as_groups_1():
    """A graph saved before the attribute existed has no `groups` on its
    nodes; importing it takes the default, 1."""
    x = tf.TensorSpec([2, 9, 3], tf.float64, name="x")
    w = tf.TensorSpec([3, 3, 4], tf.float64, name="w")
    fn = tf.function(lambda x, w: tf_conv1d_op.fused_conv1d(x, w, padding="SAME"))
    graph_def = fn.get_concrete_function(x, w).graph.as_graph_def()
    node = next(n for n in graph_def.node if n.op == _op_names.FORWARD)
    assert "groups" in node.attr
    del node.attr["groups"]
    rng = np.random.default_rng(3)
    xv, wv = rng.standard_normal([2, 9, 3]), rng.standard_normal([3, 3, 4])
    with tf.Graph().as_default():
        tf.graph_util.import_graph_def(graph_def, name="")
        with tf.compat.v1.Session() as session:
            got = session.run(node.name + ":0", {"x:0": xv, "w:0": wv})
    np.testing.assert_allclose(got, reference.conv1d(xv, wv, None, padding="SAME"),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("groups,filter_shape", [(2, (3, 2, 6)), (4, (5, 1, 8))])
def test_empty_tensors_with_huge_declared_dims(groups, filter_shape):
    """No elements, declared sizes near 2^40: empty results of the right
    shapes, through the forward and both backward ops, never an allocation
    of the declared size."""
    huge = 2**40
    x = tf.zeros([0, huge, 4])
    w = tf.zeros(filter_shape)
    y = tf_conv1d_op.fused_conv1d(x, w, groups=groups, padding="SAME")
    assert y.shape == (0, huge, filter_shape[2])
    ops = tf_conv1d_op._library.ops
    dy = tf.zeros([0, huge, filter_shape[2]])
    dx = ops.fused_conv1d_backprop_input(tf.constant([0, huge, 4], tf.int64), w, dy, dy,
                                         padding="SAME", groups=groups)
    assert dx.shape == (0, huge, 4)
    dw, db = ops.fused_conv1d_backprop_filter(x, tf.constant(filter_shape, tf.int64), dy, dy,
                                              padding="SAME", groups=groups)
    assert dw.shape == filter_shape and not np.any(dw.numpy()) and not np.any(db.numpy())
    # Channels empty, the rest declared huge: the output is the (absent) bias.
    y = tf_conv1d_op.fused_conv1d(tf.zeros([2, 3, 0]), tf.zeros([huge, 0, 4]), groups=groups,
                                  padding="SAME")
    np.testing.assert_array_equal(y.numpy(), np.zeros([2, 3, 4]))


@pytest.mark.parametrize("data_format", ["NWC", "NCW"])
def test_depthwise_stream_in_chunks_matches_whole_sequence(data_format):
    """The causal state holds all in_channels (filter dimension 1 x groups)."""
    rng = np.random.default_rng(11)
    steps_axis = 1 if data_format == "NWC" else 2
    x = tf.constant(rng.standard_normal((2, 12, 6) if data_format == "NWC" else (2, 6, 12)))
    w = tf.constant(rng.standard_normal((3, 1, 12)))
    attrs = dict(padding="CAUSAL", dilations=2, activation="silu", data_format=data_format,
                 groups=6)
    whole = tf_conv1d_op.fused_conv1d(x, w, **attrs)
    chunks, state = [], None
    for part in tf.split(x, [5, 7], axis=steps_axis):
        y, state = tf_conv1d_op.fused_conv1d(part, w, initial_state=state,
                                             return_final_state=True, **attrs)
        chunks.append(y)
    np.testing.assert_allclose(tf.concat(chunks, steps_axis).numpy(), whole.numpy(),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
@pytest.mark.parametrize("activation", ["linear", "silu", "relu6"])
def test_narrow_depthwise_forward_rounds_the_float_sums_once(dtype, activation, device):
    """Half and bfloat16 NWC depthwise forwards round their float sums in
    registers; the bits must be those of the float op's output rounded by a
    cast (the same sums in the same order), including values past the
    narrow type's range, the edge rows' copied windows and a tail of
    channels past the last vector."""
    _skip_gpu(device)
    rng = np.random.default_rng(23)
    channels, kernel_size = 1030, 4
    x = tf.cast(rng.standard_normal((2, 41, channels)) * 8, dtype)
    w = tf.cast(rng.standard_normal((kernel_size, 1, channels)), dtype)
    b = tf.cast(rng.standard_normal(channels), dtype)
    scale = tf.constant(1e4 if dtype == "float16" else 1e36, tf.float32)  # some sums overflow
    x = tf.cast(tf.cast(x, tf.float32) * tf.where(tf.range(channels) % 97 == 0, scale, 1.0), dtype)
    attrs = dict(padding="SAME", activation=activation, groups=channels)
    narrow = tf_conv1d_op.fused_conv1d(x, w, b, **attrs)
    wide = tf_conv1d_op.fused_conv1d(*(tf.cast(t, tf.float32) for t in (x, w, b)), **attrs)
    bits = tf.uint16
    np.testing.assert_array_equal(tf.bitcast(narrow, bits).numpy(),
                                  tf.bitcast(tf.cast(wide, dtype), bits).numpy())


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
@pytest.mark.parametrize("activation", ["linear", "silu", "relu"])
@pytest.mark.parametrize("channels", [1024, 1030])
def test_narrow_depthwise_gradients_match_the_float_op_rounded_once(dtype, activation, channels,
                                                                    device):
    """Half and bfloat16 NWC depthwise gradients read their tensors in place
    (widened in registers) and the input gradient stores rounded from
    registers: the bits must be those of the float op on the widened values,
    rounded by a cast. Long enough for tiles inside the input and at both
    padded edges; 1030 channels leave a tail past the last vector."""
    _skip_gpu(device)
    ops = tf_conv1d_op._library.ops
    rng = np.random.default_rng(29)
    batch, steps, kernel_size = 2, 300, 4
    narrow = lambda a: tf.cast(a, dtype)
    x = narrow(rng.standard_normal((batch, steps, channels)) * 4)
    w = narrow(rng.standard_normal((kernel_size, 1, channels)))
    dy = narrow(rng.standard_normal((batch, steps, channels)))
    operand = narrow(rng.standard_normal((batch, steps, channels)) * 3)
    attrs = dict(padding="SAME", activation=activation, groups=channels)
    wide = lambda *tensors: [tf.cast(t, tf.float32) for t in tensors]
    x_sizes = tf.constant(x.shape, tf.int64)
    w_sizes = tf.constant(w.shape, tf.int64)
    dx = ops.fused_conv1d_backprop_input(x_sizes, w, dy, operand, **attrs)
    dx_wide = ops.fused_conv1d_backprop_input(x_sizes, *wide(w, dy, operand), **attrs)
    dw, db = ops.fused_conv1d_backprop_filter(x, w_sizes, dy, operand, **attrs)
    dw_wide, db_wide = ops.fused_conv1d_backprop_filter(*wide(x), w_sizes, *wide(dy, operand),
                                                        **attrs)
    bits = lambda t: tf.bitcast(t, tf.uint16).numpy()
    for name, got, want in (("input", dx, dx_wide), ("filter", dw, dw_wide), ("bias", db, db_wide)):
        np.testing.assert_array_equal(bits(got), bits(narrow(want)), err_msg=name)


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_narrow_depthwise_beyond_the_caches_rounds_the_float_sums_once(dtype, device):
    """Half and bfloat16 NWC passes that move over 64 MiB store their output,
    preactivation and input gradient past the caches, rounded in registers:
    the bits must still be those of the float op rounded by a cast."""
    _skip_gpu(device)
    ops = tf_conv1d_op._library.ops
    rng = np.random.default_rng(31)
    batch, steps, channels, kernel_size = 2, 4200, 2048, 4  # 2 x 33.6 MB in and out
    narrow = lambda a: tf.cast(a, dtype)
    wide = lambda *tensors: [tf.cast(t, tf.float32) for t in tensors]
    x = narrow(rng.standard_normal((batch, steps, channels), np.float32) * 4)
    w = narrow(rng.standard_normal((kernel_size, 1, channels), np.float32))
    b = narrow(rng.standard_normal(channels, np.float32))
    dy = narrow(rng.standard_normal((batch, steps, channels), np.float32))
    attrs = dict(padding="CAUSAL", activation="silu", groups=channels)
    bits = lambda t: tf.bitcast(t, tf.uint16).numpy()
    y, z = ops.fused_conv1d(x, w, b, **attrs)  # the preactivation is an output here
    y_wide, z_wide = ops.fused_conv1d(*wide(x, w, b), **attrs)
    np.testing.assert_array_equal(bits(y), bits(narrow(y_wide)), err_msg="output")
    np.testing.assert_array_equal(bits(z), bits(narrow(z_wide)), err_msg="preactivation")
    x_sizes = tf.constant(x.shape, tf.int64)
    dx = ops.fused_conv1d_backprop_input(x_sizes, w, dy, z, **attrs)
    dx_wide = ops.fused_conv1d_backprop_input(x_sizes, *wide(w, dy, z), **attrs)
    np.testing.assert_array_equal(bits(dx), bits(narrow(dx_wide)), err_msg="input gradient")


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize("activation", ["relu", "relu6"])
def test_depthwise_clamps_in_registers_keep_nan(activation, dtype, device):
    """relu and relu6 clamp the depthwise sums in registers: a NaN sum stays
    NaN (as tf.nn.relu keeps it), and a NaN upstream gradient where the
    slope is 0 still makes the channel's filter and bias gradients NaN (a
    product, as TF's ReluGrad forms it, not a select)."""
    _skip_gpu(device)
    ops = tf_conv1d_op._library.ops
    rng = np.random.default_rng(31)
    channels, steps, kernel_size = 64, 50, 4
    x = rng.standard_normal((1, steps, channels))
    x[0, 20, 5] = np.nan
    x[0, 30, 6] = -1e30  # every window over it is clamped to 0
    w = np.abs(rng.standard_normal((kernel_size, 1, channels)))
    attrs = dict(padding="CAUSAL", activation=activation, groups=channels)
    y = tf_conv1d_op.fused_conv1d(tf.cast(x, dtype), tf.cast(w, dtype), **attrs)
    y = tf.cast(y, tf.float64).numpy()
    nan_rows = np.flatnonzero(np.isnan(y[0, :, 5]))
    np.testing.assert_array_equal(nan_rows, np.arange(20, 20 + kernel_size))
    assert not np.isnan(np.delete(y, 5, axis=2)).any()
    np.testing.assert_array_equal(y[0, 30:34, 6], 0.0)
    dy = np.ones((1, steps, channels))
    dy[0, 31, 6] = np.nan  # where y = 0: slope 0
    dw, db = ops.fused_conv1d_backprop_filter(
        tf.cast(np.nan_to_num(x), dtype), tf.constant(w.shape, tf.int64), tf.cast(dy, dtype),
        tf.cast(np.nan_to_num(y), dtype), **attrs)
    dw, db = tf.cast(dw, tf.float64).numpy(), tf.cast(db, tf.float64).numpy()
    assert np.isnan(db[6]) and np.isnan(dw[:, 0, 6]).all()
    assert not np.isnan(np.delete(db, 6)).any()
