"""Hostile input to fused_conv1d and its raw ops: sizes and attributes whose
products overflow 32 (or 64) bits, empty tensors in every position with huge
other dimensions, degenerate activation attributes.

Each case either raises a clear error (raises=...) or must work, in which case
it checks its result against tests/support/reference.py (or an equivalent geometry
the reference can afford). tests/op/test_fused_conv1d_hostile.py runs them in a
child process, so a crash fails only the case that caused it.
"""
import numpy as np
import tensorflow as tf

import tf_conv1d_op
from tests.support import reference
from tests.support.subprocess_cases import Case
from tests.op.test_fused_conv1d_grid import DTYPES, ours_and_grads
from tf_conv1d_op._library import ops

KERNEL = ("InvalidArgumentError",)
STATIC_OR_KERNEL = ("ValueError", "InvalidArgumentError")
OOM = ("ResourceExhaustedError",)
BIG = 2**62
INT64_MAX = 2**63 - 1


def _random(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def _matches_reference(x_shape, w_shape, use_bias=True, dtype="float32", seed=0,
                       reference_attrs=None, **attrs):
    """Output and gradients of the wrapper against the float64 reference.

    reference_attrs replaces attributes the reference cannot afford (a
    dilation of 2^40 would make it pad by 2^40 steps) by equivalent ones.
    """
    rng = np.random.default_rng(seed)
    as_dtype = tf.as_dtype(dtype).as_numpy_dtype

    def draw(*shape):
        return rng.standard_normal(shape).astype(as_dtype).astype(np.float64)

    x, w = draw(*x_shape), draw(*w_shape)
    b = draw(w_shape[2]) if use_bias else None
    ref_attrs = dict(attrs, **(reference_attrs or {}))
    ref_attrs["dilation"] = ref_attrs.pop("dilations", 1)
    y = reference.conv1d(x, w, b, **ref_attrs).numpy()
    dy = draw(*y.shape)
    expected, magnitudes = reference.conv1d_and_grads(x, w, b, dy, **ref_attrs)
    actual = ours_and_grads(x, w, b, dy, dtype, **attrs)
    forward_tol, grad_tol = DTYPES[dtype]
    names = ("output", "grad_input", "grad_filter", "grad_bias")
    for name, got, want, magnitude, tol in zip(names, actual, expected, (None,) + magnitudes,
                                               (forward_tol,) + (grad_tol,) * 3):
        if want is None:
            continue
        assert got.shape == want.shape, (name, got.shape, want.shape)
        error = reference.max_relative_error(got, want, magnitude)
        assert error <= tol, f"{name}: relative error {error:.3g} > {tol:g}"


def _shapes_only(x_shape, w_shape, expected_out, **attrs):
    """Forward and both raw backprop ops on empty tensors: shapes, and zeros."""
    x = tf.zeros(x_shape)
    w = tf.constant(_random(w_shape), tf.float32)
    raw = dict(attrs)
    raw["dilation"] = raw.pop("dilations", 1)
    y, _ = ops.fused_conv1d(x, w, tf.zeros([w_shape[2]]), **raw)
    assert tuple(y.shape) == tuple(expected_out), (y.shape, expected_out)
    dy = tf.zeros(expected_out)
    dx = ops.fused_conv1d_backprop_input(tf.constant(x_shape, tf.int64), w, dy, dy, **raw)
    dw, db = ops.fused_conv1d_backprop_filter(x, tf.constant(w_shape, tf.int64), dy, dy, **raw)
    assert tuple(dx.shape) == tuple(x_shape)
    assert tuple(dw.shape) == tuple(w_shape) and tuple(db.shape) == (w_shape[2],)
    assert not np.any(dw.numpy()) and not np.any(db.numpy())


def _raw_forward(x_shape, w_shape, **attrs):
    x = tf.zeros(x_shape)
    w = tf.zeros(w_shape)
    return ops.fused_conv1d(x, w, tf.zeros([0]), **attrs)


def _raw_forward_graph(x_shape, w_shape, **attrs):
    """The same in a tf.function with unknown shapes: the kernel must refuse."""
    fn = tf.function(lambda x, w: ops.fused_conv1d(x, w, tf.zeros([0]), **attrs),
                     input_signature=[tf.TensorSpec(None, tf.float32)] * 2)
    return fn(tf.zeros(x_shape), tf.zeros(w_shape))


def _graph_known_shapes(x_shape, w_shape, **attrs):
    """With known shapes the shape function itself must refuse."""
    fn = tf.function(lambda x, w: ops.fused_conv1d(x, w, tf.zeros([0]), **attrs))
    return fn.get_concrete_function(tf.TensorSpec(x_shape), tf.TensorSpec(w_shape))


def _cases():
    # Strides past 2^31, 2^32, up to 2^63 - 1: one output step, handled exactly.
    for stride in (2**31, 2**32 + 1, BIG, INT64_MAX):
        for padding in ("VALID", "SAME", "CAUSAL"):
            yield Case(f"stride-{stride}-{padding}",
                       lambda s=stride, p=padding: _matches_reference(
                           (2, 9, 3), (3, 3, 4), stride=s, padding=p, activation="gelu"))
    yield Case("stride-2^62-ncw-float64", lambda: _matches_reference(
        (2, 3, 9), (2, 3, 4), dtype="float64", stride=BIG, padding="SAME", data_format="NCW"))
    # A stride of half the input: as many backprop phases as steps.
    yield Case("stride-half-of-200000-steps", lambda: _matches_reference(
        (1, 200_000, 1), (1, 1, 2), stride=100_000, padding="VALID"))

    # Dilations past 2^31 and up to 2^62: handled where an output exists (the
    # reference uses a small dilation with the same taps in range), refused
    # where (kernel_size - 1) * dilation or the padded input passes 2^63.
    yield Case("dilation-2^40-same", lambda: _matches_reference(
        (2, 9, 3), (2, 3, 4), dilations=2**40, padding="SAME",
        reference_attrs={"dilations": 18}))
    yield Case("dilation-2^61-causal", lambda: _matches_reference(
        (2, 9, 3), (2, 3, 4), dilations=2**61, padding="CAUSAL", activation="elu",
        reference_attrs={"dilations": 9}))
    # Depthwise, 16 channels (whole vectors at every level): the passes that
    # read a tile's windows as one slab must not size it by the dilation.
    for activation in ("linear", "silu"):
        yield Case(f"depthwise-dilation-2^40-same-{activation}", lambda a=activation:
                   _matches_reference((2, 9, 16), (2, 1, 16), dilations=2**40, padding="SAME",
                                      groups=16, activation=a,
                                      reference_attrs={"dilations": 18}))
    yield Case("dilation-2^31+1-causal-stride-2", lambda: _matches_reference(
        (2, 9, 3), (3, 3, 4), dilations=2**31 + 1, stride=2, padding="CAUSAL",
        reference_attrs={"dilations": 9}))
    refused = [
        ("dilation-2^31-valid", (2, 9, 3), (3, 3, 4), dict(dilation=2**31, padding="VALID"),
         "VALID padding needs"),
        ("dilation-2^62-kernel-3", (2, 9, 3), (3, 3, 4), dict(dilation=BIG, padding="SAME"),
         "overflows 64 bits"),
        ("dilation-max-kernel-2", (2, 9, 3), (2, 3, 4), dict(dilation=INT64_MAX, padding="SAME"),
         "overflows 64 bits"),
        ("dilation-2^62-causal-span", (2, 9, 3), (2, 3, 4), dict(dilation=BIG, padding="CAUSAL"),
         "padded input would span"),
        ("empty-input-2^62-steps", (0, BIG, 3), (3, 3, 4), dict(padding="SAME"),
         "multiply past 2\\^63 - 1.*input shape \\[0, 4611686018427387904, 3\\]"),
        ("empty-input-max-steps", (0, INT64_MAX, 1), (1, 1, 4), dict(padding="VALID"),
         "padded input would span"),
        ("empty-output-past-2^63", (2, 2**61, 0), (1, 0, 4), dict(padding="SAME"),
         "output shape \\[2, 2305843009213693952, 4\\] \\(NWC\\)"),
    ]
    for name, x_shape, w_shape, attrs, match in refused:
        yield Case(f"raw/{name}", lambda a=(x_shape, w_shape), k=attrs: _raw_forward(*a, **k),
                   KERNEL, match)
        yield Case(f"raw-graph/{name}",
                   lambda a=(x_shape, w_shape), k=attrs: _raw_forward_graph(*a, **k), KERNEL, match)
        yield Case(f"graph-known-shapes/{name}",
                   lambda a=(x_shape, w_shape), k=attrs: _graph_known_shapes(*a, **k),
                   STATIC_OR_KERNEL, match)
    yield Case("wrapper/dilation-2^63", lambda: tf_conv1d_op.fused_conv1d(
        tf.zeros([1, 4, 1]), tf.zeros([2, 1, 1]), dilations=2**63), ("ValueError",), "dilations")

    # Backprop sizes whose products pass 2^32 on empty tensors: handled.
    yield Case("backprop-input-sizes-2^33-steps-empty", lambda: _shapes_only(
        (0, 2**33, 3), (3, 3, 4), (0, 2**33 - 2, 4), padding="VALID"))
    yield Case("backprop-sizes-2^40-batch-no-steps", lambda: _shapes_only(
        (2**40, 0, 3), (3, 3, 4), (2**40, 0, 4), padding="SAME"))
    yield Case("backprop-sizes-2^40-steps-no-batch-ncw", lambda: _shapes_only(
        (0, 3, 2**40), (2, 3, 4), (0, 4, 2**40), padding="CAUSAL", data_format="NCW"))
    yield Case("backprop-sizes-no-channels-2^40-steps", lambda: _shapes_only(
        (0, 2**40, 0), (2, 0, 4), (0, 2**40, 4), padding="SAME", dilations=2**39))
    # A grad_filter no machine can hold: a clean out-of-memory error.
    yield Case("backprop-filter-2^47-elements", lambda: ops.fused_conv1d_backprop_filter(
        tf.zeros([0, 9, 3]), tf.constant([1, 3, 2**45], tf.int64), tf.zeros([0, 9, 2**45]),
        tf.zeros([0, 9, 2**45]), padding="VALID"), OOM, "OOM")

    # Empty tensors in every position, through the wrapper and its gradient.
    for padding in ("VALID", "SAME", "CAUSAL"):
        yield Case(f"empty-batch-{padding}", lambda p=padding: _matches_reference(
            (0, 9, 3), (3, 3, 4), padding=p, activation="relu"))
        yield Case(f"empty-channels-{padding}", lambda p=padding: _matches_reference(
            (2, 9, 0), (3, 0, 4), padding=p, activation="tanh"))
        yield Case(f"empty-channels-no-bias-{padding}", lambda p=padding: _matches_reference(
            (2, 9, 0), (3, 0, 4), use_bias=False, padding=p, activation="gelu"))
        yield Case(f"empty-batch-and-channels-{padding}-float16", lambda p=padding: _matches_reference(
            (0, 9, 0), (3, 0, 4), dtype="float16", padding=p))
    for padding in ("SAME", "CAUSAL"):
        yield Case(f"empty-steps-{padding}", lambda p=padding: _matches_reference(
            (2, 0, 3), (3, 3, 4), padding=p, activation="silu"))
        yield Case(f"empty-steps-ncw-{padding}", lambda p=padding: _matches_reference(
            (2, 3, 0), (3, 3, 4), padding=p, data_format="NCW", dtype="bfloat16"))

    # Empty tensors whose other dimensions overflow in the order TensorFlow
    # multiplies them (NCW: batch x channels first), through every op.
    yield from _overflow_in_layout_order_cases()
    # An empty filter declaring a huge kernel: the answer is the activated
    # bias, in time and memory that do not depend on kernel_size.
    for kernel, dilation in ((2**36, 2), (2**40, 7), (2**59, 3)):
        for padding in ("SAME", "CAUSAL"):
            for layout in ("NWC", "NCW"):
                for graph in (False, True):
                    yield Case(f"empty-filter-kernel-{kernel}-dilation-{dilation}-{padding}-"
                               f"{layout}{'-graph' if graph else ''}",
                               lambda k=kernel, d=dilation, p=padding, f=layout, g=graph:
                               _empty_filter_is_bias(k, d, p, f, g))

    # Degenerate leaky_relu slopes. A subnormal negative slope reads as zero
    # everywhere (kernels run with denormals flushed), gradient included.
    yield Case("slope-subnormal-negative", lambda: _matches_reference(
        (2, 9, 3), (3, 3, 4), activation="leaky_relu", negative_slope=-1e-40,
        reference_attrs={"negative_slope": 0.0}))
    yield Case("slope-negative-zero", lambda: _matches_reference(
        (2, 9, 3), (3, 3, 4), activation="leaky_relu", negative_slope=-0.0))
    yield Case("slope-large-negative", lambda: _matches_reference(
        (2, 9, 3), (3, 3, 4), activation="leaky_relu", negative_slope=-1e30))
    for slope in (float("nan"), float("inf"), -float("inf"), 1e300):
        yield Case(f"slope-{slope}", lambda s=slope: _slope_runs(s))

    # Python inputs that are not tensors: lists, non-contiguous numpy views.
    yield Case("numpy-non-contiguous", _non_contiguous_input)


def _overflow_in_layout_order_cases():
    x_shape, w_shape = [BIG, 1, 0], [3, 1, 4]  # NCW output [2^62, 4, 0]
    attrs = dict(padding="SAME", data_format="NCW")
    match = r"output shape \[4611686018427387904, 4, 0\] \(NCW\)"
    dy = tf.zeros([0, 4, 0])
    calls = {
        "forward": lambda: ops.fused_conv1d(tf.zeros(x_shape), tf.ones(w_shape), tf.zeros([4]),
                                            **attrs),
        "backprop-input": lambda: ops.fused_conv1d_backprop_input(
            tf.constant(x_shape, tf.int64), tf.ones(w_shape), dy, dy, **attrs),
        "backprop-filter": lambda: ops.fused_conv1d_backprop_filter(
            tf.zeros(x_shape), tf.constant(w_shape, tf.int64), dy, dy, **attrs),
        "wrapper": lambda: tf_conv1d_op.fused_conv1d(tf.zeros(x_shape), tf.ones(w_shape),
                                                     **attrs),
        "layer-channels-first": lambda: tf_conv1d_op.Conv1D(
            4, 3, padding="same", data_format="channels_first")(tf.zeros(x_shape)),
    }
    for name, call in calls.items():
        # Keras's shape inference refuses an empty output first, in its words.
        layer_match = r"Received inputs shape=\(4611686018427387904, 1, 0\)|" + match
        yield Case(f"ncw-overflow-batch-x-channels/{name}", call, STATIC_OR_KERNEL,
                   layer_match if name.startswith("layer") else match)
    yield Case("ncw-overflow-batch-x-channels/graph-known-shapes", lambda: _graph_known_shapes(
        x_shape, w_shape, **attrs), STATIC_OR_KERNEL, match)
    yield Case("ncw-overflow-batch-x-channels/graph-unknown-shapes", lambda: _raw_forward_graph(
        x_shape, w_shape, **attrs), KERNEL, match)


def _empty_filter_is_bias(kernel, dilation, padding, layout, graph):
    """No input channels: output = elu(bias), grad_bias = sum(dy), the rest
    empty, for a filter of shape [kernel, 0, 2]."""
    bias = np.array([0.5, -1.5], np.float32)
    x, w = tf.zeros(_layout_shape(layout, 2, 5, 0)), tf.zeros([kernel, 0, 2])
    dy = tf.constant(_random(_layout_shape(layout, 2, 5, 2), seed=3), tf.float32)

    def run(x, w, b, dy):
        with tf.GradientTape() as tape:
            tape.watch([x, w, b])
            y = tf_conv1d_op.fused_conv1d(x, w, b, padding=padding, dilations=dilation,
                                          activation="elu", data_format=layout)
        return [y] + tape.gradient(y, [x, w, b], output_gradients=dy)
    if graph:
        run = tf.function(run, input_signature=[tf.TensorSpec(None, tf.float32)] * 4)
    y, dx, dw, db = run(x, w, tf.constant(bias), dy)
    channel_axis = 2 if layout == "NWC" else 1
    shape = [-1 if i == channel_axis else 1 for i in range(3)]
    elu = np.where(bias > 0, bias, np.expm1(bias))
    np.testing.assert_allclose(y.numpy(), np.broadcast_to(elu.reshape(shape), dy.shape),
                               rtol=1e-6)
    assert tuple(dx.shape) == tuple(x.shape) and tuple(dw.shape) == (kernel, 0, 2)
    d_elu = np.where(bias > 0, 1.0, np.exp(bias))
    axes = tuple(i for i in range(3) if i != channel_axis)
    np.testing.assert_allclose(db.numpy(), (dy.numpy() * d_elu.reshape(shape)).sum(axes),
                               rtol=1e-5)


def _layout_shape(layout, batch, steps, channels):
    return (batch, steps, channels) if layout == "NWC" else (batch, channels, steps)


def _slope_runs(slope):
    """No crash; where z > 0 the output is z whatever the slope."""
    x = tf.constant(_random((2, 9, 3)), tf.float32)
    w = tf.constant(_random((3, 3, 4)), tf.float32)
    with tf.GradientTape() as tape:
        tape.watch([x, w])
        y = tf_conv1d_op.fused_conv1d(x, w, activation="leaky_relu", negative_slope=slope)
    grads = tape.gradient(y, [x, w])
    z = tf_conv1d_op.fused_conv1d(x, w).numpy()
    np.testing.assert_allclose(y.numpy()[z > 0], z[z > 0], rtol=1e-6)
    assert grads[0].shape == x.shape and grads[1].shape == w.shape


def _non_contiguous_input():
    x = _random((3, 9, 2)).transpose(2, 1, 0)  # a strided view, (2, 9, 3)
    w = _random((3, 3, 4)).tolist()
    y = tf_conv1d_op.fused_conv1d(x, w, padding="SAME")
    expected = reference.conv1d(np.ascontiguousarray(x), np.array(w), None, padding="SAME")
    np.testing.assert_allclose(y.numpy(), expected.numpy(), rtol=1e-12, atol=1e-12)


CASES = list(_cases())
