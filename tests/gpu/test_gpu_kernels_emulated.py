"""The CUDA kernels themselves, run on the CPU through the host emulation.

python/gpu_check builds the unchanged CUDA core with g++ against a host
emulation of the CUDA pieces it uses (threads as fibers that resume in a
shuffled order after every barrier, emulated WMMA fragments, guard-paged
memory) and checks forward and both gradients against the float64 NumPy
reference. This validates the kernels' indexing, tiling, boundary handling,
barriers and reductions without a GPU; it cannot show hardware-specific
faults (see docs/cuda.md). Needs g++ and the CUDA headers; skips otherwise.
"""
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from python.gpu_check import build, core, reference
from tests.support import REPO

ROOT = REPO

pytestmark = pytest.mark.skipif(
    shutil.which(os.environ.get("CXX", "g++")) is None or build.cuda_include_dir() is None,
    reason="the CUDA emulation needs g++ and the CUDA headers (cuda_fp16.h)")


def run_harness(*args):
    # As a file, the way a GPU session first runs it (docs/cuda.md).
    result = subprocess.run(
        [sys.executable, os.path.join("python", "gpu_check", "run.py"), "--emulate", "--quick",
         *args],
        capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "all within tolerance" in result.stdout
    return result.stdout


def test_the_device_scripts_start():
    # The GPU session's programs cannot run here; their command lines can.
    for script in ("run.py", "profile_ops.py"):
        result = subprocess.run([sys.executable, os.path.join("python", "gpu_check", script),
                                 "--help"], capture_output=True, text=True, timeout=120, cwd=ROOT)
        assert result.returncode == 0 and "usage" in result.stdout, result.stderr
    result = subprocess.run(["bash", "-n", os.path.join("python", "gpu_check", "on_device.sh")],
                            capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 0, result.stderr


def test_the_kernel_profile_covers_the_benchmark_shapes():
    from python.gpu_check import bench, profile_ops

    shapes = profile_ops.bench_shapes()
    assert len(shapes) == len(bench.SHAPES) + len(bench.DEPTHWISE_SHAPES)
    assert all(len(shape.split(",")) == 10 for shape in shapes)
    assert shapes[-1] == "16,512,256,256,31,1,1,SAME,linear,256"
    result = subprocess.run([sys.executable, os.path.join("python", "gpu_check", "profile_ops.py"),
                             "--dtype", "float16,float64"], capture_output=True, text=True,
                            timeout=120, cwd=ROOT)
    assert result.returncode == 2 and "float64" in result.stderr, result.stderr


@pytest.fixture(scope="module")
def library():
    return core.Library(build.build_emulated())


def test_tensor_core_kernels_match_the_reference():
    # Every padding x data format x (stride, dilation), every activation x
    # dtype, and multi-tile problems; half and bfloat16 on emulated WMMA.
    output = run_harness("--kinds", "dense", "--seed", "1")
    for dtype in ("float16", "bfloat16", "float32", "float64"):
        assert dtype in output


def test_fma_kernels_match_the_reference():
    # The FMA engine that bfloat16 uses before sm_80, for half and bfloat16.
    # (float and double take the FMA engine in every build.)
    run_harness("--fma", "--kinds", "dense", "--dtypes", "float16,bfloat16", "--seed", "2",
                "--schedule", "1")


def test_depthwise_kernels_match_the_reference():
    # groups == in_channels (conv1d_gpu_depthwise.cu.cc): channel multipliers
    # 1 and 2 over odd and multi-tile channel counts, every padding x data
    # format x (stride, dilation), every activation and dtype, all five
    # outputs; and the kernels' unstaged paths, a 31-tap kernel and an empty
    # batch (sweep.DEPTHWISE_EDGES).
    output = run_harness("--kinds", "depthwise", "--seed", "3")
    for dtype in ("float16", "bfloat16", "float32", "float64"):
        assert dtype in output


def test_depthwise_problems_take_the_depthwise_kernels(library):
    # The per-group path would need the group's tensors in its workspace;
    # the depthwise forward needs none, and its filter gradient only the
    # partial sums: (kernel_size + 1) * filters floats per slice.
    depthwise = core.Problem(2, 10, 3, 3, 6, groups=3)
    assert library.workspace_bytes(core.FORWARD, "float32", depthwise) == 0
    assert library.workspace_bytes(core.BACKPROP_INPUT, "float32", depthwise) == 0  # dz = dy
    grouped = core.Problem(2, 10, 4, 3, 6, groups=2)
    assert library.workspace_bytes(core.FORWARD, "float32", grouped) > 0


def test_fast_division_is_exact(library):
    rng = np.random.default_rng(0)
    divisors = ([1, 2, 3, 7, 9, 300] + [2 ** k + o for k in range(2, 31) for o in (-1, 1)]
                + [2 ** 31 - 1] + [int(d) for d in rng.integers(1, 2 ** 31, 50)])
    for d in divisors:
        numerators = {0, 1, d - 1, d, 2 * d - 1, 2 ** 31 - 1,
                      *(int(n) for n in rng.integers(0, 2 ** 31, 50))}
        for n in numerators:
            if 0 <= n < 2 ** 31:
                assert library.fast_divide(n, d) == n // d, (n, d)


def test_sizes_beyond_the_kernels_are_refused(library):
    # kernel_size * in_channels >= 2^30: refused before any memory is touched.
    problem = core.Problem(1, 2, 2 ** 29, 2, 1)
    with pytest.raises(RuntimeError, match="do not support"):
        library.run(core.FORWARD, "float32", problem, [None] * 5, None, None)
    # Depthwise: the per-group limit, kernel_size * 1 >= 2^30.
    depthwise = core.Problem(1, 2, 2, 2 ** 30, 2, padding="SAME", groups=2)
    for op, pointers in ((core.FORWARD, 5), (core.BACKPROP_INPUT, 4), (core.BACKPROP_FILTER, 5)):
        with pytest.raises(RuntimeError, match="do not support"):
            library.run(op, "float32", depthwise, [None] * pointers, None, None)


def test_workspace_is_only_used_where_needed(library):
    nwc = core.Problem(2, 10, 5, 3, 4, data_format="NWC")
    ncw = core.Problem(2, 10, 5, 3, 4, data_format="NCW", activation="relu")
    assert library.workspace_bytes(core.FORWARD, "float32", nwc) == 0
    assert library.workspace_bytes(core.BACKPROP_INPUT, "float32", nwc) == 0  # dz = dy
    assert library.workspace_bytes(core.FORWARD, "float32", ncw) >= 2 * 10 * 5 * 4
    assert library.workspace_bytes(core.BACKPROP_INPUT, "float32", ncw) >= 2 * 8 * 4 * 4
    # Filter gradient partial sums, float accumulators even for half.
    assert library.workspace_bytes(core.BACKPROP_FILTER, "float16", nwc) >= (9 + 1) * 4 * 4


def test_few_input_channels_take_the_columns_in_float_and_double(library):
    # conv1d_gpu_backprop_input.cu.cc: up to 4 input channels and from 4
    # taps, the input gradient is a GEMM into columns [batch * out_steps, kernel_size *
    # in_channels] after the filter transposed, then a gather; 256-byte pieces.
    def pieces(count, size):
        return -(-count * size // 256) * 256

    for channels, dtype, size in ((1, "float32", 4), (4, "float32", 4), (4, "float64", 8)):
        problem = core.Problem(2, 40, channels, 5, 6, stride=2)  # 18 output steps
        assert library.workspace_bytes(core.BACKPROP_INPUT, dtype, problem) == (
            pieces(5 * channels * 6, size) + pieces(2 * 18 * 5 * channels, size))
    # The GEMM beyond 4 channels, below 4 taps, and in half (the columns
    # would round twice).
    assert library.workspace_bytes(core.BACKPROP_INPUT, "float32",
                                   core.Problem(2, 40, 5, 5, 6, stride=2)) == 0
    assert library.workspace_bytes(core.BACKPROP_INPUT, "float32",
                                   core.Problem(2, 40, 4, 3, 6, stride=2)) == 0
    assert library.workspace_bytes(core.BACKPROP_INPUT, "float16",
                                   core.Problem(2, 40, 1, 5, 6, stride=2)) == 0


@pytest.mark.parametrize("sizes,padding,data_format", [
    ((0, 9, 3, 2, 4), "SAME", "NWC"),     # empty batch
    ((2, 9, 0, 3, 5), "VALID", "NCW"),    # no input channels: output = activation(bias)
    ((2, 0, 3, 2, 4), "CAUSAL", "NWC"),   # no steps
    ((3, 1, 2, 4, 3), "SAME", "NCW"),     # one step, kernel wider than the input
])
def test_degenerate_sizes_match_the_reference(library, sizes, padding, data_format):
    from python.gpu_check import sweep

    memory = core.EmulatedMemory(library)
    problem = core.Problem(*sizes, stride=2, dilation=1, padding=padding,
                           data_format=data_format, activation="elu")
    try:
        errors = sweep.check(library, memory, problem, "float32", np.random.default_rng(4))
    finally:
        memory.release()
    assert max(errors.values()) < 1e-5, errors


def test_filter_gradients_past_one_grid_of_sums_match_the_reference(library):
    # 3 x 256 x 360 filter elements and the bias: more than one grid of the
    # partial sums' blocks (gpu_partial_sums.h, kMaxSumBlocks x kSumColumns),
    # so later groups of elements take the grid-stride loop.
    from python.gpu_check import sweep

    memory = core.EmulatedMemory(library)
    problem = core.Problem(1, 6, 256, 3, 360, padding="SAME")
    assert 3 * 256 * 360 + 360 > 8192 * 32
    try:
        errors = sweep.check(library, memory, problem, "float32", np.random.default_rng(5))
    finally:
        memory.release()
    assert max(errors.values()) < 1e-5, errors


# (layout, stride, dilation, kernel_size, output steps, activation): a one-step
# chunk, strides with dilation, and an empty state (kernel_size 1).
STREAM_CASES = [("NWC", 1, 1, 3, 1, "relu"), ("NCW", 2, 3, 2, 3, "gelu"),
                ("NWC", 3, 2, 4, 2, "tanh"), ("NCW", 1, 1, 1, 2, "silu")]


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
def test_stream_kernels_match_the_reference(library, dtype):
    """The streaming op's kernels read concat(state, chunk) in place: the
    output against the reference's VALID convolution of the concatenation,
    the new state against its last steps (exactly)."""
    memory = core.EmulatedMemory(library)
    rng = np.random.default_rng(core.DTYPE_CODES[dtype])
    batch, channels, filters = 2, 3, 5
    try:
        for layout, stride, dilation, kernel_size, out_steps, activation in STREAM_CASES:
            axis = 1 if layout == "NWC" else 2
            state_steps, chunk_steps = (kernel_size - 1) * dilation, stride * out_steps

            def draw(*shape):
                return reference.round_to(rng.standard_normal(shape), dtype)

            def shape(steps, c):
                return (batch, steps, c) if layout == "NWC" else (batch, c, steps)
            values = [draw(*shape(state_steps, channels)), draw(*shape(chunk_steps, channels)),
                      draw(kernel_size, channels, filters), draw(filters)]
            buffers = [memory.upload(reference.to_storage(v, dtype)) for v in values]
            output = memory.empty(shape(out_steps, filters), dtype)
            new_state = memory.empty(shape(state_steps, channels), dtype)
            library.stream(dtype, [batch, state_steps, chunk_steps, channels, kernel_size,
                                   filters, stride, dilation], layout, activation, 0.2,
                           [memory.pointer(b) for b in buffers + [output, new_state]],
                           memory.stream)
            memory.synchronize()
            padded = np.concatenate(values[:2], axis=axis)
            expected, _ = reference.forward(padded, values[2], values[3], stride=stride,
                                            dilation=dilation, data_format=layout,
                                            activation=activation)
            got = reference.from_storage(memory.download(output), dtype)
            tolerance = {"float16": 2e-2, "bfloat16": 1e-1, "float32": 1e-5,
                         "float64": 1e-12}[dtype]
            np.testing.assert_allclose(got, expected, rtol=tolerance, atol=tolerance)
            np.testing.assert_array_equal(
                reference.from_storage(memory.download(new_state), dtype),
                np.split(padded, [chunk_steps], axis=axis)[1])
    finally:
        memory.release()


@pytest.mark.parametrize("groups", [1, 16])
def test_each_pass_runs_on_its_own(library, groups):
    """core.Passes, which the sweep, the timing and profile_ops.py share: a
    pass run alone writes its own outputs only, and each matches the float64
    reference."""
    from python.gpu_check import report, sweep

    memory = core.EmulatedMemory(library)
    problem = core.Problem(2, 21, 16, 4, 16, padding="CAUSAL", activation="silu", groups=groups)
    x, w, b, dy = sweep.random_inputs(np.random.default_rng(11), problem, "float32",
                                      with_bias=True)
    attrs = dict(stride=1, dilation=1, padding="CAUSAL", data_format="NWC", groups=groups,
                 activation="silu", negative_slope=problem.negative_slope)
    ref_y, ref_z = reference.forward(x, w, b, **attrs)
    ref_dx, ref_dw, ref_db = reference.backward(x, w, b, dy, operand=ref_z, **attrs)
    try:
        passes = core.Passes(library, memory, problem, "float32", x, w, b, dy)
        passes.run(core.FORWARD)
        y, z, *grads = passes.results()
        assert report.within_tolerance(report.max_relative_error(y, ref_y, np.abs(ref_y)),
                                       "float32")
        assert all(np.isnan(g).all() for g in grads)
        passes.run(core.BACKPROP_FILTER)
        _, _, grad_input, grad_filter, grad_bias = passes.results()
        assert np.isnan(grad_input).all()
        passes.run(core.BACKPROP_INPUT)
        _, _, grad_input, _, _ = passes.results()
        for got, want in ((grad_input, ref_dx), (grad_filter, ref_dw), (grad_bias, ref_db)):
            error = report.max_relative_error(got, want, np.abs(want))
            assert report.within_tolerance(error, "float32"), error
    finally:
        memory.release()


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
def test_unaligned_depthwise_tensors_match_the_reference(library, dtype):
    """A problem the packed depthwise kernels take (NWC, one filter per
    channel, whole 16-byte packs of channels) with tensors 8 bytes past a
    16-byte boundary: the launchers must see it and run the element-wise
    kernels, for all three passes."""
    from python.gpu_check import report, sweep

    memory = core.EmulatedMemory(library, misalign=8)
    problem = core.Problem(2, 21, 16, 4, 16, padding="CAUSAL", activation="silu", groups=16)
    try:
        errors = sweep.check(library, memory, problem, dtype, np.random.default_rng(7))
        assert report.within_tolerance(max(errors.values()), dtype), errors
    finally:
        memory.release()


@pytest.mark.parametrize("sizes,groups,padding,data_format,stride,dilation", [
    ((2, 11, 4, 3, 6), 2, "SAME", "NWC", 1, 1),     # grouped
    ((2, 13, 6, 2, 3), 3, "CAUSAL", "NCW", 2, 2),   # grouped, fewer filters than channels
    ((1, 9, 3, 3, 6), 3, "VALID", "NWC", 1, 2),     # depthwise, multiplier 2
    ((2, 10, 5, 4, 5), 5, "SAME", "NCW", 3, 1),     # depthwise, strided
    ((0, 9, 4, 3, 4), 2, "SAME", "NWC", 1, 1),      # empty batch: zero filter gradient
])
def test_grouped_problems_match_the_reference(library, sizes, groups, padding, data_format,
                                              stride, dilation):
    """groups > 1 runs the dense kernels per group (conv1d_gpu_groups.cu.cc),
    depthwise problems their own kernels (conv1d_gpu_depthwise.cu.cc)."""
    from python.gpu_check import sweep

    memory = core.EmulatedMemory(library)
    problem = core.Problem(*sizes, stride=stride, dilation=dilation, padding=padding,
                           data_format=data_format, activation="gelu", groups=groups)
    try:
        for dtype in ("float32", "float64"):
            errors = sweep.check(library, memory, problem, dtype, np.random.default_rng(5))
            assert max(errors.values()) < 1e-5, (dtype, errors)
    finally:
        memory.release()
