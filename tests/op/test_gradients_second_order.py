"""Gradients of gradients, forward mode and vectorized Jacobians of
fused_conv1d, against the float64 reference built from stock TF ops
(tests/support/reference.py), on random shapes and data.

CI runs every activation on one geometry each (padding, layout, stride,
dilation and bias drawn per activation); TF_CONV1D_FULL_GRID=1 runs the
whole padding x layout x stride/dilation x bias x activation grid.
"""
import contextlib
import itertools
import logging
import os
import zlib

import numpy as np
import pytest
import tensorflow as tf

import tf_conv1d_op
from tf_conv1d_op import _activation_derivatives as derivatives
from tf_conv1d_op import _op_names
from tests.support import reference
from python.gpu_check.grids import DATA_FORMATS, PADDINGS, STRIDE_DILATIONS
from tests.op.test_fused_conv1d_grid import random_case

# leaky_relu's slope decides whether the gradient reads y or z.
ACTIVATIONS = [(a, 0.2) for a in reference.ACTIVATIONS] + [("leaky_relu", 0.0),
                                                          ("leaky_relu", -0.3)]
TOL = 1e-10  # norm-wise, float64


def _sample():
    if os.environ.get("TF_CONV1D_FULL_GRID") == "1":
        return list(itertools.product(PADDINGS, DATA_FORMATS, STRIDE_DILATIONS, (True, False),
                                      ACTIVATIONS))
    cases = []
    for activation in ACTIVATIONS:
        rng = np.random.default_rng(zlib.crc32(repr(activation).encode()))
        cases.append((PADDINGS[rng.integers(3)], DATA_FORMATS[rng.integers(2)],
                      STRIDE_DILATIONS[rng.integers(len(STRIDE_DILATIONS))],
                      bool(rng.integers(2)), activation))
    return cases


CASES = _sample()
IDS = ["-".join(map(str, (p, f, sd, b, a[0], a[1]))) for p, f, sd, b, a in CASES]


def _case(padding, data_format, stride_dilation, use_bias, activation):
    """(x, w, b, r, functions): data, and ours and the reference as f(x, w, b)."""
    (name, slope), (stride, dilation) = activation, stride_dilation
    x, w, b, r = random_case(padding, data_format, stride, dilation, use_bias,
                             f"{name}{slope}", "float64")
    if x.shape[0] == 0:  # keep the batch: batch_jacobian and the penalty need one
        x = np.random.default_rng(1).standard_normal((2,) + x.shape[1:])
        r = np.random.default_rng(2).standard_normal((2,) + r.shape[1:])
    if b is None:
        b = np.zeros([0])
    attrs = dict(stride=stride, padding=padding, data_format=data_format, activation=name,
                 negative_slope=slope)

    def ours(x, w, b):
        return tf_conv1d_op.fused_conv1d(x, w, b if b.shape[0] else None,
                                         dilations=dilation, **attrs)

    def ref(x, w, b):
        return reference.conv1d(x, w, b if b.shape[0] else None, dilation=dilation, **attrs)

    return [tf.constant(v) for v in (x, w, b, r)], ours, ref


def _loss(y, r):
    # y enters the output gradient too, so that gradients of it matter.
    return tf.reduce_sum(y * r) + 0.5 * tf.reduce_sum(y * y)


_ZERO = tf.UnconnectedGradients.ZERO


def _first_order(outer, f, x, w, b, r):
    """([x, w, b], the loss's gradients with respect to them), recorded by outer."""
    variables = [x, w, b]
    outer.watch(variables)
    with tf.GradientTape() as inner:
        inner.watch(variables)
        loss = _loss(f(x, w, b), r)
    return variables, inner.gradient(loss, variables, unconnected_gradients=_ZERO)


def _penalty_gradients(f, x, w, b, r):
    """d/d(x, w, b) of a weighted sum of squares of all first-order gradients."""
    with tf.GradientTape() as outer:
        variables, grads = _first_order(outer, f, x, w, b, r)
        penalty = sum(tf.reduce_sum(g * g) * (i + 1) for i, g in enumerate(grads))
    return outer.gradient(penalty, variables, unconnected_gradients=_ZERO)


def _tangents(variables, seed):
    rng = np.random.default_rng(seed)
    return [tf.constant(rng.standard_normal(v.shape)) for v in variables]


def _hvp_reverse(f, x, w, b, r):
    """Hessian of the loss times v, reverse over reverse."""
    with tf.GradientTape() as outer:
        variables, grads = _first_order(outer, f, x, w, b, r)
    return outer.gradient(grads, variables, output_gradients=_tangents(variables, 3),
                          unconnected_gradients=_ZERO)


def _jvp_and_hvp_forward(f, x, w, b, r):
    """jvp of the output, and Hessian-vector products forward over reverse."""
    variables = [x, w, b]
    with tf.autodiff.ForwardAccumulator(variables, _tangents(variables, 4)) as acc:
        with tf.GradientTape() as tape:
            tape.watch(variables)
            y = f(x, w, b)
            loss = _loss(y, r)
        grads = tape.gradient(loss, variables,
                              unconnected_gradients=tf.UnconnectedGradients.ZERO)
    jvps = [acc.jvp(y)] + [acc.jvp(g) for g in grads]
    return [tf.zeros_like(t) if j is None else j for j, t in zip(jvps, [y] + grads)]


def _jvp(f, x, w, b):
    with tf.autodiff.ForwardAccumulator([x, w, b], _tangents([x, w, b], 5)) as acc:
        y = f(x, w, b)
    return acc.jvp(y)


def _jacobians(f, x, w, b, r):
    with tf.GradientTape(persistent=True) as outer:
        outer.watch([x, w])
        with tf.GradientTape() as inner:
            inner.watch([x, w])
            y = f(x, w, b)
            loss = _loss(y, r)
        grad_x, grad_w = inner.gradient(loss, [x, w])
    return [outer.jacobian(y, x), outer.jacobian(y, w), outer.batch_jacobian(y, x),
            outer.jacobian(grad_w, w), outer.jacobian(grad_x, x), outer.jacobian(grad_w, x),
            outer.jacobian(grad_x, w)]


@contextlib.contextmanager
def while_loop_warnings():
    """Collects pfor's "Using a while_loop for converting ..." warnings."""
    found = []

    class Handler(logging.Handler):
        def emit(self, record):
            if "while_loop" in record.getMessage():
                found.append(record.getMessage())

    handler = Handler(logging.WARNING)
    logger = logging.getLogger("tensorflow")
    logger.addHandler(handler)
    try:
        yield found
    finally:
        logger.removeHandler(handler)


def _assert_close(actual, expected, what, tol=TOL):
    for i, (got, want) in enumerate(zip(actual, expected)):
        error = reference.max_relative_error(got.numpy(), want.numpy())
        assert error <= tol, f"{what}[{i}]: relative error {error:.3g} > {tol:g}"


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_gradient_penalty_and_hessian_vector_products(case, device):
    tensors, ours, ref = _case(*case)
    _assert_close(_penalty_gradients(ours, *tensors), _penalty_gradients(ref, *tensors),
                  "penalty")
    _assert_close(_hvp_reverse(ours, *tensors), _hvp_reverse(ref, *tensors), "hvp")


# Forward mode and Jacobians trace functions per op and shape, the
# reference's many ops most of all: CI samples them from the cases.
FORWARD = slice(None) if len(CASES) > len(ACTIVATIONS) else slice(1, None, 4)
JACOBIAN = slice(None) if len(CASES) > len(ACTIVATIONS) else slice(None, None, 8)


@pytest.mark.parametrize("case", CASES[FORWARD], ids=IDS[FORWARD])
def test_forward_mode(case, device):
    tensors, ours, ref = _case(*case)
    _assert_close(_jvp_and_hvp_forward(ours, *tensors), _jvp_and_hvp_forward(ref, *tensors),
                  "jvp")


@pytest.mark.parametrize("case", CASES[JACOBIAN], ids=IDS[JACOBIAN])
def test_jacobians_are_vectorized(case, device):
    tensors, ours, ref = _case(*case)
    with while_loop_warnings() as warnings:
        actual = _jacobians(ours, *tensors)
    assert not warnings
    _assert_close(actual, _jacobians(ref, *tensors), "jacobian")


def test_second_order_in_tf_function():
    tensors, ours, ref = _case("SAME", "NCW", (2, 2), True, ("gelu", 0.2))
    _assert_close(tf.function(_penalty_gradients, autograph=False)(ours, *tensors),
                  _penalty_gradients(ref, *tensors), "penalty")
    _assert_close(tf.function(_jvp_and_hvp_forward, autograph=False)(ours, *tensors),
                  _jvp_and_hvp_forward(ref, *tensors), "jvp")


def test_first_order_keeps_the_fused_derivative():
    """The preactivation's gradient is zero in first order: the backward ops
    must still apply the activation themselves (no elementwise detour)."""
    (x, w, b, r), ours, _ = _case("CAUSAL", "NWC", (1, 1), True, ("silu", 0.2))

    @tf.function(autograph=False)
    def grads(x, w, b):
        with tf.GradientTape() as tape:
            tape.watch([x, w, b])
            loss = _loss(ours(x, w, b), r)
        return tape.gradient(loss, [x, w, b])

    graph = grads.get_concrete_function(x, w, b).graph
    backward = [op for op in graph.get_operations() if op.type in (_op_names.BACKPROP_INPUT, _op_names.BACKPROP_FILTER)]
    assert len(backward) == 2
    assert {op.get_attr("activation") for op in backward} == {b"silu"}

    eager = []
    with tf.GradientTape() as tape:
        tape.watch([x, w, b])
        loss = _loss(ours(x, w, b), r)
    real_ops = tf_conv1d_op._gradients._ops
    original = real_ops.fused_conv1d_backprop_input

    def spy(*args, **kwargs):
        eager.append(kwargs["activation"])
        return original(*args, **kwargs)

    real_ops.fused_conv1d_backprop_input = spy
    try:
        tape.gradient(loss, [x, w, b])
    finally:
        real_ops.fused_conv1d_backprop_input = original
    assert eager == ["silu"]


@pytest.mark.parametrize("dtype,tol", [("float32", 1e-4), ("float16", 3e-2),
                                       ("bfloat16", 1e-1)])
def test_second_order_in_low_precision(dtype, tol, device):
    (x, w, b, r), ours, ref = _case("SAME", "NWC", (2, 1), True, ("gelu_tanh", 0.2))

    def low(x, w, b):
        y = ours(*(tf.cast(t, dtype) for t in (x, w, b)))
        return tf.cast(y, tf.float64)

    _assert_close(_penalty_gradients(low, x, w, b, r), _penalty_gradients(ref, x, w, b, r),
                  "penalty", tol)
    _assert_close([_jvp(low, x, w, b)], [_jvp(ref, x, w, b)], "jvp", tol)


def test_second_order_with_tf_gradients_in_a_graph():
    """TF1-style tf.gradients passes ZerosLike for the unused preactivation
    output, and real Operations to the gradient functions."""
    tensors, ours, ref = _case("SAME", "NWC", (2, 1), True, ("silu", 0.2))
    results = []
    for f in (ours, ref):
        with tf.Graph().as_default() as graph:
            x, w, b, r = (tf.constant(t.numpy()) for t in tensors)
            grads = tf.gradients(_loss(f(x, w, b), r), [x, w, b])
            penalty = sum(tf.reduce_sum(g * g) for g in grads)
            second = tf.gradients(penalty, [x, w, b])
            first_order = {op.get_attr("activation") for op in graph.get_operations()
                           if op.type in (_op_names.BACKPROP_INPUT, _op_names.BACKPROP_FILTER) and
                           op.name.startswith("gradients/")}
            with tf.compat.v1.Session(graph=graph) as session:
                values = session.run(second)
        results.append([tf.constant(v) for v in values])
        if f is ours:
            assert first_order == {b"silu"}
    _assert_close(results[0], results[1], "tf.gradients")


def test_vectorized_map_over_filters_and_inputs():
    (x, w, b, _), ours, ref = _case("VALID", "NCW", (3, 2), True, ("elu", 0.2))
    ws = tf.stack([w, -2 * w, 0.5 * w])
    bs = tf.stack([b, b + 1, -b])
    xs = tf.stack([x, 3 * x])
    with while_loop_warnings() as warnings:
        over_filters = tf.vectorized_map(lambda wb: ours(x, *wb), (ws, bs))
        over_bias = tf.vectorized_map(lambda b: ours(x, w, b), bs)
        over_inputs = tf.vectorized_map(lambda x: ours(x, w, b), xs)
    assert not warnings
    _assert_close([over_filters, over_bias, over_inputs],
                  [tf.stack([ref(x, *wb) for wb in zip(ws, bs)]),
                   tf.stack([ref(x, w, b) for b in bs]),
                   tf.stack([ref(x, w, b) for x in xs])], "vectorized_map")


def test_per_example_gradients_fall_back_to_a_loop_correctly():
    """Every iteration with its own input and its own output gradient: the
    filter gradient cannot fold (its batch sum would mix them) and runs in
    pfor's while_loop, with pfor's warning."""
    (x, w, b, r), ours, ref = _case("SAME", "NWC", (1, 2), True, ("tanh", 0.2))

    def per_example(f):
        def grads(example):
            xe, re = example
            with tf.GradientTape() as tape:
                tape.watch([w, b])
                loss = _loss(f(xe[None], w, b), re[None])
            return tape.gradient(loss, [w, b])
        return tf.vectorized_map(grads, (x, r))

    with while_loop_warnings() as warnings:
        actual = per_example(ours)
    assert any(_op_names.BACKPROP_FILTER in w for w in warnings)
    _assert_close(actual, per_example(ref), "per-example")
    with pytest.raises(ValueError, match=f"No vectorized conversion of {_op_names.FORWARD} "):
        tf.vectorized_map(lambda xe: ours(xe[None], w * tf.reduce_sum(xe), b), x,
                          fallback_to_while_loop=False)


def test_reloaded_saved_model_second_order(tmp_path):
    (x, w, b, r), ours, ref = _case("CAUSAL", "NCW", (1, 1), True, ("silu", 0.2))
    signature = [tf.TensorSpec([None] + list(x.shape[1:]), tf.float64),
                 tf.TensorSpec(w.shape, tf.float64), tf.TensorSpec(b.shape, tf.float64)]

    def input_gradient(f, x, w, b):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = _loss(f(x, w, b), r)
        return tape.gradient(loss, x)

    module = tf.Module()
    module.f = tf.function(lambda x, w, b: ours(x, w, b), input_signature=signature)
    # A saved gradient: the export holds the backward ops themselves.
    module.g = tf.function(lambda x, w, b: input_gradient(ours, x, w, b),
                           input_signature=signature)
    tf.saved_model.save(module, str(tmp_path))
    loaded = tf.saved_model.load(str(tmp_path))
    _assert_close(_penalty_gradients(loaded.f, x, w, b, r), _penalty_gradients(ref, x, w, b, r),
                  "penalty")
    _assert_close([_jvp(loaded.f, x, w, b)], [_jvp(ref, x, w, b)], "jvp")

    def through_saved_gradient(g):
        with tf.GradientTape() as tape:
            tape.watch([x, w, b])
            penalty = tf.reduce_sum(g(x, w, b) ** 2)
        return tape.gradient(penalty, [x, w, b])

    _assert_close(through_saved_gradient(loaded.g),
                  through_saved_gradient(lambda *t: input_gradient(ref, *t)), "saved gradient")


# The elementwise derivatives, against finite differences of the reference's
# activations (Keras' definitions: tests/op/test_reference.py) in float64,
# away from kinks.
_POINTS = np.concatenate([np.linspace(-7.0, 7.0, 281), [-15.0, -11.0, 11.0, 15.0]])
_KINKS = {"relu": [0.0], "relu6": [0.0, 6.0], "leaky_relu": [0.0], "elu": [0.0],
          "selu": [0.0], "hard_sigmoid": [-3.0, 3.0]}


@pytest.mark.parametrize("activation,slope", ACTIVATIONS, ids=[f"{a}-{s}" for a, s in ACTIVATIONS])
def test_activation_derivatives_match_finite_differences(activation, slope):
    z = _POINTS[np.all([np.abs(_POINTS - k) > 0.05 for k in _KINKS.get(activation, [])],
                       axis=0)]
    act = reference.keras_activation(activation, slope)

    def f(t):
        return act(tf.constant(t, tf.float64)).numpy()

    h1, h2 = 1e-6, 1e-3
    d1 = (f(z + h1) - f(z - h1)) / (2 * h1)
    d2 = (f(z + h2) - 2 * f(z) + f(z - h2)) / (h2 * h2)
    uses_z = derivatives.operand_is_preactivation(activation, slope)
    operand = tf.constant(z if uses_z else f(z), tf.float64)
    first = derivatives.first(activation, slope, operand).numpy()
    second = derivatives.second(activation, slope, operand)
    # d/dz first(operand(z)) = second(operand) * d operand / dz.
    chained = np.zeros_like(z) if second is None else second.numpy() * (1.0 if uses_z else d1)
    np.testing.assert_allclose(first, d1, rtol=0, atol=1e-8)
    np.testing.assert_allclose(chained, d2, rtol=0, atol=1e-5)
