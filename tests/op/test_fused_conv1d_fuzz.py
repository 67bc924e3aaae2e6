"""Property-based fuzzing of fused_conv1d and its gradients against the float64
reference, over random shapes (empty ones included), attributes, activations,
dtypes and data.

Data comes in three kinds: normal values, small integers (so that
pre-activations land exactly on the kinks of relu, relu6, hard_sigmoid,
leaky_relu, elu and selu, where the subgradient conventions must be TF's), and
an all-zero input (the output is then the activation of the bias).

Budget: the "ci" profile (default) runs a fixed, derandomized set of examples;
HYPOTHESIS_PROFILE=long runs many more, randomly, e.g.
  HYPOTHESIS_PROFILE=long python -m pytest tests/op/test_fused_conv1d_fuzz.py
A failure shrinks to a minimal case; add it to REGRESSIONS below.
"""
import dataclasses
import os

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

import tf_conv1d_op
from tests.support import reference
from tests.op.test_fused_conv1d_grid import DTYPES, ours_and_grads

settings.register_profile("ci", max_examples=150, deadline=None, derandomize=True,
                          print_blob=True)
settings.register_profile("long", max_examples=3000, deadline=None, print_blob=True)
PROFILE = settings.get_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@dataclasses.dataclass(frozen=True)
class Conv:
    batch: int
    steps: int
    in_channels: int
    kernel_size: int
    filters: int
    stride: int
    dilation: int
    padding: str
    data_format: str
    activation: str
    negative_slope: float
    use_bias: bool
    dtype: str
    data: str  # normal, integers or zeros
    seed: int

    @property
    def extent(self):
        return (self.kernel_size - 1) * self.dilation + 1


@st.composite
def convs(draw):
    kernel_size = draw(st.integers(1, 5))
    dilation = draw(st.integers(1, 4))
    padding = draw(st.sampled_from(("VALID", "SAME", "CAUSAL")))
    activation = draw(st.sampled_from(reference.ACTIVATIONS))
    extent = (kernel_size - 1) * dilation + 1
    return Conv(
        batch=draw(st.integers(0, 3)),
        steps=draw(st.integers(0, 2 * extent + 12)),
        in_channels=draw(st.integers(0, 5)),
        kernel_size=kernel_size,
        filters=draw(st.integers(1, 6)),
        # Strides past 2^31 leave one output step: handled exactly.
        stride=draw(st.one_of(st.integers(1, 4), st.sampled_from((7, 2**31, 2**62, 2**63 - 1)))),
        dilation=dilation,
        padding=padding,
        data_format=draw(st.sampled_from(("NWC", "NCW"))),
        activation=activation,
        negative_slope=(draw(st.sampled_from((0.2, 0.0, -0.5, 1.5)))
                        if activation == "leaky_relu" else 0.2),
        use_bias=draw(st.booleans()),
        dtype=draw(st.sampled_from(tuple(DTYPES))),
        data=draw(st.sampled_from(("normal", "integers", "zeros"))),
        seed=draw(st.integers(0, 2**32 - 1)),
    )


def make_data(c):
    """x, w, b, dy as float64 values exactly representable in c.dtype."""
    rng = np.random.default_rng(c.seed)
    as_dtype = tf.as_dtype(c.dtype).as_numpy_dtype

    def draw(shape, scale=1.0):
        if c.data == "integers":
            values = rng.integers(-3, 4, shape).astype(np.float64)
        else:
            values = rng.standard_normal(shape) * scale
        return values.astype(as_dtype).astype(np.float64)

    x_shape = ((c.batch, c.steps, c.in_channels) if c.data_format == "NWC"
               else (c.batch, c.in_channels, c.steps))
    x = np.zeros(x_shape) if c.data == "zeros" else draw(x_shape)
    w = draw((c.kernel_size, c.in_channels, c.filters),
             1 / np.sqrt(max(1, c.kernel_size * c.in_channels)))
    b = draw((c.filters,)) if c.use_bias else None
    out, _ = reference.output_length_and_left_pad(c.steps, c.kernel_size, c.stride,
                                                  c.dilation, c.padding)
    dy_shape = (c.batch, out, c.filters) if c.data_format == "NWC" else (c.batch, c.filters, out)
    dy = rng.standard_normal(dy_shape).astype(as_dtype).astype(np.float64)
    return x, w, b, dy


# The smallest normal number of each dtype.
TINY = {"float64": 2.0**-1022, "float32": 2.0**-126, "float16": 2.0**-14, "bfloat16": 2.0**-126}

# Unit roundoff of the storage types whose rounding the backward pass inherits.
OPERAND_EPS = {"float64": 2.0**-53, "float32": 2.0**-24, "float16": 2.0**-11, "bfloat16": 2.0**-8}


def widen_for_rounded_operand(c, x, w, b, dy, magnitudes, grad_tol):
    """Gradient error scales that also allow for the rounded operand.

    The backward pass takes activation'(.) of the forward output (or
    pre-activation) as stored in the op's dtype, as TF's own gradient kernels
    do. That rounding moves dz = dy * activation' by up to about
    2 eps |dy| max(1, |z|, |y|) per element, which is large next to dz itself
    where the activation saturates (tanh at |z| > 3 in float16, > 10 in
    float64). Its effect on each gradient is the same linear map applied to
    that bound.
    """
    eps = OPERAND_EPS[c.dtype]
    geometry = dict(stride=c.stride, dilation=c.dilation, padding=c.padding,
                    data_format=c.data_format)
    z = reference.conv1d(x, w, b, **geometry).numpy()
    y = reference.conv1d(x, w, b, activation=c.activation, negative_slope=c.negative_slope,
                         **geometry).numpy()
    bound = np.abs(dy) * np.maximum(1.0, np.maximum(np.abs(z), np.abs(y)))
    _, operand_magnitudes = reference.conv1d_and_grads(x, w, b, bound, **geometry)
    weight = 4 * eps / grad_tol
    return tuple(None if m is None else m + weight * om
                 for m, om in zip(magnitudes, operand_magnitudes))


def check_against_reference(c):
    attrs = dict(stride=c.stride, padding=c.padding, data_format=c.data_format,
                 activation=c.activation, negative_slope=c.negative_slope)
    if c.padding == "VALID" and c.steps < c.extent:
        with pytest.raises(ValueError, match="VALID padding needs"):
            tf_conv1d_op.fused_conv1d(tf.zeros([c.batch, c.steps, c.in_channels]),
                                      tf.zeros([c.kernel_size, c.in_channels, c.filters]),
                                      dilations=c.dilation, **dict(attrs, data_format="NWC"))
        return
    x, w, b, dy = make_data(c)
    expected, magnitudes = reference.conv1d_and_grads(x, w, b, dy, dilation=c.dilation, **attrs)
    actual = ours_and_grads(x, w, b, dy, c.dtype, dilations=c.dilation, **attrs)
    forward_tol, grad_tol = DTYPES[c.dtype]
    magnitudes = widen_for_rounded_operand(c, x, w, b, dy, magnitudes, grad_tol)
    checks = zip(("output", "grad_input", "grad_filter", "grad_bias"), actual, expected,
                 (None,) + magnitudes, (forward_tol,) + (grad_tol,) * 3)
    # Results below the dtype's smallest normal number may underflow (gelu's
    # tail in float16): allow that much absolute error.
    tiny = TINY[c.dtype]
    for name, got, want, magnitude, tol in checks:
        if want is None:
            continue
        magnitude = np.maximum(np.abs(want) if magnitude is None else magnitude, tiny / tol)
        error = reference.max_relative_error(got, want, magnitude)
        assert error <= tol, f"{name}: relative error {error:.3g} > {tol:g} for {c}"


@pytest.mark.main_run_only
@PROFILE
@given(convs())
def test_fuzz_matches_reference(c):
    check_against_reference(c)


# Minimal cases the fuzzer found, kept as regular tests.
REGRESSIONS = [
    # selu at z == 0 exactly: the subgradient must be TF's (scale), not
    # scale * alpha.
    Conv(batch=1, steps=1, in_channels=1, kernel_size=1, filters=1, stride=1, dilation=1,
         padding="VALID", data_format="NWC", activation="selu", negative_slope=0.2,
         use_bias=False, dtype="float32", data="zeros", seed=0),
    # gelu in the negative tail (z near -6): 1 + erf(z / sqrt(2)) cancels and
    # lost all relative accuracy, in the op and in the reference.
    Conv(batch=1, steps=13, in_channels=1, kernel_size=3, filters=2, stride=2**31, dilation=1,
         padding="VALID", data_format="NWC", activation="gelu", negative_slope=0.2,
         use_bias=False, dtype="float64", data="integers", seed=1),
    # sigmoid saturating in float16: the derivative y (1 - y) from the rounded
    # y is only good to about eps |dy|; the tolerance must allow for it.
    Conv(batch=1, steps=1, in_channels=2, kernel_size=1, filters=1, stride=1, dilation=1,
         padding="VALID", data_format="NWC", activation="sigmoid", negative_slope=0.2,
         use_bias=False, dtype="float16", data="integers", seed=7),
    # tanh saturating in float64: 1 - y^2 from the rounded y.
    Conv(batch=1, steps=12, in_channels=1, kernel_size=1, filters=1, stride=7, dilation=1,
         padding="VALID", data_format="NWC", activation="tanh", negative_slope=0.2,
         use_bias=False, dtype="float64", data="integers", seed=2),
    # The same gelu tail in float16: every output underflows to zero.
    Conv(batch=1, steps=13, in_channels=1, kernel_size=3, filters=2, stride=2**31, dilation=1,
         padding="VALID", data_format="NWC", activation="gelu", negative_slope=0.2,
         use_bias=False, dtype="float16", data="integers", seed=1),
]


@pytest.mark.parametrize("c", REGRESSIONS, ids=lambda c: f"{c.activation}-{c.dtype}-{c.data}")
def test_fuzz_regression(c):
    check_against_reference(c)
