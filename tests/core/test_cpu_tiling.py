"""The CPU core's blocked paths, which the small grid shapes never reach.

The grid (test_fused_conv1d_grid.py) has at most 5 channels and 24 steps, so
every one of its cases is a single tile with partial register panels. Here
sizes are chosen to cross each boundary of the tiling in conv1d_cpu.cc and
gemm_kernel.cc: whole and partial column panels, depth split into blocks
(K * Cin > 320), dilated taps in one block, in several, or split up, many
row tiles per item, tiles read in place from the input next to tiles copied at the padding,
small batches split into more tiles, stride phases (one without taps),
the column form of the input gradient for few input channels or a dilation
longer than the output, windows gathered where the stride leaves gaps, NCW copies,
the activations applied in registers and after, linear dz read in place,
filter-gradient windows packed where their row pitch would alias in L1, and
the Winograd forward tiles (K = 3 and longer, enough channels, >= 1024
output rows; or a stride folded into the channels; and the input gradient as
a forward convolution of dz in those tiles): one, two and three tap
groups, a last group of one or two taps, F(6,3) and F(4,5), items ending in each place
of a set of six or four output rows, one item, strides whose taps do not fill the last folded tap,
partial panels, fused and separate activations, every padding and layout.
Each is checked against the float64 reference, and the result must not
depend on the number of threads, bit for bit.
"""
import os
import subprocess
import sys
import zlib

import numpy as np
import pytest

from tests.op.test_fused_conv1d_grid import DTYPES, ours_and_grads
from tests.support import REPO, reference

# (batch, steps, in_channels, filters, kernel, stride, dilation, padding,
#  data_format, activation, dtype)
DIRECT_CASES = [
    (2, 500, 70, 37, 5, 1, 1, "SAME", "NWC", "relu", "float32"),  # < 1024 rows: not Winograd
    (1, 1000, 24, 40, 3, 2, 1, "SAME", "NWC", "tanh", "float64"),
    (3, 300, 33, 17, 4, 3, 2, "CAUSAL", "NWC", "gelu", "float32"),
    (2, 400, 1, 64, 80, 4, 1, "VALID", "NWC", "relu", "float32"),
    (2, 350, 20, 48, 3, 1, 4, "VALID", "NCW", "leaky_relu", "float64"),
    (1, 500, 130, 32, 3, 1, 1, "SAME", "NWC", "linear", "float32"),
    (20, 90, 9, 16, 3, 1, 1, "VALID", "NWC", "relu6", "float64"),
    (2, 257, 12, 24, 7, 2, 3, "SAME", "NCW", "silu", "float16"),
    (2, 100, 16, 20, 2, 3, 1, "SAME", "NWC", "elu", "float64"),
    (2, 150, 3, 40, 3, 2, 2, "CAUSAL", "NCW", "sigmoid", "float32"),
    (2, 200, 100, 24, 5, 1, 2, "SAME", "NWC", "gelu_tanh", "float32"),
    (1, 120, 330, 20, 2, 2, 3, "VALID", "NWC", "relu", "float64"),
    (2, 300, 18, 20, 2, 5, 1, "VALID", "NCW", "hard_sigmoid", "float32"),
    (1, 40, 20, 24, 3, 1, 30, "SAME", "NWC", "softplus", "float64"),
    # Filter gradient from packed windows (row pitch a multiple of 1 KiB,
    # Cout >= 128): blocks across dilated taps, strided pitch, double.
    (2, 200, 256, 130, 2, 1, 3, "SAME", "NWC", "relu", "float32"),
    (1, 150, 128, 128, 3, 2, 1, "VALID", "NWC", "linear", "float32"),
    (2, 90, 128, 128, 1, 1, 1, "VALID", "NWC", "tanh", "float64"),
]
WINOGRAD_CASES = [
    # Winograd forward tiles. (A kinked activation in float32 would flip its
    # derivative where the rounding of z differs from the reference's near
    # 0, as any change of summation order may: kinks are checked in float64.)
    (2, 2049, 64, 128, 3, 1, 1, "SAME", "NWC", "relu", "float64"),
    (1, 4101, 128, 64, 6, 1, 1, "VALID", "NCW", "tanh", "float64"),
    (3, 1500, 96, 96, 3, 1, 1, "CAUSAL", "NWC", "leaky_relu", "float64"),
    (2, 2102, 64, 128, 3, 1, 1, "SAME", "NCW", "silu", "bfloat16"),
    (2, 2103, 64, 130, 9, 1, 1, "SAME", "NWC", "gelu", "float32"),
    (2, 2052, 72, 120, 3, 1, 1, "VALID", "NCW", "linear", "float16"),
    (2, 2100, 80, 128, 5, 1, 1, "SAME", "NWC", "linear", "float32"),
    (1, 4201, 64, 128, 8, 1, 1, "CAUSAL", "NCW", "relu", "float64"),
    (1, 1027, 128, 128, 3, 1, 1, "SAME", "NWC", "relu6", "float64"),
    # Few channels: 24 -> 48 (the input gradient direct), 32 -> 64 with K = 5
    # (the input gradient in the tiles too).
    (2, 1030, 24, 48, 3, 1, 1, "SAME", "NCW", "gelu", "float32"),
    (1, 2051, 32, 64, 5, 1, 1, "CAUSAL", "NWC", "leaky_relu", "float64"),
    # A last group of one tap: K = 4 (the input gradient direct), K = 7 (in
    # the tiles too).
    (2, 1100, 64, 40, 4, 1, 1, "SAME", "NWC", "linear", "float32"),
    (1, 2053, 64, 64, 7, 1, 1, "CAUSAL", "NCW", "tanh", "float64"),
    # Strides folded into the channels (4 x 1 channels, 20 taps; 2 x 2 and 8,
    # the last half zero; 3 x 3 and 8, the last two thirds zero), in the
    # Winograd tiles' row form.
    (3, 2100, 1, 64, 80, 4, 1, "VALID", "NWC", "relu", "float32"),
    (2, 2100, 2, 40, 15, 2, 1, "SAME", "NCW", "tanh", "float64"),
    (3, 1201, 3, 32, 23, 3, 1, "CAUSAL", "NWC", "leaky_relu", "float64"),
    # F(4,5) (K = 4, 5, 10 and the folded 20 taps above): two groups of five
    # taps, and a set of four rows that an item ends after its first row
    # (after its second: 1026 here and the folded case's 506, third: 2051,
    # fourth: 2100 and 1100 above).
    (1, 2058, 48, 64, 10, 1, 1, "VALID", "NCW", "relu", "float64"),
    (2, 1026, 64, 96, 5, 1, 1, "SAME", "NWC", "silu", "float32"),
]
CASES = DIRECT_CASES + WINOGRAD_CASES
WINOGRAD_CASE = len(DIRECT_CASES)
IDS = ["-".join(map(str, c)) for c in CASES]


def case_data(case):
    batch, steps, cin, cout, k, stride, dilation, padding, data_format, _, dtype = case
    rng = np.random.default_rng(zlib.crc32(repr(case).encode()))
    as_dtype = np.dtype(dtype) if dtype != "bfloat16" else np.float32

    def draw(*shape, scale=1.0):
        return (scale * rng.standard_normal(shape)).astype(as_dtype).astype(np.float64)

    x_shape = (batch, steps, cin) if data_format == "NWC" else (batch, cin, steps)
    x = draw(*x_shape)
    w = draw(k, cin, cout, scale=1 / np.sqrt(k * cin))
    b = draw(cout)
    out, _ = reference.output_length_and_left_pad(steps, k, stride, dilation, padding)
    dy = draw(*((batch, out, cout) if data_format == "NWC" else (batch, cout, out)))
    return x, w, b, dy


def attrs_of(case):
    _, _, _, _, _, stride, dilation, padding, data_format, activation, _ = case
    return dict(stride=stride, dilation=dilation, padding=padding, data_format=data_format,
                activation=activation)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_blocked_paths_match_reference(case):
    x, w, b, dy = case_data(case)
    attrs = attrs_of(case)
    dtype = case[-1]
    expected, magnitudes = reference.conv1d_and_grads(x, w, b, dy, **attrs)
    actual = ours_and_grads(x, w, b, dy, dtype, **dict(attrs, dilations=attrs.pop("dilation")))
    forward_tol, grad_tol = DTYPES[dtype]
    for name, got, want, magnitude, tol in zip(
            ("output", "grad_input", "grad_filter", "grad_bias"), actual, expected,
            (None,) + magnitudes, (forward_tol,) + (grad_tol,) * 3):
        error = reference.max_relative_error(got, want, magnitude)
        assert error <= tol, f"{name}: relative error {error:.3g} > {tol:g}"


_ONE_THREAD = """
import json, sys
import numpy as np
import tensorflow as tf
tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)
from tests.core.test_cpu_tiling import CASES, attrs_of, case_data
from tests.op.test_fused_conv1d_grid import ours_and_grads
case = CASES[int(sys.argv[1])]
x, w, b, dy = case_data(case)
attrs = attrs_of(case)
out = ours_and_grads(x, w, b, dy, case[-1], **dict(attrs, dilations=attrs.pop("dilation")))
np.savez(sys.argv[2], *out)
"""


@pytest.mark.parametrize("index", [0, 1, 3, WINOGRAD_CASE])
def test_result_does_not_depend_on_thread_count(index, tmp_path):
    case = CASES[index]
    x, w, b, dy = case_data(case)
    attrs = attrs_of(case)
    here = ours_and_grads(x, w, b, dy, case[-1], **dict(attrs, dilations=attrs.pop("dilation")))
    path = tmp_path / "one_thread.npz"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([REPO, os.environ.get("PYTHONPATH", "")]),
               TF_CPP_MIN_LOG_LEVEL="3")
    subprocess.run([sys.executable, "-c", _ONE_THREAD, str(index), str(path)], check=True,
                   cwd=REPO, env=env)
    there = np.load(path)
    for i, got in enumerate(here):
        np.testing.assert_array_equal(got, there[f"arr_{i}"])
