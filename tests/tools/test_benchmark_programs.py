"""The measuring programs in python/benchmarks/ run and print a row per case
(the figures in docs/performance.md come from them). Timings are not checked."""
import os
import subprocess
import sys

import pytest

from tests.support import REPO

ROOT = REPO


def run_program(name, *args):
    result = subprocess.run(
        [sys.executable, "-m", "python.benchmarks." + name, *args],
        capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def numbers(line):
    return [float(cell) for cell in line.split()[1:]]


@pytest.mark.parametrize("layout_and_dtype", [(), ("--data-format", "NCW", "--dtype", "bfloat16")])
def test_activations_program_times_each_activation(layout_and_dtype):
    out = run_program("activations", "--activations", "silu,elu", "--repeats", "1",
                      *layout_and_dtype)
    rows = {line.split()[0]: numbers(line) for line in out.splitlines()[1:]}
    assert set(rows) == {"silu", "elu"}
    assert all(len(v) == 2 and min(v) > 0 for v in rows.values())


def test_op_passes_program_rates_each_pass():
    out = run_program("op_passes", "--shapes", "sensor", "--repeats", "1")
    rows = [line for line in out.splitlines() if line.split()[:1] == ["sensor"]]
    assert len(rows) == 1 and len(numbers(rows[0])) == 3 and min(numbers(rows[0])) > 0


def test_layer_passes_program_times_each_pass_of_both_sides():
    out = run_program("layer_passes", "--shapes", "sensor", "--repeats", "1")
    rows = [line.split() for line in out.splitlines() if line.split()[:1] == ["sensor"]]
    assert [r[1] for r in rows] == ["stock", "ours"]
    assert all(len(r) == 6 and min(map(float, r[2:])) > 0 for r in rows)
    assert "trivial tf.function call" in out


def test_winograd_error_program_finds_float32_errors_within_the_tolerance():
    out = run_program("winograd_error", "--cases", "16x8x5,12x20x3", "--steps", "41")
    rows = {line.split()[0]: numbers(line) for line in out.splitlines()[1:]}
    assert set(rows) == {"16x8x5", "12x20x3"}
    # A wrong transform would leave errors of order 1; float32 rounding, 1e-7 to 1e-6.
    assert all(len(row) == 3 and 0 < min(row) and max(row) < 1e-5 for row in rows.values())
