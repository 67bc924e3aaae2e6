#!/usr/bin/env bash
# Every GPU check of a session with a lent GPU, in one call (device time is
# scarce and each machine start costs minutes): the build, the full
# correctness sweep, the timing against cuDNN, each benchmark pass's kernels
# timed apart (where the next change should go), Nsight Compute's view of
# the kernels of the open leads, and the quick sweep under
# compute-sanitizer's memcheck and racecheck. Each step has its own time limit
# and log, so one that crashes or hangs leaves the others' results.
#
#   bash python/gpu_check/on_device.sh        # logs to $OUT, else ./gpu_logs
set -u
out=${OUT:-gpu_logs}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
python=${PYTHON:-python3}
run="$python python/gpu_check/run.py"

step() {
    local name=$1 limit=$2
    shift 2
    echo "== $name: $*"
    local start=$SECONDS
    timeout "$limit" "$@" > "$out/$name.log" 2>&1
    echo "== $name: rc $? after $((SECONDS - start)) s"
    tail -n "${TAIL_LINES:-30}" "$out/$name.log"
}

nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv \
    > "$out/device.txt" 2>&1
"$python" -c "import torch, numpy; print('torch', torch.__version__, 'numpy', numpy.__version__)" \
    >> "$out/device.txt" 2>&1
cat "$out/device.txt"
# This GPU's architecture alone, as run.py builds by default: one build, cached.
arch=$("$python" -c "import torch; major, minor = torch.cuda.get_device_capability(); print(10 * major + minor)")
step build 120 "$python" -m python.gpu_check.build --archs "$arch"
step sweep 120 $run --no-bench --verbose
step bench 150 $run --quick
step kernels 150 "$python" python/gpu_check/profile_ops.py --shape all --dtype float16,float32 \
    --kernels --iterations 20
# Nsight Compute on the kernels the open leads are about (docs/cuda.md,
# "Kernel by kernel"): throughput, occupancy and stall reasons of the dense
# forward GEMM, the col2im input gradient and the packed depthwise filter
# gradient.
if command -v ncu > /dev/null; then
    profile="$python python/gpu_check/profile_ops.py --iterations 1"
    sections="--section SpeedOfLight --section Occupancy --section WarpStateStats"
    step ncu_pointwise 90 ncu --clock-control none $sections -k regex:ForwardKernel \
        --launch-count 1 $profile --shape 32,1024,256,256,1,1,1,VALID,linear,1 --dtype float16
    step ncu_audio 90 ncu --clock-control none $sections \
        -k regex:'ForwardKernel|GatherColumns|BackpropInputKernel' --launch-count 4 \
        $profile --shape 8,16000,1,64,80,4,1,VALID,relu,1 --dtype float32
    step ncu_mamba 90 ncu --clock-control none $sections -k regex:PackedFilterGrad \
        --launch-count 1 $profile --dtype float32
fi
step memcheck 100 compute-sanitizer --tool memcheck --error-exitcode 9 $run --quick --no-bench
step racecheck 60 compute-sanitizer --tool racecheck --error-exitcode 9 \
    $run --quick --no-bench --dtypes float16,float32
