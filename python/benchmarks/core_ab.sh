#!/usr/bin/env bash
# A/B timing of the CPU core: build A is the working tree's cc/kernels/core,
# build B another revision's (a git revision, or a directory holding a
# cc/kernels/core). Both run in one process, alternately (core_ab.cc).
#
#   bash python/benchmarks/core_ab.sh REVISION_OR_DIR BATCH STEPS IN_CH FILTERS KERNEL \
#        STRIDE DILATION PADDING PASS [TRIALS] [GROUPS] [ACTIVATION] [DTYPE] [STATE]
#   e.g. bash python/benchmarks/core_ab.sh HEAD~1 64 128 9 64 3 1 1 valid forward
#
# Needs g++ and TensorFlow's headers (for Eigen): PYTHON (default python3)
# must import tensorflow. Build B must have the per-level passes (cpu_passes.h),
# i.e. be a revision from the CPU levels on.
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
# Both builds at one instruction-set level (build_tools/cpu_levels.py): the one
# TF_CONV1D_ISA names, else the highest listed.
level=${TF_CONV1D_ISA:-$(python3 -m build_tools.cpu_levels levels | tail -1 | cut -d' ' -f1)}
read -r -a level_flags <<< "$(python3 -m build_tools.cpu_levels levels | awk -v l="$level" '$1 == l { $1 = ""; $2 = ""; print }')"
flags=(-std=c++17 -O3 -isystem "$tf_include")
# Each build's passes in its own namespace (cpu_level.h); the helpers they
# share (geometry, activations, page hints) come from A.
for unit in $(python3 -m build_tools.cpu_levels level-sources); do
  name=$(basename "$unit" .cc)
  g++ "${flags[@]}" "${level_flags[@]}" -I"$root" -DTF_CONV1D_LEVEL_NAMESPACE=isa_a \
      -c "$root/$unit" -o "$work/a_$name.o" &
  g++ "${flags[@]}" "${level_flags[@]}" -I"$b_root" -DTF_CONV1D_LEVEL_NAMESPACE=isa_b \
      -c "$b_root/$unit" -o "$work/b_$name.o" &
done
wait
# The core's shared sources but the dispatcher (this harness picks its builds
# itself) and the grouped passes (which call through it).
mapfile -t shared < <(cd "$root" && python3 -m build_tools.cpu_levels sources |
                      grep -v -e cpu_dispatch.cc -e grouped_cpu.cc)
g++ "${flags[@]}" "${level_flags[@]}" -I"$root" -o "$work/core_ab" "$root/python/benchmarks/core_ab.cc" \
    "$work"/*.o "${shared[@]/#/$root/}"
echo "core_ab: level $level"
"$work/core_ab" "$@"
