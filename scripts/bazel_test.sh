#!/usr/bin/env bash
# Builds the op library with Bazel and runs the op tests against it
# (`bazel test //:op_tests`; docs/bazel.md). Works offline: without bazelisk
# it uses Debian's bazel-bootstrap (`bazel-4`), which it installs with apt-get
# when run as root. Without Bazel and without root it skips, saying so, unless
# TF_CONV1D_REQUIRE_BAZEL=1 (as CI sets it: .ci/run). Extra arguments go to
# `bazel test` (e.g. --config=cuda).
#   PYTHON   the Python whose TensorFlow to build against (default: python on PATH)
#   BAZEL    the Bazel command (default: bazelisk, else bazel-4)
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-$(command -v python || command -v python3)}

find_bazel() {
  if [ -n "${BAZEL:-}" ]; then echo "$BAZEL"; return; fi
  # Debian's /usr/bin/bazel would look for the .bazelversion release; bazel-4
  # is the bootstrap binary itself.
  command -v bazelisk || command -v bazel-4
}

if ! bazel=$(find_bazel); then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "bazel_test: installing Debian's bazel-bootstrap" >&2
    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q bazel-bootstrap
    bazel=bazel-4
  else
    how="Install bazelisk, or Debian's bazel-bootstrap (apt-get install bazel-bootstrap, as root), or set BAZEL"
    if [ "${TF_CONV1D_REQUIRE_BAZEL:-0}" = 1 ]; then
      echo "bazel_test: no Bazel, and TF_CONV1D_REQUIRE_BAZEL=1. $how." >&2
      exit 1
    fi
    echo "bazel_test: NOTICE: skipping the Bazel build and its op tests: no Bazel, and not root to install it. $how to run them." >&2
    exit 0
  fi
fi

trap '"$bazel" shutdown' EXIT
"$bazel" test --repo_env=PYTHON_BIN_PATH="$python" --test_output=all --nocache_test_results \
  //:op_tests "$@"
