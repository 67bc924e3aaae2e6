"""The op under XLA (tf.function(jit_compile=True)): forward and all three
gradients against the float64 reference, with the grid test's cases and
tolerances (tests/op/test_fused_conv1d_grid.py), and against the op's own
kernels; the compiled program holds a convolution and no call of the op.

By default a sample of the grid runs: every activation, padding, data format
and dtype, strides with dilation, with and without bias. TF_CONV1D_FULL_GRID=1
runs the whole grid in every dtype (some minutes)."""
import itertools
import os
import re

import numpy as np
import pytest
import tensorflow as tf

import tf_conv1d_op
from tf_conv1d_op import _op_names
from tests.support import reference
from tests.op.test_fused_conv1d_grid import DTYPES, GRID, random_case

pytestmark = pytest.mark.skipif(
    not tf_conv1d_op.build_info().get("xla_kernels"),
    reason="this op library was built without XLA kernels (build_tools/xla.py says why)")

FULL_GRID = os.environ.get("TF_CONV1D_FULL_GRID") == "1"


def _sample():
    """One case per activation, cycling through the other axes so that each
    value of each appears (stride 2 with dilation 2 and stride 3 with dilation
    2 among them)."""
    paddings, formats = ("VALID", "SAME", "CAUSAL"), ("NWC", "NCW")
    strides = ((2, 2), (1, 1), (3, 2), (1, 4), (2, 1))
    dtypes = list(DTYPES)
    cases = []
    for i, activation in enumerate(reference.ACTIVATIONS):
        cases.append((paddings[i % 3], formats[i % 2], strides[i % 5], i % 3 != 2,
                      activation, dtypes[i % 4]))
    return cases


CASES = ([case + (dtype,) for case, dtype in itertools.product(GRID, DTYPES)]
         if FULL_GRID else _sample())


def attrs_of(padding, data_format, stride, dilation, activation, negative_slope=0.2):
    return dict(stride=stride, dilations=dilation, padding=padding, data_format=data_format,
                activation=activation, negative_slope=negative_slope)


def outputs_and_grads(x, w, b, dy, dtype, jit, input_signature=None, **attrs):
    """(y, dx, dw, db) of fused_conv1d in float64, db None without bias; under
    XLA when jit."""
    def run(x, w, b, dy):
        with tf.GradientTape() as tape:
            tape.watch([x, w, b])
            y = tf_conv1d_op.fused_conv1d(x, w, b if b.shape[0] != 0 else None, **attrs)
            loss = tf.reduce_sum(tf.cast(y, tf.float64) * tf.cast(dy, tf.float64))
        return [y] + tape.gradient(loss, [x, w, b],
                                   unconnected_gradients=tf.UnconnectedGradients.ZERO)

    fn = tf.function(run, jit_compile=jit, input_signature=input_signature)
    bias = np.zeros([0]) if b is None else b
    args = [tf.constant(v, dtype) for v in (x, w, bias, dy)]
    y, dx, dw, db = [t.numpy().astype(np.float64) for t in fn(*args)]
    return y, dx, dw, (None if b is None else db)


def check_against_reference(x, w, b, dy, dtype, actual, negative_slope=0.2, **attrs):
    ref_attrs = dict(attrs, dilation=attrs.pop("dilations"))
    ref_attrs.pop("negative_slope", None)
    expected, magnitudes = reference.conv1d_and_grads(x, w, b, dy, negative_slope=negative_slope,
                                                      **ref_attrs)
    reference.assert_matches(actual, expected, magnitudes, DTYPES[dtype],
                             f"under XLA (x {x.shape}, w {w.shape})")


def case_id(padding, data_format, stride_dilation, use_bias, activation, dtype):
    """e.g. SAME-NCW-s2d2-bias-gelu-float16: usable in pytest -k."""
    stride, dilation = stride_dilation
    return (f"{padding}-{data_format}-s{stride}d{dilation}-{'bias' if use_bias else 'nobias'}-"
            f"{activation}-{dtype}")


@pytest.mark.parametrize("padding,data_format,stride_dilation,use_bias,activation,dtype", CASES,
                         ids=[case_id(*c) for c in CASES])
def test_xla_matches_reference_and_kernels(padding, data_format, stride_dilation, use_bias,
                                           activation, dtype):
    stride, dilation = stride_dilation
    x, w, b, dy = random_case(padding, data_format, stride, dilation, use_bias, activation,
                              dtype)
    attrs = attrs_of(padding, data_format, stride, dilation, activation)
    under_xla = outputs_and_grads(x, w, b, dy, dtype, jit=True, **attrs)
    check_against_reference(x, w, b, dy, dtype, under_xla, **dict(attrs))
    # And the op's own kernels, with the same tolerance on the output's scale.
    kernels = outputs_and_grads(x, w, b, dy, dtype, jit=False, **attrs)
    forward_tol, grad_tol = DTYPES[dtype]
    for name, got, want, tol in zip(("output", "grad_input", "grad_filter", "grad_bias"),
                                    under_xla, kernels, (forward_tol,) + (grad_tol,) * 3):
        if want is not None:
            assert reference.max_relative_error(got, want) <= 2 * tol, name


@pytest.mark.parametrize("negative_slope", [0.3, -0.5])
def test_leaky_relu_slope(negative_slope):
    # A negative slope makes the gradient read the preactivation output.
    x, w, b, dy = random_case("SAME", "NWC", 2, 2, True, "leaky_relu", "float32")
    attrs = attrs_of("SAME", "NWC", 2, 2, "leaky_relu", negative_slope)
    actual = outputs_and_grads(x, w, b, dy, "float32", jit=True, **attrs)
    check_against_reference(x, w, b, dy, "float32", actual, **attrs)


@pytest.mark.parametrize("padding", ["VALID", "SAME", "CAUSAL"])
def test_unknown_length_and_batch(padding):
    """One trace with [None, None, C] inputs, compiled per input shape: batch 0
    and several lengths (a kernel longer than the input among them)."""
    rng = np.random.default_rng(7)
    kernel_size, channels, filters, stride, dilation = 3, 2, 4, 2, 2
    attrs = attrs_of(padding, "NWC", stride, dilation, "gelu")
    signature = [tf.TensorSpec([None, None, channels], tf.float32),
                 tf.TensorSpec([kernel_size, channels, filters], tf.float32),
                 tf.TensorSpec([filters], tf.float32),
                 tf.TensorSpec([None, None, filters], tf.float32)]
    w = rng.standard_normal((kernel_size, channels, filters))
    b = rng.standard_normal(filters)
    for batch, steps in [(2, 11), (0, 9), (3, 5), (1, 2)]:
        if padding == "VALID" and steps < (kernel_size - 1) * dilation + 1:
            continue
        out_steps, _ = reference.output_length_and_left_pad(steps, kernel_size, stride, dilation,
                                                            padding)
        x = rng.standard_normal((batch, steps, channels))
        dy = rng.standard_normal((batch, out_steps, filters))
        actual = outputs_and_grads(x, w, b, dy, "float32", jit=True,
                                   input_signature=signature, **attrs)
        assert actual[0].shape == (batch, out_steps, filters)
        check_against_reference(x, w, b, dy, "float32", actual, **attrs)


def test_too_short_input_under_xla_names_the_op():
    """A length the shape function could not check (unknown when traced) is
    refused when XLA compiles it, in the op's own words."""
    fn = tf.function(lambda x, w: tf_conv1d_op.fused_conv1d(x, w, padding="VALID"),
                     jit_compile=True,
                     input_signature=[tf.TensorSpec([None, None, 2], tf.float32),
                                      tf.TensorSpec([5, 2, 3], tf.float32)])
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=re.escape(_op_names.FORWARD) +
                       r": VALID padding needs at least .* = 5 input steps, got 3"):
        fn(tf.zeros([1, 3, 2]), tf.zeros([5, 2, 3]))


def test_compiled_program_is_a_convolution_without_custom_calls():
    x = tf.random.normal([2, 16, 3])
    w = tf.random.normal([3, 3, 5])
    b = tf.random.normal([5])

    @tf.function(jit_compile=True)
    def train_step(x, w, b):
        y = tf_conv1d_op.fused_conv1d(x, w, b, padding="CAUSAL", dilations=2, activation="selu")
        return tf.gradients(tf.reduce_sum(y * y), [x, w, b])

    hlo = train_step.experimental_get_compiler_ir(x, w, b)(stage="hlo")
    assert hlo.count("convolution(") >= 3, hlo  # forward, input and filter gradients
    assert "custom-call" not in hlo


@pytest.mark.parametrize("padding", ["SAME", "CAUSAL"])
def test_huge_dilation_compiles_to_what_the_kernels_compute(padding):
    """A dilation near 2^61 leaves one tap inside the input: XLA must neither
    overflow nor materialise the padding."""
    rng = np.random.default_rng(5)
    x, w, b = rng.standard_normal((2, 5, 3)), rng.standard_normal((2, 3, 4)), rng.standard_normal(4)
    dy = rng.standard_normal((2, 5, 4))
    attrs = attrs_of(padding, "NWC", 1, 2**61, "elu")
    under_xla = outputs_and_grads(x, w, b, dy, "float64", jit=True, **attrs)
    kernels = outputs_and_grads(x, w, b, dy, "float64", jit=False, **attrs)
    for got, want in zip(under_xla, kernels):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
