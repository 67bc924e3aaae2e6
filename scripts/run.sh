#!/usr/bin/env bash
# Sets up a fresh machine (virtual environment, dependencies, build), then runs
# one job: `demo` (the main job) or `test` (the whole test suite).
set -euo pipefail
cd "$(dirname "$0")/.."
job=${1:?usage: scripts/run.sh demo|test [pytest args...]}
shift
venv=${VENV:-.venv}
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check -r requirements-dev.txt
"$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps -r requirements-demo.txt
"$venv/bin/python" -m pip install -q --disable-pip-version-check --no-build-isolation --no-deps -e .
export PATH="$PWD/$venv/bin:$PATH"
case "$job" in
  demo) exec python -m tf_conv1d_op demo "$@" ;;
  test) exec bash scripts/test.sh "$@" ;;
  *) echo "unknown job: $job (expected demo or test)" >&2; exit 2 ;;
esac
