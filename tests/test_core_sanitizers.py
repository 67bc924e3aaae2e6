"""The framework-free CPU core, built without TensorFlow under sanitizers.

scripts/sanitize.sh compiles cc/kernels/core/*.cc with tests/native/core_test.cc
(forward and both gradients against a naive double implementation, edge sizes
included, serial and on several threads with bitwise-equal results) and runs
it. AddressSanitizer + UndefinedBehaviorSanitizer run by default; set
TF_CONV1D_SANITIZERS=asan,tsan to add ThreadSanitizer (about a minute more).
The same test also runs without sanitizers for the instruction sets other
than the build machine's that this CPU can execute (AVX2, SSE2), so every
vector type of the GEMM is tested wherever CI lands.
"""
import os
import platform
import re
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = os.environ.get("TF_CONV1D_SANITIZERS", "asan").split(",")
RANDOM_CASES = {"asan": 600, "tsan": 200}


# The GEMM has one vector type per instruction set; the build machine's
# (-march=native) is only one of them. x86-64-v3 is AVX2 with FMA, x86-64
# the portable vector code.
OTHER_VECTOR_WIDTHS = {"x86-64-v3": ("avx2", "fma"), "x86-64": ()}
NO_COMPILER = shutil.which(os.environ.get("CXX", "g++")) is None


def cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            return next((line.split(":", 1)[1].split() for line in f
                         if line.startswith("flags")), [])
    except OSError:
        return []


def run_core_test(config, cases, march=None):
    env = dict(os.environ, PYTHON=sys.executable)
    if march:
        env["TF_CONV1D_MARCH"] = march
    proc = subprocess.run(["bash", os.path.join(ROOT, "scripts", "sanitize.sh"), config,
                           str(cases)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    report = proc.stdout[-6000:] + proc.stderr[-6000:]
    assert proc.returncode == 0, f"sanitize.sh {config} failed:\n{report}"
    summary = re.search(r"core_test: (\d+) cases .* (\d+) failures", proc.stdout)
    assert summary and int(summary.group(1)) > 1000 and summary.group(2) == "0", report


@pytest.mark.skipif(NO_COMPILER, reason="no C++ compiler")
@pytest.mark.parametrize("config", CONFIGS)
def test_core_is_clean_under_sanitizer(config):
    run_core_test(config, RANDOM_CASES.get(config, 200))


@pytest.mark.skipif(NO_COMPILER, reason="no C++ compiler")
@pytest.mark.parametrize("march", sorted(OTHER_VECTOR_WIDTHS))
def test_core_with_other_vector_widths(march):
    if platform.machine() not in ("x86_64", "AMD64"):
        pytest.skip("x86-64 instruction sets")
    missing = [f for f in OTHER_VECTOR_WIDTHS[march] if f not in cpu_flags()]
    if missing:
        pytest.skip(f"this CPU lacks {missing}")
    run_core_test("plain", 200, march)
