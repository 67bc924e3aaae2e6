"""Times each pass of one problem on the GPU apart: forward, input gradient,
filter gradient. Also times torch's copy and silu of the input tensor, the
memory-bound baselines at that size. Run it under a profiler to see one
pass's kernels, e.g.

    python python/gpu_check/profile_ops.py --dtype float16
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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", default="8,2048,1536,1536,4,1,1,CAUSAL,silu,1536")
    parser.add_argument("--dtype", default="float16", choices=bench.DTYPES)
    parser.add_argument("--iterations", type=int, default=20)
    args = parser.parse_args(argv)
    import torch

    fields = args.shape.split(",")
    batch, steps, cin, filters, kernel, stride, dilation = map(int, fields[:7])
    padding, activation, groups = fields[7], fields[8], int(fields[9])
    problem = core.Problem(batch, steps, cin, kernel, filters, stride, dilation, padding, "NWC",
                           activation, groups=groups)
    major, minor = torch.cuda.get_device_capability()
    library = core.Library(build.build_cuda([10 * major + minor]))
    memory = core.TorchMemory()
    rng = np.random.default_rng(0)
    dtype = args.dtype
    rounded = lambda a: reference.round_to(a, dtype)  # noqa: E731
    passes = core.Passes(library, memory, problem, dtype,
                         rounded(rng.normal(size=problem.input_shape())),
                         rounded(rng.normal(size=problem.filter_shape()) / kernel),
                         rounded(rng.normal(size=filters)),
                         rounded(rng.normal(size=problem.output_shape())))
    bench.WARMUP, bench.ITERATIONS = 1, args.iterations
    size = torch.tensor([], dtype=getattr(torch, dtype)).element_size()
    tensor_mb = np.prod(problem.input_shape()) * size / 1e6
    print(f"{problem} {dtype}, {args.iterations} iterations; the input is {tensor_mb:.1f} MB")
    for name, op in (("forward", core.FORWARD), ("input gradient", core.BACKPROP_INPUT),
                     ("filter gradient", core.BACKPROP_FILTER)):
        ms = bench.time_ms(torch, lambda: passes.run(op))
        print(f"{name:16s} {ms:8.4f} ms")
    source = torch.empty(problem.input_shape(), dtype=getattr(torch, dtype), device="cuda")
    target = torch.empty_like(source)
    ms = bench.time_ms(torch, lambda: target.copy_(source))
    print(f"torch copy       {ms:8.4f} ms  {2 * tensor_mb / ms / 1e3:.0f} GB/s")
    ms = bench.time_ms(torch, lambda: torch.nn.functional.silu(source, inplace=False))
    print(f"torch silu       {ms:8.4f} ms  {2 * tensor_mb / ms / 1e3:.0f} GB/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
