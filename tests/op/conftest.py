"""The devices the op's correctness tests run on: the CPU always, the GPU when
TensorFlow sees one, so that a machine with a GPU runs the same cases on both
kernels. A test takes the `device` fixture and runs inside tf.device: the
grid, the finite-difference, non-finite, multi-tile and second-order tests
do (the Winograd ones are the CPU's own)."""
import pytest
import tensorflow as tf

from tests.support import RERUN_AGAINST_ANOTHER_BUILD

DEVICES = ["CPU"] + (["GPU"] if tf.config.list_physical_devices("GPU") else [])


def pytest_configure(config):
    # Registered here, not in pyproject.toml: the wheel's run uses a copy of
    # the tests without it.
    config.addinivalue_line(
        "markers", "main_run_only: a case of several seconds left out of the reruns "
        "against other builds (TF_CONV1D_GRID_SAMPLE=1)")


def pytest_collection_modifyitems(config, items):
    # A rerun against another build leaves out the cases marked main_run_only,
    # whose seconds go to code the main run has checked and cheaper cases reach
    # too (and takes a sample of the grid: test_fused_conv1d_grid.py).
    if not RERUN_AGAINST_ANOTHER_BUILD:
        return
    left_out = [item for item in items if item.get_closest_marker("main_run_only")]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if not item.get_closest_marker("main_run_only")]


@pytest.fixture(params=DEVICES)
def device(request):
    with tf.device(f"/{request.param}:0"):
        yield request.param
