#!/usr/bin/env bash
# Run by `bazel test //:op_tests` as: PYTHON LIBRARY TEST_FILE...
# pytest on the test files, with the package from the runfiles and LIBRARY
# loaded instead of the package's own (see tf_conv1d_op/_library.py).
set -euo pipefail
python=$1 library=$2
shift 2
# A sample of the op grid (tests/op/test_fused_conv1d_grid.py says which).
export TF_CONV1D_OP_LIBRARY="$PWD/$library" PYTHONPATH="$PWD" TF_CONV1D_GRID_SAMPLE=1
"$python" -m tf_conv1d_op info
exec "$python" -m pytest -q -p no:cacheprovider "$@"
