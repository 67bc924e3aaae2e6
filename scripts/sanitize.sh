#!/usr/bin/env bash
# Builds the framework-free CPU core with its standalone test driver
# (tests/native/core_test.cc) under sanitizers, without TensorFlow, and runs it.
#
#   scripts/sanitize.sh [asan|tsan|plain] [random_cases] [seed]
#
# The core is built as in the library, its passes once per instruction-set
# level (scripts/core_objects.sh); the driver runs the level TF_CONV1D_ISA
# names (baseline, avx2, avx512), by default the best this CPU supports.
# asan (default): AddressSanitizer + UndefinedBehaviorSanitizer, any report fatal.
# tsan: ThreadSanitizer. plain: no sanitizer: the drivers linked with the op
# library's own objects (build/op_library, shared with pip install: see
# `python -m build_tools.op_library core`), so they test the code the library
# runs and a checkout compiles the core once.
# SANITIZE_LEVEL (asan, tsan: a level's name) instruments only that level's
# passes and runs it; the other levels' are compiled at -O0 without a
# sanitizer, only to complete the dispatch table (a third of the build time).
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
  plain) flags=() ;;
  *) echo "sanitize.sh: unknown config $config (asan, tsan or plain)" >&2; exit 2 ;;
esac

# Rebuild only when a source, the flags or (plain) one of the library's objects change.
out=build/sanitize/$config${SANITIZE_LEVEL:+-$SANITIZE_LEVEL}
binary=$out/core_test
common=(-std=c++17 -g -fno-omit-frame-pointer -I. -isystem "$EIGEN_INCLUDE"
        -Wall -Wno-deprecated-declarations -Wno-maybe-uninitialized "${flags[@]}")
if [ -n "${SANITIZE_LEVEL:-}" ] && [ "$config" != plain ]; then
  export CORE_ONLY_LEVEL=$SANITIZE_LEVEL TF_CONV1D_ISA=$SANITIZE_LEVEL
  CORE_OTHER_LEVEL_FLAGS=(-std=c++17 -O0 -I. -isystem "$EIGEN_INCLUDE" -w)
fi
objects=""
if [ "$config" = plain ]; then
  mapfile -t core < <("$python" -m build_tools.op_library core)
  [ "${#core[@]}" -gt 1 ] || { echo "sanitize.sh: building the core's objects failed" >&2; exit 2; }
  # shellcheck disable=SC2206  # the first line is the library's compile flags, as words
  common=(-g -fno-omit-frame-pointer -Wall -Wno-maybe-uninitialized ${core[0]})
  CORE_OBJECTS=("${core[@]:1}")
  objects=$(stat -c '%n %Y' "${CORE_OBJECTS[@]}")
fi
stamp=$(cat cc/kernels/core/*.cc cc/kernels/core/*.h tests/native/*.cc tests/native/*.h \
            build_tools/cpu_levels.py scripts/core_objects.sh | cksum | cut -d' ' -f1)-$(echo "$cxx ${common[*]} $EIGEN_INCLUDE ${TF_CONV1D_MARCH:-} $objects" | cksum | cut -d' ' -f1)
if [ ! -x "$binary" ] || [ "$(cat "$out/stamp" 2>/dev/null)" != "$stamp" ]; then
  mkdir -p "$out"
  if [ "$config" != plain ]; then
    source scripts/core_objects.sh
    PYTHON=$python compile_core "$out" "$cxx" "${common[@]}"
  fi
  for driver in core_test level_smoke; do
    "$cxx" "${common[@]}" -c "tests/native/$driver.cc" -o "$out/$driver.o"
    "$cxx" "${common[@]}" "$out/$driver.o" "${CORE_OBJECTS[@]}" -o "$out/$driver" -pthread
  done
  echo "$stamp" > "$out/stamp"
fi
# SANITIZE_BUILD_ONLY=1: build both drivers (core_test, and the small
# level_smoke that tests/core/test_core_emulated_cpus.py runs under qemu), run none.
[ "${SANITIZE_BUILD_ONLY:-0}" = 1 ] && exit 0
echo "sanitize.sh: running $binary ($config, level ${TF_CONV1D_ISA:-the best}, $cases random cases, seed $seed)"
"$binary" "$cases" "$seed"
