"""The streaming op (TfConv1dOp>FusedConv1DStream): one chunk of a causal
convolution from a state, read in place. Against the float64 reference of
VALID over concat(state, chunk) and against the concat formulation it
replaces; its gradients (the state's and new state's included); where it runs
and where it must not (composite, portable); XLA; and hostile shapes through
the raw op."""
import contextlib
import zlib

import numpy as np
import pytest
import tensorflow as tf

import tf_conv1d_op
from tf_conv1d_op import _causal_state, _implementation, _op_names, _xla_support
from tf_conv1d_op._library import ops
from tests.op.test_fused_conv1d_grid import DTYPES
from tests.support import reference

STREAM = _op_names.STREAM


def _rng(*key):
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def _cases():
    """One random case per activation; dtypes and layouts cycle through all,
    and every few a long chunk (the CPU kernel's tiled branch)."""
    dtypes = list(DTYPES)
    cases = []
    for i, activation in enumerate(reference.ACTIVATIONS):
        rng = _rng("case", activation)
        stride = int(rng.choice([1, 1, 2, 3]))
        outputs = int(rng.choice([1, 1, 2, 3])) if i % 4 else int(rng.integers(17, 40))
        cases.append(dict(activation=activation, dtype=dtypes[i % len(dtypes)],
                          data_format=("NWC", "NCW")[i % 2], stride=stride,
                          dilation=int(rng.integers(1, 4)), kernel_size=int(rng.integers(1, 5)),
                          chunk_steps=stride * outputs, batch=int(rng.integers(1, 4)),
                          in_channels=int(rng.integers(1, 6)),
                          out_channels=int(rng.integers(1, 7))))
    return cases


CASES = _cases()


def _layout(data_format, batch, steps, channels):
    return (batch, steps, channels) if data_format == "NWC" else (batch, channels, steps)


def _draw(rng, dtype, *shape):
    """Random values exactly representable in dtype, as float64."""
    return tf.cast(tf.constant(rng.standard_normal(shape), tf.as_dtype(dtype)),
                   tf.float64).numpy()


def _run(state, chunk, w, b, dy, ds, case):
    """Output, new state and dL/d(chunk, state, w, b) of fused_conv1d with a
    final state, for loss = sum(y * dy) + sum(new_state * ds)."""
    variables = [tf.Variable(v, dtype=case["dtype"]) for v in (chunk, state, w, b)]
    with tf.GradientTape() as tape:
        y, new_state = tf_conv1d_op.fused_conv1d(
            variables[0], variables[2], variables[3], stride=case["stride"],
            dilations=case["dilation"], padding="causal", activation=case["activation"],
            data_format=case["data_format"], initial_state=variables[1],
            return_final_state=True)
        loss = (tf.reduce_sum(tf.cast(y, tf.float64) * dy) +
                tf.reduce_sum(tf.cast(new_state, tf.float64) * ds))
    grads = tape.gradient(loss, variables)
    return [np.asarray(tf.cast(t, tf.float64)) for t in [y, new_state] + grads]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c['activation']}-{c['dtype']}-"
                         f"{c['data_format']}-s{c['stride']}d{c['dilation']}k{c['kernel_size']}"
                         f"n{c['chunk_steps']}")
def test_stream_matches_the_reference_and_the_concat_formulation(case, device):
    rng = _rng("values", sorted(case.items()))
    fmt, dtype = case["data_format"], case["dtype"]
    axis = 1 if fmt == "NWC" else 2
    state_steps = (case["kernel_size"] - 1) * case["dilation"]
    batch, n = case["batch"], case["chunk_steps"]
    state = _draw(rng, dtype, *_layout(fmt, batch, state_steps, case["in_channels"]))
    chunk = _draw(rng, dtype, *_layout(fmt, batch, n, case["in_channels"]))
    w = _draw(rng, dtype, case["kernel_size"], case["in_channels"], case["out_channels"])
    b = _draw(rng, dtype, case["out_channels"])
    dy = _draw(rng, dtype, *_layout(fmt, batch, n // case["stride"], case["out_channels"]))
    ds = _draw(rng, dtype, *state.shape)

    y, new_state, *grads = _run(state, chunk, w, b, dy, ds, case)
    with _causal_state.concat_formulation():
        concat_y, concat_state, *concat_grads = _run(state, chunk, w, b, dy, ds, case)

    # The reference: VALID over concat(state, chunk) in float64; the new
    # state is its last state_steps steps, so ds lands there.
    padded = np.concatenate([state, chunk], axis=axis)
    inputs = [tf.constant(v) for v in (padded, w, b)]
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        ref_y = reference.conv1d(*inputs, stride=case["stride"], dilation=case["dilation"],
                                 data_format=fmt, activation=case["activation"])
        ref_loss = tf.reduce_sum(ref_y * dy)
    ref_padded, ref_w, ref_b = (g.numpy() for g in tape.gradient(ref_loss, inputs))
    ref_padded += np.concatenate([np.zeros_like(chunk), ds], axis=axis)
    ref_chunk, ref_state = np.split(ref_padded, [state_steps], axis=axis)[::-1]

    forward_tol, grad_tol = DTYPES[dtype]
    assert reference.max_relative_error(y, ref_y) <= forward_tol
    assert reference.max_relative_error(y, concat_y) <= forward_tol
    expected_state = np.split(padded, [n], axis=axis)[1]
    np.testing.assert_array_equal(new_state, expected_state)
    np.testing.assert_array_equal(concat_state, expected_state)
    for name, got, concat, want in zip(("chunk", "state", "filters", "bias"), grads,
                                       concat_grads, (ref_chunk, ref_state, ref_w, ref_b)):
        assert reference.max_relative_error(got, want) <= grad_tol, name
        assert reference.max_relative_error(got, concat) <= grad_tol, name


def _op_types(fn, *specs):
    graph = tf.function(fn).get_concrete_function(*specs).graph
    return {op.type for op in graph.get_operations()}


def test_the_stream_op_runs_only_where_a_final_state_is_asked():
    x, s = tf.TensorSpec([1, 1, 3]), tf.TensorSpec([1, 2, 3])
    w = tf.ones([3, 3, 4])

    def with_state(x, s, final=True):
        return tf_conv1d_op.fused_conv1d(x, w, padding="causal", initial_state=s,
                                         return_final_state=final)

    types = _op_types(with_state, x, s)
    assert STREAM in types and _op_names.FORWARD not in types and "ConcatV2" not in types
    types = _op_types(lambda x, s: with_state(x, s, final=False), x, s)
    assert _op_names.FORWARD in types and STREAM not in types
    with _causal_state.concat_formulation():
        types = _op_types(with_state, x, s)
    assert {_op_names.FORWARD, "ConcatV2"} <= types and STREAM not in types
    # The composite implementation (what portable exports trace) keeps stock ops.
    with _implementation.using(_implementation.COMPOSITE):
        types = _op_types(with_state, x, s)
    assert not types & set(_op_names.ALL) and "ConcatV2" in types


def test_the_op_infers_static_shapes():
    def step(s, x):
        return ops.fused_conv1d_stream(s, x, tf.ones([3, 5, 4]), tf.zeros([4]), stride=2,
                                       dilation=2, data_format="NCW", activation="relu")
    graph_outputs = tf.function(step).get_concrete_function(
        tf.TensorSpec([None, 5, 4]), tf.TensorSpec([7, 5, 6])).outputs
    assert [o.shape.as_list() for o in graph_outputs] == [[7, 4, 3], [7, 5, 4]]


@pytest.mark.parametrize("batch,in_channels,kernel_size", [(0, 3, 3), (2, 0, 3), (2, 3, 1)])
def test_empty_tensors_and_an_empty_state(batch, in_channels, kernel_size, device):
    rng = _rng("empty", batch, in_channels, kernel_size)
    state = rng.standard_normal((batch, kernel_size - 1, in_channels))
    chunk = rng.standard_normal((batch, 2, in_channels))
    w, b = rng.standard_normal((kernel_size, in_channels, 4)), rng.standard_normal(4)
    y, new_state = ops.fused_conv1d_stream(state, chunk, w, b, activation="tanh")
    padded = np.concatenate([state, chunk], axis=1)
    np.testing.assert_allclose(y, reference.conv1d(padded, w, b, activation="tanh"),
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(new_state, padded[:, 2:])


def test_a_huge_declared_state_of_no_channels_works():
    """An empty state of 2^61 - 1 steps (kernel_size 2^61, no channels): no
    loop or allocation may follow the declared length."""
    steps = 2**61 - 1
    y, new_state = ops.fused_conv1d_stream(
        tf.zeros([1, steps, 0]), tf.zeros([1, 1, 0]), tf.zeros([steps + 1, 0, 2]),
        tf.constant([0.5, -1.0]), activation="relu")
    np.testing.assert_array_equal(y, [[[0.5, 0.0]]])
    assert new_state.shape == (1, steps, 0)


def _raw(state_shape, chunk_shape, filter_shape, bias_shape=(4,), **attrs):
    """The raw op's call in a mode: eager on zeros of these shapes, or traced
    with them as static shapes (the shape function's checks)."""
    shapes = (state_shape, chunk_shape, filter_shape, bias_shape)

    def call(mode):
        op = lambda *inputs: ops.fused_conv1d_stream(*inputs, **attrs)  # noqa: E731
        if mode == "eager":
            return op(*[tf.zeros(shape) for shape in shapes])
        return tf.function(op).get_concrete_function(*[tf.TensorSpec(s) for s in shapes])
    return call


HOSTILE = {
    "short state": (_raw([1, 1, 2], [1, 1, 2], [3, 2, 4]),
                    "state must hold (kernel_size - 1) * dilation = 2 steps"),
    "long state": (_raw([1, 7, 2], [1, 1, 2], [3, 2, 4], dilation=3),
                   "state must hold (kernel_size - 1) * dilation = 6 steps"),
    "state channels": (_raw([1, 2, 3], [1, 1, 2], [3, 2, 4]),
                       "state, chunk and filter must have the same number of input channels"),
    "filter channels": (_raw([1, 2, 2], [1, 1, 2], [3, 5, 4]),
                        "state, chunk and filter must have the same number of input channels"),
    "NCW channels": (_raw([1, 2, 2], [1, 3, 1], [3, 2, 4], data_format="NCW"),
                     "state, chunk and filter must have the same number of input channels"),
    "batch": (_raw([2, 2, 2], [1, 1, 2], [3, 2, 4]), "state has batch 2 but chunk has batch 1"),
    "state rank": (_raw([2, 2], [1, 1, 2], [3, 2, 4]), "state must be rank 3"),
    "chunk rank": (_raw([1, 2, 2], [1, 1, 2, 1], [3, 2, 4]), "chunk must be rank 3"),
    "filter rank": (_raw([1, 2, 2], [1, 1, 2], [3, 2]), "filter must be rank 3"),
    "empty chunk": (_raw([1, 2, 2], [1, 0, 2], [3, 2, 4]),
                    "chunk must have a number of steps >= 1"),
    "chunk off the stride": (_raw([1, 2, 2], [1, 3, 2], [3, 2, 4], stride=2),
                             "multiple of the stride 2"),
    "no taps": (_raw([1, 0, 2], [1, 1, 2], [0, 2, 4]),
                "kernel_size (filter dimension 0) must be >= 1"),
    "bias": (_raw([1, 2, 2], [1, 1, 2], [3, 2, 4], bias_shape=(3,)),
             "bias must be a vector of length 4"),
    "state length overflows": (_raw([1, 2**62, 0], [1, 1, 0], [2**62, 0, 4], dilation=4),
                               "more than 2^63 - 1"),
    "padded length overflows": (_raw([1, 2**63 - 2, 0], [1, 2, 0], [2**63 - 1, 0, 4]),
                                "exceed 2^63 - 1"),
    "stride attribute": (_raw([1, 2, 2], [1, 1, 2], [3, 2, 4], stride=0),
                         "attribute stride must be an integer >= 1"),
    "no filters": (_raw([1, 2, 2], [1, 1, 2], [3, 2, 0], bias_shape=(0,)),
                   "the number of filters (filter dimension 2) must be >= 1"),
    "bias rank": (_raw([1, 2, 2], [1, 1, 2], [3, 2, 4], bias_shape=(2, 2)),
                  "bias must be a vector of length 4"),
    "activation attribute": (_raw([1, 2, 2], [1, 1, 2], [3, 2, 4], activation="bogus"),
                             "attribute activation must be one of"),
    # Empty inputs whose output would have 2^62 x 4 elements.
    "huge batch, no channels": (_raw([2**62, 0, 2], [2**62, 0, 1], [3, 0, 4],
                                     data_format="NCW"), "multiply past 2^63 - 1"),
}


@pytest.mark.parametrize("name", list(HOSTILE))
@pytest.mark.parametrize("mode", ["eager", "graph"])
def test_hostile_shapes_are_refused_naming_the_op_and_argument(name, mode):
    call, message = HOSTILE[name]
    with pytest.raises((tf.errors.InvalidArgumentError, ValueError)) as raised:
        call(mode)
    text = str(raised.value)
    assert STREAM in text and message in text, text


@pytest.mark.skipif(not _xla_support.can_compile(), reason="no XLA kernels in this build")
def test_jit_compile_gives_the_kernels_results():
    rng = _rng("xla")
    state, chunk = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 2, 4))
    w, b = rng.standard_normal((4, 4, 5)), rng.standard_normal(5)

    def step(state, chunk):
        with tf.GradientTape() as tape:
            tape.watch([state, chunk])
            y, new_state = tf_conv1d_op.fused_conv1d(
                chunk, w, b, padding="causal", initial_state=state, return_final_state=True,
                activation="gelu")
            loss = tf.reduce_sum(y * y) + tf.reduce_sum(new_state)
        return [y, new_state] + tape.gradient(loss, [state, chunk])

    args = (tf.constant(state), tf.constant(chunk))
    compiled = tf.function(step, jit_compile=True)
    assert STREAM in {op.type for op in compiled.get_concrete_function(*args).graph
                      .get_operations()}
    for got, want in zip(compiled(*args), step(*args)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_vectorized_map_folds_the_streams_into_the_batch():
    rng = _rng("pfor")
    states, chunks = rng.standard_normal((3, 2, 2, 4)), rng.standard_normal((3, 2, 1, 4))
    w, b = rng.standard_normal((3, 4, 5)), rng.standard_normal(5)

    def one(args):
        return ops.fused_conv1d_stream(args[0], args[1], w, b, activation="silu")

    vectorized = tf.vectorized_map(one, (states, chunks), fallback_to_while_loop=False)
    for i in range(3):
        for got, want in zip(vectorized, one((states[i], chunks[i]))):
            np.testing.assert_allclose(got[i], want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("activation", ["gelu", "tanh"])  # preactivation / output operand
def test_second_order_gradients_are_the_concat_formulations(activation):
    """Gradients of a penalty on the state's and chunk's gradients (the
    streaming op's gradient, differentiated) against the concat formulation."""
    rng = _rng("second order", activation)
    values = [rng.standard_normal(shape) for shape in
              ((2, 4, 3), (2, 2, 3), (3, 3, 2), (2,), (2, 4, 3))]

    def grads(concat):
        state, chunk, w, b = (tf.Variable(v) for v in values[:4])
        with _causal_state.concat_formulation() if concat else contextlib.nullcontext():
            with tf.GradientTape() as outer:
                with tf.GradientTape() as inner:
                    y, new_state = tf_conv1d_op.fused_conv1d(
                        chunk, w, b, padding="causal", dilations=2, activation=activation,
                        initial_state=state, return_final_state=True)
                    loss = tf.reduce_sum(y * y) + tf.reduce_sum(new_state * values[4])
                penalty = sum(tf.reduce_sum(g * g) for g in inner.gradient(loss, [state, chunk]))
            return outer.gradient(penalty, [state, chunk, w, b])

    for got, want in zip(grads(concat=False), grads(concat=True)):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
