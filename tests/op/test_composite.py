"""The composite implementation (stock TensorFlow ops only) against the float64
reference and against the op, outputs and all three gradients, over the op
tests' grid (test_fused_conv1d_grid.py): in CI a sample that holds every
activation, padding, data format, (stride, dilation) pair and bias choice in
every dtype; TF_CONV1D_FULL_GRID=1 runs the whole grid. Then
TF_CONV1D_OP_IMPLEMENTATION in fresh processes."""
import itertools
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tests.support import REPO, reference
from tests.op.test_fused_conv1d_grid import DTYPES, GRID, random_case
from tf_conv1d_op import _implementation, _op_names, composite, ops

ROOT = REPO
FULL_GRID = os.environ.get("TF_CONV1D_FULL_GRID") == "1"


ALL_CASES = list(itertools.product(GRID, DTYPES))
# Every 53rd (case, dtype): 53 is prime to the factors (3 paddings, 2 layouts,
# 7 (stride, dilation) pairs, 2 bias choices, 13 activations, 4 dtypes), so
# the 83 cases hold every value of every factor and every (activation, dtype).
CASES = ALL_CASES if FULL_GRID else ALL_CASES[::53]


def _run(implementation, x, w, b, dy, dtype, attrs):
    tensors = [tf.constant(v, dtype) for v in (x, w) + (() if b is None else (b,))]
    with _implementation.using(implementation), tf.GradientTape() as tape:
        tape.watch(tensors)
        y = ops.fused_conv1d(tensors[0], tensors[1], None if b is None else tensors[2], **attrs)
        loss = tf.reduce_sum(tf.cast(y, tf.float64) * dy)
    grads = [g.numpy().astype(np.float64) for g in tape.gradient(loss, tensors)]
    return [y.numpy().astype(np.float64)] + grads + ([None] if b is None else [])


@pytest.mark.parametrize("case,dtype", CASES,
                         ids=["-".join(map(str, case + (dtype,))) for case, dtype in CASES])
def test_composite_matches_reference_and_op(case, dtype):
    padding, data_format, (stride, dilation), use_bias, activation = case
    x, w, b, dy = random_case(padding, data_format, stride, dilation, use_bias, activation,
                              dtype)
    expected, magnitudes = reference.conv1d_and_grads(
        x, w, b, dy, stride=stride, dilation=dilation, padding=padding,
        data_format=data_format, activation=activation)
    attrs = dict(stride=stride, dilations=dilation, padding=padding, data_format=data_format,
                 activation=activation)
    ours = _run(_implementation.COMPOSITE, x, w, b, dy, dtype, attrs)
    plugin = _run(_implementation.PLUGIN, x, w, b, dy, dtype, attrs)
    forward_tol, grad_tol = DTYPES[dtype]
    names = ("output", "grad_input", "grad_filter", "grad_bias")
    for name, got, op, want, magnitude, tol in zip(names, ours, plugin, expected,
                                                   (None,) + magnitudes,
                                                   (forward_tol,) + (grad_tol,) * 3):
        if want is None:
            continue
        error = reference.max_relative_error(got, want, magnitude)
        assert error <= tol, f"{name} vs reference: {error:.3g} > {tol:g} (x {x.shape})"
        # Both within tol of the reference, so within 2 tol of each other.
        error = reference.max_relative_error(got, op, magnitude)
        assert error <= 2 * tol, f"{name} vs the op: {error:.3g} > {2 * tol:g} (x {x.shape})"


def test_the_sample_covers_every_value_of_every_factor():
    for position in range(5):
        assert {case[position] for case, _ in CASES} == {case[position] for case in GRID}
    assert {(case[4], dtype) for case, dtype in CASES} == set(
        itertools.product(reference.ACTIVATIONS, DTYPES))


@pytest.mark.parametrize("slope", [0.3, -0.5, 1e-40])
def test_composite_leaky_relu_slope(slope):
    """The slope as the op reads it: float32, subnormals as zero."""
    x = tf.constant(np.linspace(-3, 3, 13).reshape(1, 13, 1))
    w = tf.ones([1, 1, 1], tf.float64)
    with _implementation.using(_implementation.COMPOSITE):
        got = ops.fused_conv1d(x, w, activation="leaky_relu", negative_slope=slope)
    want = ops.fused_conv1d(x, w, activation="leaky_relu", negative_slope=slope)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-15, atol=0)


@pytest.mark.parametrize("padding", ["VALID", "SAME", "CAUSAL"])
@pytest.mark.parametrize("stride,dilation", [(1, 1), (2, 1), (2, 2), (3, 2)])
def test_composite_with_unknown_shapes(padding, stride, dilation):
    """Traced for any batch and length (as in an export with a None length),
    where the padding is computed in the graph; lengths of both parities,
    and an empty batch."""
    rng = np.random.default_rng(stride * 10 + dilation)
    w, b = tf.constant(rng.standard_normal((3, 2, 4))), tf.constant(rng.standard_normal(4))
    attrs = dict(stride=stride, dilations=dilation, padding=padding, activation="elu")
    with _implementation.using(_implementation.COMPOSITE):
        traced = tf.function(lambda x: ops.fused_conv1d(x, w, b, **attrs)).get_concrete_function(
            tf.TensorSpec([None, None, 2], tf.float64))
    for shape in [(2, 17, 2), (1, 18, 2), (0, 9, 2), (1, 5, 2)]:
        x = tf.constant(rng.standard_normal(shape))
        np.testing.assert_allclose(traced(x).numpy(), ops.fused_conv1d(x, w, b, **attrs).numpy(),
                                   rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dilation", [1, 2])
@pytest.mark.parametrize("groups", [1, 2])
def test_composite_refuses_inputs_shorter_than_a_valid_kernel(dilation, groups):
    """Traced for unknown lengths, as the op refuses them: TensorFlow's
    convolution refuses some, and returned others unchanged, whose shape the
    output took (a result where the op has none)."""
    w = tf.ones([3, 2 // groups, 2])
    with _implementation.using(_implementation.COMPOSITE):
        traced = tf.function(lambda x: ops.fused_conv1d(
            x, w, dilations=dilation, groups=groups)).get_concrete_function(
                tf.TensorSpec([None, None, 2]))
    extent = 2 * dilation + 1
    for steps in range(1, extent):
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match="valid_padding_needs_the_kernel_extent|output size would be "
                                 "negative"):
            traced(tf.ones([1, steps, 2]))
    assert traced(tf.ones([1, extent, 2])).shape == (1, 1, 2)


@pytest.mark.parametrize("padding", ["SAME", "CAUSAL"])
@pytest.mark.parametrize("stride,kernel_size", [(1, 1), (1, 3), (2, 1), (2, 4), (3, 2)])
@pytest.mark.parametrize("groups", [1, 2])
def test_composite_on_empty_outputs(padding, stride, kernel_size, groups):
    """No steps or no batch: the op's empty output and zero
    gradients (TensorFlow's own convolutions refused these, returned
    uninitialized filter gradients, or crashed), with the shapes known when
    traced and unknown (then float32's convolution, oneDNN's, returned its
    input where the output had no steps, and the filter gradient uninitialized
    memory or a crash), in float32 and float64."""
    rng = np.random.default_rng(stride * 10 + kernel_size)
    attrs = dict(stride=stride, padding=padding, activation="softplus", groups=groups)
    for dtype in (tf.float32, tf.float64):
        w = tf.constant(rng.standard_normal((kernel_size, 4 // groups, 6)), dtype)
        b = tf.constant(rng.standard_normal(6), dtype)

        def outputs_and_gradients(x):
            with tf.GradientTape() as tape:
                tape.watch([x, w, b])
                y = ops.fused_conv1d(x, w, b, **attrs)
            return [y] + tape.gradient(y, [x, w, b])

        with _implementation.using(_implementation.COMPOSITE):
            traced = tf.function(outputs_and_gradients).get_concrete_function(
                tf.TensorSpec([None, None, 4], dtype))
        for x_shape in [(2, 0, 4), (0, 7, 4)]:
            x = tf.constant(rng.standard_normal(x_shape), dtype)
            want = outputs_and_gradients(x)
            with _implementation.using(_implementation.COMPOSITE):
                known = outputs_and_gradients(x)
            # With the batch unknown when traced, an empty one still reaches
            # TensorFlow's filter gradient (docs/deployment.md): its output only.
            unknown = traced(x) if x_shape[0] else traced(x)[:1]
            for results in (known, unknown):
                for got, expected in zip(results, want):
                    assert got.shape == expected.shape
                    np.testing.assert_array_equal(got.numpy(), np.zeros(expected.shape))
                    np.testing.assert_array_equal(expected.numpy(), np.zeros(expected.shape))


@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
def test_composite_softplus_and_its_derivative(dtype):
    """softplus(z) to a few ulps over the range where it is a normal number,
    and its derivative sigmoid(z), at 0 too (where relu and abs, the natural
    way to write it with LiteRT's builtins, have derivative 0)."""
    z = tf.constant(np.concatenate([np.linspace(-80, 30, 4401), [0.0, -1e-30, 1e-30]]), dtype)
    with tf.GradientTape() as tape:
        tape.watch(z)
        y = composite.activate(z, "softplus", 0.0)
    dz = tape.gradient(y, z).numpy().astype(np.float64)
    z64 = tf.cast(z, tf.float64)
    eps = np.finfo(dtype.as_numpy_dtype).eps
    np.testing.assert_allclose(y.numpy(), tf.math.softplus(z64).numpy(), rtol=4 * eps, atol=0)
    np.testing.assert_allclose(dz, tf.math.sigmoid(z64).numpy(), rtol=4 * eps, atol=0)
    assert dz[-3] == 0.5


def test_composite_without_input_channels():
    x, w, b = tf.zeros([2, 6, 0]), tf.ones([3, 0, 4]), tf.constant([1.0, -1.0, 0.5, 2.0])
    for padding in ("VALID", "SAME"):
        with _implementation.using(_implementation.COMPOSITE):
            got = ops.fused_conv1d(x, w, b, padding=padding, activation="relu")
        want = ops.fused_conv1d(x, w, b, padding=padding, activation="relu")
        np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_composite_runs_streamed_chunks():
    """fused_conv1d's streaming arguments on the composite: two chunks with
    the carried state give the plugin's whole causal output."""
    rng = np.random.default_rng(5)
    x = tf.constant(rng.standard_normal((2, 12, 3)))
    w, b = tf.constant(rng.standard_normal((3, 3, 4))), tf.constant(rng.standard_normal(4))
    attrs = dict(padding="CAUSAL", dilations=2, stride=2, activation="silu")
    whole = ops.fused_conv1d(x, w, b, **attrs)
    with _implementation.using(_implementation.COMPOSITE):
        first, state = ops.fused_conv1d(x[:, :6], w, b, return_final_state=True, **attrs)
        second = ops.fused_conv1d(x[:, 6:], w, b, initial_state=state, **attrs)
    np.testing.assert_allclose(tf.concat([first, second], 1).numpy(), whole.numpy(),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("padding", ["SAME", "CAUSAL"])
@pytest.mark.parametrize("dilation", [1, 2])
def test_composite_pads_and_cuts_by_constants_where_the_length_is_unknown(padding, dilation):
    """Stride 1, the length unknown when traced: the zeros padded and the
    output step cut off are constants, which LiteRT runs in its XNNPACK
    kernels (amounts read from the length at run time made a 4-layer model
    take 2.1 times as long: docs/deployment.md)."""
    with _implementation.using(_implementation.COMPOSITE):
        graph = tf.function(lambda x: ops.fused_conv1d(
            x, tf.ones([3, 2, 4]), tf.ones([4]), dilations=dilation, padding=padding,
            activation="relu")).get_concrete_function(tf.TensorSpec([None, None, 2])).graph
    operations = graph.get_operations()
    pads = [op for op in operations if op.type.startswith("Pad")]
    cuts = [op for op in operations if op.type == "StridedSlice" and op.inputs[0].dtype.is_floating]
    assert pads and cuts
    for op in pads + cuts:
        assert all(tf.get_static_value(bound) is not None for bound in op.inputs[1:]), op.name


def test_composite_graph_holds_no_plugin_op():
    with _implementation.using(_implementation.COMPOSITE):
        graph = tf.function(lambda x: ops.fused_conv1d(
            x, tf.ones([3, 2, 4]), tf.ones([4]), stride=2, dilations=2, padding="SAME",
            data_format="NCW", activation="gelu")).get_concrete_function(
                tf.TensorSpec([1, 2, 9])).graph
    used = {op.type for op in graph.get_operations()}
    assert not used & set(_op_names.ALL), used
    assert "Conv2D" in used  # tf.nn.convolution's 1D form


def test_composite_refuses_what_the_op_refuses():
    with _implementation.using(_implementation.COMPOSITE):
        with pytest.raises(ValueError, match="padding must be one of"):
            ops.fused_conv1d(tf.ones([1, 5, 2]), tf.ones([2, 2, 3]), padding="FULL")
        with pytest.raises(ValueError, match="VALID padding needs at least"):
            ops.fused_conv1d(tf.ones([1, 2, 2]), tf.ones([3, 2, 3]))


def test_using_refuses_unknown_names():
    with pytest.raises(ValueError, match="implementation must be one of"):
        with _implementation.using("xla"):
            pass


def child(code, **env):
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", **env)
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=environment,
                          capture_output=True, text=True, timeout=300)


def test_composite_process_needs_no_library(tmp_path):
    """With the variable set, the package imports and runs the layer although
    the library it would load does not exist, and no graph holds our op."""
    code = """
import numpy as np, tensorflow as tf, tf_conv1d_op
from tf_conv1d_op import _library, _op_names
layer = tf_conv1d_op.Conv1D(4, 3, strides=2, dilation_rate=2, padding="causal",
                            activation="silu")
x = tf.random.normal([2, 11, 3])
y = layer(x)
graph = tf.function(layer).get_concrete_function(tf.TensorSpec([2, 11, 3])).graph
assert not {op.type for op in graph.get_operations()} & set(_op_names.ALL)
assert _library.ops._functions is None
print("SHAPE", y.shape)
"""
    proc = child(code, TF_CONV1D_OP_IMPLEMENTATION="composite",
                 TF_CONV1D_OP_LIBRARY=str(tmp_path / "missing.so"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "SHAPE (2, 6, 4)" in proc.stdout


def test_a_library_that_cannot_load_names_the_composite_way_out(tmp_path):
    proc = child("import tf_conv1d_op", TF_CONV1D_OP_LIBRARY=str(tmp_path / "missing.so"))
    assert proc.returncode != 0
    assert "ImportError" in proc.stderr and "missing.so is not a file" in proc.stderr
    assert f"{_implementation.ENVIRONMENT_VARIABLE}=composite" in proc.stderr, proc.stderr[-2000:]


def test_an_unknown_implementation_is_an_import_error():
    proc = child("import tf_conv1d_op", TF_CONV1D_OP_IMPLEMENTATION="fast")
    assert proc.returncode != 0
    assert "TF_CONV1D_OP_IMPLEMENTATION='fast' is not one of ['plugin', 'composite']" \
        in proc.stderr, proc.stderr[-2000:]
