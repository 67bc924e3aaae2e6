"""The CPU passes at every instruction-set level (cc/kernels/core/cpu_isa.h):
TF_CONV1D_ISA's refusals, and the op's tests rerun with each level this CPU
supports forced, so each vector path is checked against the float64 reference
on any machine that has it. The whole suite runs at the best level, the
default; test_packaging.py checks the levels compiled in and detected against
/proc/cpuinfo for any build. CI runs the blocked-path cases in full and a
sample of the grid at each other level; TF_CONV1D_LEVELS_FULL_GRID=1 runs the
whole grid at each.
"""
import os
import subprocess
import sys

import pytest

from tests.support import REPO
from tests.support.cpu_levels import LEVELS, supported_levels

ROOT = REPO
GRID_SAMPLE = ("(True and (gelu or relu6 or leaky_relu)) or large_grouped or wide_depthwise or "
               "narrow_depthwise or beyond_the_caches or nonfinite")


def child(code, **env):
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", **env)
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=environment,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("value,expected", [
    ("avx1024", "TF_CONV1D_ISA: unknown level 'avx1024' (expected one of baseline, avx2, avx512)"),
    ("AVX2", "TF_CONV1D_ISA: unknown level 'AVX2'"),
])
def test_an_unknown_level_is_an_import_error(value, expected):
    proc = child("import tf_conv1d_op", TF_CONV1D_ISA=value)
    assert proc.returncode != 0
    assert "ImportError" in proc.stderr and expected in proc.stderr, proc.stderr[-3000:]
    assert "Unset TF_CONV1D_ISA" in proc.stderr


@pytest.mark.parametrize("level", LEVELS)
def test_a_level_this_cpu_lacks_is_an_import_error(level):
    if level in supported_levels():
        pytest.skip(f"this CPU supports {level} (qemu runs the core on lesser CPUs: "
                    "tests/core/test_core_emulated_cpus.py)")
    proc = child("import tf_conv1d_op", TF_CONV1D_ISA=level)
    assert f"this CPU does not support the {level} level" in proc.stderr, proc.stderr[-3000:]


@pytest.mark.parametrize("level", LEVELS)
def test_op_tests_pass_at_each_level(level):
    if level not in supported_levels():
        pytest.skip(f"this CPU does not support the {level} level")
    if level == supported_levels()[-1] and not os.environ.get("TF_CONV1D_ISA"):
        pytest.skip("the default level: the whole suite runs at it")
    grid = [] if os.environ.get("TF_CONV1D_LEVELS_FULL_GRID") == "1" else ["-k", GRID_SAMPLE]
    check = child(
        "import sys, pytest; from tf_conv1d_op import _library; "
        f"assert _library.cpu_levels()['selected'] == {level!r}; "
        "sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', 'tests/core/test_cpu_tiling.py', "
        "'tests/packaging/test_packaging.py::test_loaded_library_matches_numpy']))",
        TF_CONV1D_ISA=level)
    assert check.returncode == 0, check.stdout[-4000:] + check.stderr[-4000:]
    grid_run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "tests/op/test_fused_conv1d_grid.py",
         # the depthwise passes' vectors are as wide as the level's
         "tests/op/test_fused_conv1d_groups.py::test_large_grouped_cases_match_reference",
         "tests/op/test_fused_conv1d_groups.py::test_wide_depthwise_windows_match_reference",
         # half and bfloat16 widened and rounded in the level's registers
         "tests/op/test_fused_conv1d_conversions.py",
         "tests/op/test_fused_conv1d_groups.py::"
         "test_narrow_depthwise_forward_rounds_the_float_sums_once",
         "tests/op/test_fused_conv1d_groups.py::"
         "test_narrow_depthwise_gradients_match_the_float_op_rounded_once",
         "tests/op/test_fused_conv1d_groups.py::"
         "test_depthwise_output_beyond_the_caches_matches_reference",
         # the sigmoid family's exp and reciprocal are the level's own
         # (activation_arrays.h): Inf and NaN must come out where the stock op's do
         "tests/op/test_fused_conv1d_nonfinite.py"] + grid,
        cwd=ROOT, env=dict(os.environ, TF_CONV1D_ISA=level, TF_CPP_MIN_LOG_LEVEL="3"),
        capture_output=True, text=True, timeout=1800)
    assert grid_run.returncode == 0, grid_run.stdout[-4000:] + grid_run.stderr[-4000:]
    assert " passed" in grid_run.stdout.splitlines()[-1]
