"""The CPU passes on CPUs this machine is not: qemu's user-mode emulator runs
the core's small level_smoke driver (tests/native/level_smoke.cc, built as
the library is, every level linked in) as a Haswell (AVX2, no AVX-512) and as
a Nehalem (SSE4.2, no AVX). It must pick the level such a CPU has and compute
the right results with no illegal instruction: a copy of a shared inline
function compiled for a higher level, or a wrong cpuid test, would end it
with SIGILL. And forcing a level the emulated CPU lacks must be refused.
The portable path (the baseline alone, GCC's generic vectors) is also built
with the aarch64 cross compiler and run under qemu-aarch64.

Needs qemu-x86_64 and, for aarch64, qemu-aarch64 and aarch64-linux-gnu-g++
(Debian: apt-get install qemu-user g++-aarch64-linux-gnu; .ci/run installs them).
"""
import os
import shutil
import subprocess
import sys

import pytest

from tests.support import REPO

ROOT = REPO
QEMU = shutil.which("qemu-x86_64")
X86_64_TOOLS = pytest.mark.skipif(
    QEMU is None or os.uname().machine != "x86_64" or shutil.which("g++") is None,
    reason="needs qemu-x86_64 (apt-get install qemu-user) and g++ on x86-64")
AARCH64_CXX = shutil.which("aarch64-linux-gnu-g++")
QEMU_AARCH64 = shutil.which("qemu-aarch64")

# qemu's CPU models and the level each has.
EMULATED = {"Haswell": "avx2", "Nehalem": "baseline"}


@pytest.fixture(scope="module")
def level_smoke():
    env = dict(os.environ, PYTHON=sys.executable, SANITIZE_BUILD_ONLY="1")
    proc = subprocess.run(["bash", "scripts/sanitize.sh", "plain"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return os.path.join(ROOT, "build", "sanitize", "plain", "level_smoke")


def emulate(binary, cpu, **env):
    environment = {k: v for k, v in os.environ.items() if k != "TF_CONV1D_ISA"}
    environment.update(env)
    return subprocess.run([QEMU, "-cpu", cpu, binary], env=environment, capture_output=True,
                          text=True, timeout=600)


@X86_64_TOOLS
@pytest.mark.parametrize("cpu", sorted(EMULATED))
def test_the_level_the_cpu_has_runs_correctly(level_smoke, cpu):
    proc = emulate(level_smoke, cpu)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    assert f"level_smoke: level {EMULATED[cpu]}" in proc.stdout
    assert "20 cases, 0 failures" in proc.stdout


@X86_64_TOOLS
@pytest.mark.parametrize("cpu,forced", [("Haswell", "avx512"), ("Nehalem", "avx2")])
def test_forcing_a_level_the_cpu_lacks_is_refused(level_smoke, cpu, forced):
    proc = emulate(level_smoke, cpu, TF_CONV1D_ISA=forced)
    assert proc.returncode == 2
    assert f"TF_CONV1D_ISA: this CPU does not support the {forced} level" in proc.stderr


@pytest.mark.skipif(AARCH64_CXX is None or QEMU_AARCH64 is None,
                    reason="needs aarch64-linux-gnu-g++ and qemu-aarch64 "
                           "(apt-get install g++-aarch64-linux-gnu qemu-user)")
def test_the_portable_path_builds_and_runs_on_aarch64(tmp_path):
    import tensorflow as tf

    script = (
        "source scripts/core_objects.sh && "
        f"CORE_MACHINE=aarch64 compile_core {tmp_path} {AARCH64_CXX} $FLAGS && "
        f"{AARCH64_CXX} $FLAGS tests/native/level_smoke.cc \"${{CORE_OBJECTS[@]}}\" "
        f"-o {tmp_path}/level_smoke -static -pthread")
    flags = f"-std=c++17 -O2 -I. -isystem {tf.sysconfig.get_include()} -Wno-deprecated-declarations"
    build = subprocess.run(["bash", "-c", script], cwd=ROOT, capture_output=True, text=True,
                           env=dict(os.environ, PYTHON=sys.executable, FLAGS=flags), timeout=1200)
    assert build.returncode == 0, build.stderr[-4000:]
    proc = subprocess.run([QEMU_AARCH64, str(tmp_path / "level_smoke")], capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    assert "level_smoke: level baseline" in proc.stdout
    assert "20 cases, 0 failures" in proc.stdout
