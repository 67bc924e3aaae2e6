"""The framework-free CPU core, built without TensorFlow under sanitizers.

scripts/sanitize.sh compiles the core as the library does (the passes once per
instruction-set level) with tests/native/core_test.cc (forward and both
gradients against a naive double implementation, edge sizes included, serial
and on several threads with bitwise-equal results) and runs it.
AddressSanitizer + UndefinedBehaviorSanitizer run by default at the best level
(the only one instrumented: SANITIZE_LEVEL);
set TF_CONV1D_SANITIZERS=asan,tsan to add ThreadSanitizer (about a minute
more). Every level this CPU supports also runs without sanitizers, forced with
TF_CONV1D_ISA, so each vector path is tested wherever CI lands.
"""
import os
import re
import shutil
import subprocess
import sys

import pytest

from tests.support import REPO
from tests.support.cpu_levels import LEVELS, supported_levels

ROOT = REPO
CONFIGS = os.environ.get("TF_CONV1D_SANITIZERS", "asan").split(",")
RANDOM_CASES = {"asan": 600, "tsan": 200}


NO_COMPILER = shutil.which(os.environ.get("CXX", "g++")) is None


def run_core_test(config, cases, level=None):
    env = dict(os.environ, PYTHON=sys.executable)
    env.pop("TF_CONV1D_ISA", None)
    if level:
        env["TF_CONV1D_ISA"] = level
    if config != "plain":
        # Only the level that runs is instrumented (the others just link).
        env["SANITIZE_LEVEL"] = level or supported_levels()[-1]
    proc = subprocess.run(["bash", os.path.join(ROOT, "scripts", "sanitize.sh"), config,
                           str(cases)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    report = proc.stdout[-6000:] + proc.stderr[-6000:]
    assert proc.returncode == 0, f"sanitize.sh {config} failed:\n{report}"
    summary = re.search(r"core_test: (\d+) cases .* (\d+) failures", proc.stdout)
    assert summary and int(summary.group(1)) > 1000 and summary.group(2) == "0", report
    ran = re.search(r"core_test: level (\w+)", proc.stdout)
    assert ran and ran.group(1) == (level or supported_levels()[-1]), report


@pytest.mark.skipif(NO_COMPILER, reason="no C++ compiler")
@pytest.mark.parametrize("config", CONFIGS)
def test_core_is_clean_under_sanitizer(config):
    run_core_test(config, RANDOM_CASES.get(config, 200))


@pytest.mark.skipif(NO_COMPILER, reason="no C++ compiler")
@pytest.mark.parametrize("level", LEVELS)
def test_core_at_each_level(level):
    if level not in supported_levels():
        pytest.skip(f"this CPU does not support the {level} level")
    run_core_test("plain", 200, level)
