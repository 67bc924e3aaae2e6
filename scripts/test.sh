#!/usr/bin/env bash
# The test suite, run inside the environment scripts/run.sh prepared; the Keras
# layer tests again under Keras 2; then the op tests against the Bazel-built
# library (scripts/bazel_test.sh; skip that with TF_CONV1D_SKIP_BAZEL=1 where
# Bazel cannot be installed).
set -euo pipefail
cd "$(dirname "$0")/.."
# The slowest tests are listed, so that CI's time budget can be watched.
python -m pytest -q -p no:cacheprovider --durations=20 tests "$@"
# The Keras layer tests again under Keras 2 (tf-keras). TensorFlow reads
# TF_USE_LEGACY_KERAS when it first imports Keras, hence a separate run.
# Exit status 5 (arguments that select none of these tests) is no failure.
status=0
TF_USE_LEGACY_KERAS=1 python -m pytest -q -p no:cacheprovider tests/layer/test_layer*.py "$@" || status=$?
[ "$status" = 0 ] || [ "$status" = 5 ] || exit "$status"
if [ "${TF_CONV1D_SKIP_BAZEL:-0}" = 1 ]; then
  echo "test.sh: skipping the Bazel build (TF_CONV1D_SKIP_BAZEL=1)"
else
  bash scripts/bazel_test.sh
fi
