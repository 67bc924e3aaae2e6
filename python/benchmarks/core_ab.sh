#!/usr/bin/env bash
# A/B timing of the CPU core: build A is the working tree's cc/kernels/core,
# build B another revision's (a git revision, or a directory holding a
# cc/kernels/core). Both run in one process, alternately (core_ab.cc).
#
#   bash python/benchmarks/core_ab.sh REVISION_OR_DIR BATCH STEPS IN_CH FILTERS KERNEL \
#        STRIDE DILATION PADDING PASS [TRIALS]
#   e.g. bash python/benchmarks/core_ab.sh HEAD~1 64 128 9 64 3 1 1 valid forward
#
# Needs g++ and TensorFlow's headers (for Eigen): PYTHON (default python3)
# must import tensorflow.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
other=$1
shift
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [[ -d $other ]]; then
  b_root=$(cd "$other" && pwd)
else
  b_root=$work/b
  mkdir -p "$b_root"
  git -C "$root" archive "$other" cc/kernels/core | tar -x -C "$b_root"
fi
tf_include=$("${PYTHON:-python3}" -c "import tensorflow as tf; print(tf.sysconfig.get_include())" 2>/dev/null)
flags=(-std=c++17 -O3 "-march=${TF_CONV1D_MARCH:-native}" -isystem "$tf_include")
rename=(-Dgemm=gemm_b -Dcpu_tiles=cpu_tiles_b -DFusedConv1DForwardCpu=ForwardB
        -DFusedConv1DBackpropInputCpu=BackpropInputB -DFusedConv1DBackpropFilterCpu=BackpropFilterB)
# The two builds differ in the passes and the GEMM; the helpers they share
# (geometry, activations, page hints) come from A.
for unit in conv1d_cpu gemm_kernel; do
  g++ "${flags[@]}" -I"$root" -c "$root/cc/kernels/core/$unit.cc" -o "$work/a_$unit.o" &
  g++ "${flags[@]}" -I"$b_root" "${rename[@]}" -c "$b_root/cc/kernels/core/$unit.cc" \
      -o "$work/b_$unit.o" &
done
wait
g++ "${flags[@]}" -I"$root" -o "$work/core_ab" "$root/python/benchmarks/core_ab.cc" "$work"/*.o \
    "$root"/cc/kernels/core/{conv1d_geometry,activations,output_pages}.cc
"$work/core_ab" "$@"
