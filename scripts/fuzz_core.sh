#!/usr/bin/env bash
# Coverage-guided fuzzing of the framework-free CPU core with libFuzzer,
# AddressSanitizer and UndefinedBehaviorSanitizer (tests/native/core_fuzz.cc).
# On demand only (needs clang; Debian: apt-get install clang). The core is
# built as in the library (scripts/core_objects.sh); TF_CONV1D_ISA picks the
# level the fuzzer runs.
#
#   scripts/fuzz_core.sh [seconds] [extra libFuzzer flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
python=${PYTHON:-python}
clangxx=${CLANGXX:-$(command -v clang++ || command -v clang++-14 || true)}
[ -n "$clangxx" ] || { echo "fuzz_core.sh: clang++ not found" >&2; exit 2; }
eigen=${EIGEN_INCLUDE:-$("$python" -c 'import tensorflow as tf; print(tf.sysconfig.get_include())')}
out=build/fuzz
mkdir -p "$out/corpus"
flags=(-std=c++17 -O1 -g -I. -isystem "$eigen" -fno-sanitize-recover=all)
source scripts/core_objects.sh
PYTHON=$python compile_core "$out/objects" "$clangxx" "${flags[@]}" -fsanitize=fuzzer-no-link,address,undefined
"$clangxx" "${flags[@]}" -fsanitize=fuzzer,address,undefined tests/native/core_fuzz.cc \
  "${CORE_OBJECTS[@]}" -o "$out/core_fuzz" -pthread
"$out/core_fuzz" -max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="$out/" "$@" "$out/corpus"
