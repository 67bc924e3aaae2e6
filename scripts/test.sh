#!/usr/bin/env bash
# The test suite, run inside the environment scripts/run.sh prepared, then the
# op tests against the Bazel-built library (scripts/bazel_test.sh; skip that
# with TF_CONV1D_SKIP_BAZEL=1 where Bazel cannot be installed).
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pytest -q -p no:cacheprovider tests "$@"
if [ "${TF_CONV1D_SKIP_BAZEL:-0}" = 1 ]; then
  echo "test.sh: skipping the Bazel build (TF_CONV1D_SKIP_BAZEL=1)"
else
  bash scripts/bazel_test.sh
fi
