"""What the tests share: the float64 reference in TF ops (reference.py, over
python/gpu_check/reference.py, which the GPU harness evaluates in NumPy), running cases
in child processes (subprocess_cases.py), the helpers of the layer and
CPU-level tests, and the repository's root. The grids and tolerances are in
python/gpu_check/grids.py, shared with the GPU harness."""
import os

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Set (to "1") where the op tests rerun against another build of the same
# sources (the Bazel stage, the installed wheel): they then take a sample
# (tests/op/conftest.py, test_fused_conv1d_grid.py).
RERUN_AGAINST_ANOTHER_BUILD = os.environ.get("TF_CONV1D_GRID_SAMPLE") == "1"
