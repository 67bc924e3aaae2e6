"""The measuring programs in python/benchmarks/ run and print a row per case
(the figures in docs/performance.md come from them). Timings are not checked."""
import os
import subprocess
import sys

import pytest

from tests.support import REPO
from tests.support.cpu_levels import supported_levels

ROOT = REPO


def run_program(name, *args):
    result = subprocess.run(
        [sys.executable, "-m", "python.benchmarks." + name, *args],
        capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def numbers(line):
    return [float(cell) for cell in line.split()[1:]]


def core_build():
    """The op library's flags for the core (a list), then its objects (built
    where missing), as `python -m build_tools.op_library core` prints them."""
    flags, *objects = subprocess.run(
        [sys.executable, "-m", "build_tools.op_library", "core"], check=True,
        capture_output=True, text=True, cwd=ROOT, timeout=900).stdout.splitlines()
    return [flags.split(), *objects]


def build_level(level):
    """A CPU level's namespace and compiler flags, as build_tools/cpu_levels.py
    lists them (the programs measuring one level are compiled with these)."""
    levels = subprocess.run([sys.executable, "-m", "build_tools.cpu_levels", "levels"],
                            check=True, capture_output=True, text=True, cwd=ROOT).stdout
    _, namespace, *flags = next(line.split() for line in levels.splitlines()
                                if line.split()[0] == level)
    return namespace, flags


def tensorflow_include():
    import tensorflow as tf
    return tf.sysconfig.get_include()


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


def test_layer_passes_program_times_one_side_alone():
    out = run_program("layer_passes", "--shapes", "sensor", "--repeats", "1", "--sides", "ours")
    rows = [line.split() for line in out.splitlines() if line.split()[:1] == ["sensor"]]
    assert [r[1] for r in rows] == ["ours"]
    assert len(rows[0]) == 6 and min(map(float, rows[0][2:])) > 0


def test_layer_passes_program_times_both_sides_in_bfloat16():
    out = run_program("layer_passes", "--shapes", "sensor", "--repeats", "1",
                      "--dtype", "bfloat16")
    rows = [line.split() for line in out.splitlines() if line.split()[:1] == ["sensor"]]
    assert [r[1] for r in rows] == ["stock", "ours"]
    assert all(len(r) == 6 and min(map(float, r[2:])) > 0 for r in rows)


@pytest.mark.parametrize("layer", ["2,64,16,32,4,1,1,same,relu", "2,64,16,16,4,1,1,causal,relu,16"])
def test_layer_passes_program_times_a_layer_of_any_geometry(layer):
    out = run_program("layer_passes", "--layer", layer, "--repeats", "1")
    rows = [line.split() for line in out.splitlines() if line.split()[:1] == ["layer"]]
    assert [r[1] for r in rows] == ["stock", "ours"]
    assert all(len(r) == 6 and min(map(float, r[2:])) > 0 for r in rows)


def test_layer_kinds_program_times_both_layers_against_the_stock_ones():
    out = run_program("layer_kinds", "--shapes", "conformer,quartznet", "--repeats", "1")
    rows = [line.split() for line in out.splitlines()
            if line.split()[:1] in (["conformer"], ["quartznet"])]
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("conformer", "DepthwiseConv1D", "forward"), ("conformer", "DepthwiseConv1D", "training"),
        ("quartznet", "SeparableConv1D", "forward"), ("quartznet", "SeparableConv1D", "training")]
    assert all(min(float(r[3]), float(r[4])) > 0 for r in rows)


def test_winograd_error_program_finds_float32_errors_within_the_tolerance():
    out = run_program("winograd_error", "--cases", "16x8x5,12x20x3", "--steps", "41")
    rows = {line.split()[0]: numbers(line) for line in out.splitlines()[1:]}
    assert set(rows) == {"16x8x5", "12x20x3"}
    # A wrong transform would leave errors of order 1; float32 rounding, 1e-7 to 1e-6.
    assert all(len(row) == 4 and 0 < min(row) and max(row) < 1e-5 for row in rows.values())


def test_depthwise_probe_program_times_the_op():
    out = run_program("depthwise_probe", "--shape", "conformer", "--calls", "2")
    line = out.strip().splitlines()[-1]
    assert line.startswith("conformer after none: median "), out
    assert float(line.split("median ")[1].split(" ms")[0]) > 0


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="built with an x86-64 -march")
def test_sigmoid_packets_program_finds_float32_errors(tmp_path):
    """Built as its header says (at x86-64-v2, which every x86-64 CPU here runs):
    the packet silu and sigmoid within a few float roundings of float64."""
    import tensorflow as tf

    binary = tmp_path / "sigmoid_packets"
    subprocess.run(
        ["g++", "-O2", "-march=x86-64-v2", "-std=c++17", "-I.",
         "-DTF_CONV1D_LEVEL_NAMESPACE=bench", "-isystem", tf.sysconfig.get_include(),
         "python/benchmarks/sigmoid_packets.cc", "cc/kernels/core/activations.cc",
         "-o", str(binary)], check=True, cwd=ROOT, capture_output=True, timeout=300)
    out = subprocess.run([str(binary)], check=True, capture_output=True, text=True,
                         timeout=300).stdout
    rows = {line.split(":")[0]: line for line in out.splitlines()}
    assert set(rows) == {"silu", "sigmoid"}
    for line in rows.values():
        error = float(line.split("worst relative error ")[1].split()[0])
        flushed = float(line.split("below -87 off by at most ")[1].split(";")[0])
        assert error < 1e-6 and flushed < 1e-35, line
        assert line.endswith("non-finite mismatches 0"), line


def test_pass_threads_program_gives_one_output_for_every_thread_count(tmp_path):
    """Built as its header says, with the op library's objects of the core: a
    dense, a grouped (dilated) and two depthwise passes (one with silu) on 1
    and 3 threads, warm and cold, sum to the same outputs."""
    flags, *objects = core_build()
    binary = tmp_path / "pass_threads"
    subprocess.run(["g++", *flags, "python/benchmarks/pass_threads.cc", *objects,
                    "-pthread", "-o", str(binary)], check=True, cwd=ROOT, capture_output=True,
                   timeout=300)
    for shape, activation in ((["3", "40", "6", "10", "3", "1", "1", "same", "1"], "linear"),
                              (["2", "50", "8", "12", "3", "1", "2", "causal", "4"], "linear"),
                              (["2", "70", "32", "32", "9", "1", "1", "causal", "32"], "linear"),
                              (["2", "60", "1040", "1040", "4", "1", "1", "causal", "1040"],
                               "silu")):
        sums = set()
        for threads, state in (("1", "hot"), ("3", "hot"), ("3", "cold")):
            line = subprocess.run([str(binary), *shape, threads, state, "3", activation],
                                  check=True, capture_output=True, text=True,
                                  timeout=300).stdout.strip()
            assert f"{threads} threads, {state}: median " in line, line
            sums.add(line.split("checksum ")[1])
        assert len(sums) == 1, (shape, sums)


def test_conv_transpose_probe_checks_and_times_both_sides():
    out = run_program("conv_transpose_probe", "--shapes", "tiny,unet", "--repeats", "1")
    rows = {line.split()[0]: numbers(line.replace("x ", " ")) for line in out.splitlines()[1:]}
    assert set(rows) == {"tiny", "unet"}
    # stock ms, ours ms, speed-up > 0; the tiny shape's GFLOP/s prints as 0.0
    assert all(len(row) == 4 and min(row[:3]) > 0 for row in rows.values())


@pytest.mark.parametrize("model", ["stack", "demo"])
def test_deploy_timings_program_times_every_path(model):
    pytest.importorskip("tf2onnx", reason="pip install -r requirements-deploy.txt")
    pytest.importorskip("ai_edge_litert", reason="pip install -r requirements-deploy.txt")
    out = run_program("deploy_timings", "--model", model, "--batch", "2", "--steps", "20",
                      "--any-length", "--repeats", "1")
    rows = [line.split(" | ") for line in out.splitlines() if line.startswith("| ") and
            not line.startswith("| path") and not line.startswith("| ---")]
    assert len(rows) == 10, out
    timed = [row for row in rows if not row[1].startswith("fails:")]
    # The stock layers' gelu (demo) has no onnxruntime kernel (Erfc); every other path runs.
    assert len(timed) == (10 if model == "stack" else 9), out
    assert all(float(row[1]) > 0 and float(row[3].rstrip(" |")) < 1e-4 for row in timed), out


def test_int8_error_program_compares_both_routes_with_the_stock_layer():
    pytest.importorskip("ai_edge_litert", reason="pip install -r requirements-deploy.txt")
    out = run_program("int8_error", "--layers", "2", "--seed", "1")
    rows = [line for line in out.splitlines() if line.startswith("| ") and "Conv1D(" in line]
    assert len(rows) == 2, out
    assert all(float(cell) > 0 for row in rows for cell in row.strip("| ").split(" | ")[1:])
    assert "export(format='litert'): error / stock's, median 1.00, largest 1.00" in out, out


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="AMX is x86-64 only")
def test_amx_steps_program_rates_the_step_against_the_products_alone(tmp_path):
    """Built as its header says; where the CPU (or the kernel) has no AMX it
    says so and fails, which skips the test."""
    binary = tmp_path / "amx_steps"
    subprocess.run(["g++", "-O2", "-std=c++17", "-I.", "-DTF_CONV1D_LEVEL_NAMESPACE=bench",
                    "python/benchmarks/amx_steps.cc", "-o", str(binary)],
                   check=True, cwd=ROOT, capture_output=True, timeout=300)
    result = subprocess.run([str(binary), "2", "1"], capture_output=True, text=True, timeout=300)
    if result.returncode == 1 and "no AMX" in result.stderr:
        pytest.skip(result.stderr.strip())
    assert result.returncode == 0, result.stderr
    line = result.stdout.strip()
    assert line.startswith("2 steps: products alone "), line
    shares = [float(line.split(label)[1].split(",")[0]) for label in
              ("4 tile loads a step ", "2 tile loads a step ")]
    assert all(0 < share < 2 for share in shares), line


@pytest.mark.skipif("avx2" not in supported_levels(), reason="this CPU has no avx2 level")
def test_gemm_tiles_program_rates_a_tile_hot_and_cold(tmp_path):
    """Built as its header says, for the avx2 level (every CI machine has it),
    with the op library's objects of the core."""
    flags, *objects = core_build()
    namespace, level_flags = build_level("avx2")
    binary = tmp_path / "gemm_tiles"
    subprocess.run(["g++", *flags, *level_flags, f"-DTF_CONV1D_LEVEL_NAMESPACE={namespace}",
                    "python/benchmarks/gemm_tiles.cc", *objects, "-o", str(binary)],
                   check=True, cwd=ROOT, capture_output=True, timeout=300)
    line = subprocess.run([str(binary), "13", "40", "70", "3"], check=True, capture_output=True,
                          text=True, timeout=300).stdout.strip()
    assert line.startswith("tile 13 x 40 x 70: hot "), line
    rates = [float(line.split(label)[1].split(" GFLOP/s")[0]) for label in ("hot ", "cold ")]
    assert min(rates) > 0, line


VECTOR_LEVELS = [level for level in ("avx2", "avx512") if level in supported_levels()]


@pytest.mark.parametrize("level", VECTOR_LEVELS)
def test_fma_peak_program_rates_one_core(tmp_path, level):
    """Built as its header says, for each vector level this CPU has."""
    _, flags = build_level(level)
    binary = tmp_path / "fma_peak"
    subprocess.run(["g++", "-O2", *flags, "python/benchmarks/fma_peak.cc", "-o", str(binary)],
                   check=True, cwd=ROOT, capture_output=True, timeout=300)
    lines = subprocess.run([str(binary)], check=True, capture_output=True, text=True,
                           timeout=300).stdout.splitlines()
    lanes = {"avx2": 8, "avx512": 16}[level]
    rates = [line for line in lines if line.endswith(f"on this core ({lanes}-float vectors)")]
    assert rates and all(float(line.split()[0]) > 0 for line in rates), lines


@pytest.mark.parametrize("level", VECTOR_LEVELS)
def test_erfc_program_times_both_forms_within_the_error(tmp_path, level):
    """Built as its header says (not -march=native: g++ 12 cannot compile
    TensorFlow's Eigen for a CPU with AVX512-FP16)."""
    _, flags = build_level(level)
    binary = tmp_path / "erfc_bench"
    subprocess.run(["g++", "-O3", *flags, "-std=c++17", f"-I{tensorflow_include()}",
                    "python/benchmarks/erfc_bench.cc", "-o", str(binary)],
                   check=True, cwd=ROOT, capture_output=True, timeout=300)
    line = subprocess.run([str(binary)], check=True, capture_output=True, text=True,
                          timeout=300).stdout.strip()
    assert line.startswith("scalar ") and " ms per pass; max rel err eigen " in line, line
    errors = line.split("max rel err ")[1].split()  # eigen E scalar E
    assert errors[0::2] == ["eigen", "scalar"], line
    assert all(float(error) < 1e-4 for error in errors[1::2]), line


@pytest.mark.parametrize("level", VECTOR_LEVELS)
def test_store_bandwidth_program_rates_each_access(tmp_path, level):
    _, flags = build_level(level)
    binary = tmp_path / "store_bandwidth"
    subprocess.run(["g++", "-O2", *flags, "python/benchmarks/store_bandwidth.cc", "-pthread",
                    "-o", str(binary)], check=True, cwd=ROOT, capture_output=True, timeout=300)
    lines = subprocess.run([str(binary), "1"], check=True, capture_output=True, text=True,
                           timeout=300).stdout.splitlines()
    kinds = {line.split(",")[1].rsplit(None, 2)[0].strip() for line in lines}
    assert kinds == {"read", "store", "streamed store", "copy", "streamed copy"}, lines
    assert all(float(line.split()[-2]) > 0 for line in lines), lines


def test_core_ab_script_times_two_builds_of_the_core():
    """The working tree against itself (a directory as build B), one small
    shape: both builds compile, link and run at this CPU's best level."""
    result = subprocess.run(
        ["bash", "python/benchmarks/core_ab.sh", ".", "2", "40", "8", "12", "3", "1", "1",
         "same", "forward", "3"],
        capture_output=True, text=True, cwd=ROOT, timeout=900,
        env={**{k: v for k, v in os.environ.items() if k != "TF_CONV1D_ISA"},
             "PYTHON": sys.executable})
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert lines[-2] == f"core_ab: level {supported_levels()[-1]}", lines
    assert lines[-1].startswith("forward: A ") and " B/A " in lines[-1], lines


def test_depthwise_speed_program_times_both_sides_against_a_copy():
    out = run_program("depthwise_speed", "--shapes", "conformer", "--repeats", "1")
    line = next(line for line in out.splitlines() if line.startswith("conformer: copy "))
    times = [float(line.split(label)[1].split(" ms")[0])
             for label in ("forward ours ", "stock ", "train ours ")]
    assert all(t > 0 for t in times), line


def test_streaming_generation_program_agrees_with_the_stock_stack_and_times_it():
    out = run_program("streaming_generation", "--steps", "20", "--layers", "2",
                      "--channels", "8", "--latency-steps", "5")
    difference = next(line for line in out.splitlines() if "largest difference" in line)
    assert float(difference.split(": ")[1].split()[0]) < 1e-5, out
    assert "ratio (streaming op / recompute): " in out, out


def test_demo_layers_program_times_each_layer_of_the_demo():
    rows = [line.split() for line in run_program("demo_layers").splitlines() if " stock " in line]
    assert len(rows) == 4, rows
    assert all(float(row[3]) > 0 and float(row[6]) > 0 for row in rows), rows
