#!/usr/bin/env bash
# The test suite, run inside the environment scripts/run.sh prepared.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pytest -q -p no:cacheprovider tests "$@"
