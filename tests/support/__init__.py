"""What the tests share: the float64 reference in TF ops (reference.py, over
python/gpu_check/reference.py, which the GPU harness evaluates in NumPy), running cases
in child processes (subprocess_cases.py), the helpers of the layer and
CPU-level tests, and the repository's root. The grids and tolerances are in
python/gpu_check/grids.py, shared with the GPU harness."""
import os

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
