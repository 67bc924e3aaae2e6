#!/usr/bin/env bash
# Coverage-guided fuzzing of the framework-free CPU core with libFuzzer,
# AddressSanitizer and UndefinedBehaviorSanitizer (tests/native/core_fuzz.cc).
# On demand only (needs clang; Debian: apt-get install clang).
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
"$clangxx" -std=c++17 -O1 -g -march=${TF_CONV1D_MARCH:-native} -I. -isystem "$eigen" \
  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
  tests/native/core_fuzz.cc cc/kernels/core/conv1d_geometry.cc cc/kernels/core/activations.cc \
  cc/kernels/core/conv1d_cpu.cc cc/kernels/core/gemm_kernel.cc cc/kernels/core/output_pages.cc \
  -o "$out/core_fuzz" -pthread
"$out/core_fuzz" -max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="$out/" "$@" "$out/corpus"
