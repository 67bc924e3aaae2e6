"""Times each pass of one problem on the GPU apart: forward, input gradient,
filter gradient. Also times torch's copy and silu of the input tensor, the
memory-bound baselines at that size. Run it under a profiler to see one
pass's kernels, e.g.

    python python/gpu_check/profile_ops.py --dtype float16
    python python/gpu_check/profile_ops.py --kernels   # each kernel's time
    python python/gpu_check/profile_ops.py --shape all --dtype float16,float32 --kernels
    ncu --clock-control none -k regex:Packed --launch-count 4 \\
        python python/gpu_check/profile_ops.py --iterations 1

The shape is one bench.py line: batch, steps, in_channels, filters, kernel,
stride, dilation, padding, activation, groups (NWC).
"""
import argparse
import os
import sys

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from python.gpu_check import bench, build, core, reference  # noqa: E402


def bench_shapes():
    """bench.py's shapes as --shape strings (groups 1 for the dense ones)."""
    shapes = [s + (1,) for s in bench.SHAPES] + list(bench.DEPTHWISE_SHAPES)
    return [",".join(str(field) for field in shape) for shape in shapes]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", action="append",
                        help="repeatable; 'all' for bench.py's shapes "
                             "(default: the Mamba block's)")
    parser.add_argument("--dtype", default="float16",
                        help="one or more of " + ",".join(bench.DTYPES) + ", comma-separated")
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--kernels", action="store_true",
                        help="also list each pass's kernels and their device time "
                             "(torch.profiler)")
    args = parser.parse_args(argv)
    shapes = args.shape or ["8,2048,1536,1536,4,1,1,CAUSAL,silu,1536"]
    if "all" in shapes:
        shapes = bench_shapes()
    dtypes = args.dtype.split(",")
    unknown = set(dtypes) - set(bench.DTYPES)
    if unknown:
        parser.error(f"--dtype: {sorted(unknown)} not among {bench.DTYPES}")
    import torch

    major, minor = torch.cuda.get_device_capability()
    library = core.Library(build.build_cuda([10 * major + minor]))
    memory = core.TorchMemory()
    bench.WARMUP, bench.ITERATIONS = 1, args.iterations
    for shape in shapes:
        for dtype in dtypes:
            profile(torch, library, memory, shape, dtype, args.iterations, args.kernels)
    return 0


def profile(torch, library, memory, shape, dtype, iterations, kernels):
    """Prints the time of each pass of one problem, its kernels' times if
    asked, and torch's copy and silu of a tensor of the input's size."""
    fields = shape.split(",")
    batch, steps, cin, filters, kernel, stride, dilation = map(int, fields[:7])
    padding, activation, groups = fields[7], fields[8], int(fields[9])
    problem = core.Problem(batch, steps, cin, kernel, filters, stride, dilation, padding, "NWC",
                           activation, groups=groups)
    rng = np.random.default_rng(0)
    rounded = lambda a: reference.round_to(a, dtype)  # noqa: E731
    passes = core.Passes(library, memory, problem, dtype,
                         rounded(rng.normal(size=problem.input_shape())),
                         rounded(rng.normal(size=problem.filter_shape()) / kernel),
                         rounded(rng.normal(size=filters)),
                         rounded(rng.normal(size=problem.output_shape())))
    size = torch.tensor([], dtype=getattr(torch, dtype)).element_size()
    tensor_mb = np.prod(problem.input_shape()) * size / 1e6
    print(f"{problem} {dtype}, {iterations} iterations; the input is {tensor_mb:.1f} MB")
    for name, op in (("forward", core.FORWARD), ("input gradient", core.BACKPROP_INPUT),
                     ("filter gradient", core.BACKPROP_FILTER)):
        ms = bench.time_ms(torch, lambda: passes.run(op))
        print(f"{name:16s} {ms:8.4f} ms")
        if kernels:
            for kernel_name, us in kernel_times_us(torch, lambda: passes.run(op)):
                print(f"    {us:9.1f} us  {kernel_name}")
    source = torch.empty(problem.input_shape(), dtype=getattr(torch, dtype), device="cuda")
    target = torch.empty_like(source)
    ms = bench.time_ms(torch, lambda: target.copy_(source))
    print(f"torch copy       {ms:8.4f} ms  {2 * tensor_mb / ms:.0f} GB/s")
    ms = bench.time_ms(torch, lambda: torch.nn.functional.silu(source, inplace=False))
    print(f"torch silu       {ms:8.4f} ms  {2 * tensor_mb / ms:.0f} GB/s")


def kernel_times_us(torch, fn, calls=5):
    """[(kernel name, mean device microseconds per call)] of fn's kernels,
    longest first: which of a pass's launches (pre-pass, GEMM, partial sums)
    holds its time."""
    fn()
    torch.cuda.synchronize()
    activities = [torch.profiler.ProfilerActivity.CUDA]
    with torch.profiler.profile(activities=activities) as profile:
        for _ in range(calls):
            fn()
        torch.cuda.synchronize()
    totals = {}
    for event in profile.events():
        if event.device_type == torch.autograd.DeviceType.CUDA:
            name = event.name if len(event.name) <= 100 else event.name[:97] + "..."
            totals[name] = totals.get(name, 0.0) + event.device_time_total / calls
    return sorted(totals.items(), key=lambda item: -item[1])


if __name__ == "__main__":
    sys.exit(main())
