#!/usr/bin/env bash
# Builds the framework-free CPU core with its standalone test driver
# (tests/native/core_test.cc) under sanitizers, without TensorFlow, and runs it.
#
#   scripts/sanitize.sh [asan|tsan|plain] [random_cases] [seed]
#
# TF_CONV1D_MARCH (default native) picks the instruction set, and with it the
# GEMM's vectors: e.g. x86-64-v4 (AVX-512), x86-64-v3 (AVX2), x86-64 (SSE2:
# the portable vector code).
# asan (default): AddressSanitizer + UndefinedBehaviorSanitizer, any report fatal.
# tsan: ThreadSanitizer. plain: no sanitizer (-O2), for a quick run.
# Eigen comes from the installed TensorFlow's headers (or EIGEN_INCLUDE).
set -euo pipefail
cd "$(dirname "$0")/.."
config=${1:-asan}
cases=${2:-400}
seed=${3:-20240601}
python=${PYTHON:-python}
cxx=${CXX:-g++}

if [ -z "${EIGEN_INCLUDE:-}" ]; then
  EIGEN_INCLUDE=$("$python" -c 'import tensorflow as tf; print(tf.sysconfig.get_include())' 2>/dev/null) ||
    EIGEN_INCLUDE=/usr/include/eigen3
fi
[ -f "$EIGEN_INCLUDE/Eigen/Core" ] || { echo "sanitize.sh: no Eigen/Core under $EIGEN_INCLUDE" >&2; exit 2; }

case "$config" in
  asan) flags=(-O1 -fsanitize=address,undefined,float-cast-overflow -fno-sanitize-recover=all)
        export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1}
        export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} ;;
  tsan) flags=(-O1 -fsanitize=thread)
        export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1} ;;
  plain) flags=(-O2) ;;
  *) echo "sanitize.sh: unknown config $config (asan, tsan or plain)" >&2; exit 2 ;;
esac

# Rebuild only when a source or the flags change.
sources=(tests/native/core_test.cc cc/kernels/core/conv1d_geometry.cc
         cc/kernels/core/activations.cc cc/kernels/core/conv1d_cpu.cc
         cc/kernels/core/gemm_kernel.cc cc/kernels/core/output_pages.cc)
march=${TF_CONV1D_MARCH:-native}
out=build/sanitize/$config-$march
binary=$out/core_test
stamp=$(cat "${sources[@]}" cc/kernels/core/*.h tests/native/*.h | cksum | cut -d' ' -f1)-$(echo "$cxx ${flags[*]} $march $EIGEN_INCLUDE" | cksum | cut -d' ' -f1)
if [ ! -x "$binary" ] || [ "$(cat "$out/stamp" 2>/dev/null)" != "$stamp" ]; then
  mkdir -p "$out"
  common=(-std=c++17 -g -fno-omit-frame-pointer -march=$march -I. -isystem "$EIGEN_INCLUDE"
          -Wall -Wno-deprecated-declarations "${flags[@]}")
  pids=()
  for src in "${sources[@]}"; do
    "$cxx" "${common[@]}" -c "$src" -o "$out/$(basename "$src").o" & pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid"; done
  "$cxx" "${common[@]}" "$out"/*.o -o "$binary" -pthread
  echo "$stamp" > "$out/stamp"
fi
echo "sanitize.sh: running $binary ($config, -march=$march, $cases random cases, seed $seed)"
"$binary" "$cases" "$seed"
