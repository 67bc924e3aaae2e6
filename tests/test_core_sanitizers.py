"""The framework-free CPU core, built without TensorFlow under sanitizers.

scripts/sanitize.sh compiles cc/kernels/core/*.cc with tests/native/core_test.cc
(forward and both gradients against a naive double implementation, edge sizes
included, serial and on several threads with bitwise-equal results) and runs
it. AddressSanitizer + UndefinedBehaviorSanitizer run by default; set
TF_CONV1D_SANITIZERS=asan,tsan to add ThreadSanitizer (about a minute more).
"""
import os
import re
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = os.environ.get("TF_CONV1D_SANITIZERS", "asan").split(",")
RANDOM_CASES = {"asan": 600, "tsan": 200}


@pytest.mark.skipif(shutil.which(os.environ.get("CXX", "g++")) is None, reason="no C++ compiler")
@pytest.mark.parametrize("config", CONFIGS)
def test_core_is_clean_under_sanitizer(config):
    env = dict(os.environ, PYTHON=sys.executable)
    proc = subprocess.run(["bash", os.path.join(ROOT, "scripts", "sanitize.sh"), config,
                           str(RANDOM_CASES.get(config, 200))],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    report = proc.stdout[-6000:] + proc.stderr[-6000:]
    assert proc.returncode == 0, f"sanitize.sh {config} failed:\n{report}"
    summary = re.search(r"core_test: (\d+) cases .* (\d+) failures", proc.stdout)
    assert summary and int(summary.group(1)) > 1000 and summary.group(2) == "0", report
