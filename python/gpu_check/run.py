"""Checks and times the CUDA core without TensorFlow.

    python -m python.gpu_check.run             # on a GPU machine with torch
    python python/gpu_check/run.py             # the same
    python -m python.gpu_check.run --emulate   # anywhere with g++ and CUDA headers

Builds the framework-free core (cc/kernels/core) into a small library, runs
forward and both gradients on random problems covering every padding, data
format, (stride, dilation) pair, activation and dtype against the float64
NumPy reference, then (GPU only) times forward and forward + backward on the
benchmark shapes against cuDNN (torch conv1d + bias + activation). Prints a
table of max relative errors and one of time ratios (cuDNN time / ours);
exits with 1 if any error exceeds its dtype's tolerance.
"""
import argparse
import os
import sys

import numpy as np

if __package__ in (None, ""):
    # Run as a file (python python/gpu_check/run.py): the package lives two
    # folders up, at the repository root.
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from python.gpu_check import build, core, reference, report, sweep


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--emulate", action="store_true",
                        help="run the kernels on the CPU through the host emulation (no timing)")
    parser.add_argument("--fma", action="store_true",
                        help="with --emulate: the FMA engine for half/bfloat16 as on pre-sm_80 "
                             "GPUs for bfloat16, instead of emulated tensor cores")
    parser.add_argument("--quick", action="store_true",
                        help="each padding/format/stride-dilation and activation/dtype once, "
                             "instead of their full product")
    parser.add_argument("--schedule", type=int, default=2,
                        help="--emulate thread order after barriers: 0 forward, 1 reverse, "
                             "2 shuffled")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dtypes", default=",".join(reference.DTYPES),
                        help="comma-separated subset of " + ",".join(reference.DTYPES))
    parser.add_argument("--kinds", default=",".join(sweep.KINDS),
                        help="comma-separated subset of " + ",".join(sweep.KINDS)
                             + " (depthwise: groups == in_channels)")
    parser.add_argument("--no-bench", action="store_true", help="skip the timing")
    parser.add_argument("--archs", default="",
                        help="CUDA architectures to build, e.g. 90 (default: this GPU's)")
    parser.add_argument("--verbose", action="store_true")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    rng = np.random.default_rng(args.seed)
    if args.emulate:
        library = core.Library(build.build_emulated(force_fma=args.fma))
        memory = core.EmulatedMemory(library)
        memory.set_schedule(args.schedule, args.seed)
        device = "CPU emulation" + (" (FMA engine)" if args.fma else " (emulated WMMA)")
    else:
        try:
            import torch
        except ImportError:
            sys.exit("the GPU run needs PyTorch with CUDA; use --emulate to run on the CPU")
        if not torch.cuda.is_available():
            sys.exit("no CUDA device visible to torch; use --emulate to run on the CPU")
        archs = [int(a) for a in args.archs.split(",") if a]
        if not archs:
            major, minor = torch.cuda.get_device_capability()
            archs = [10 * major + minor]
        library = core.Library(build.build_cuda(archs))
        memory = core.TorchMemory()
        device = f"{torch.cuda.get_device_name()} (sm_{archs[0]}), torch {torch.__version__}"

    print(f"device: {device}\nlibrary: {library.path}\n")
    log = print if args.verbose else None
    dtypes = [d for d in args.dtypes.split(",") if d]
    unknown = set(dtypes) - set(reference.DTYPES)
    if unknown:
        sys.exit(f"unknown dtypes {sorted(unknown)}")
    kinds = [k for k in args.kinds.split(",") if k]
    if set(kinds) - set(sweep.KINDS):
        sys.exit(f"unknown kinds {sorted(set(kinds) - set(sweep.KINDS))}")
    results = sweep.sweep(library, memory, rng, full=not args.quick, dtypes=dtypes, log=log,
                          kinds=kinds)
    headers, rows = report.summarize_errors(results)
    print("Max relative error vs the float64 reference "
          f"({'quick' if args.quick else 'full'} sweep, seed {args.seed}):")
    print(report.format_table(headers, rows))
    failed = any(row[-1] != "ok" for row in rows)

    if not args.emulate and not args.no_bench:
        from python.gpu_check import bench

        print(f"\nDevice copy bandwidth: {bench.copy_bandwidth_gbs(torch):.0f} GB/s "
              "(read + write; the GB/s columns below count the same way)")
        print("\nTimes on the benchmark shapes (ratio = cuDNN time / ours; > 1: ours faster):")
        bench_dtypes = [d for d in dtypes if d in bench.DTYPES]
        bench_headers, bench_rows, bench_failed = bench.run(library, memory, rng, bench_dtypes)
        print(report.format_table(bench_headers, bench_rows))
        failed = failed or bench_failed
    print("\nFAILED" if failed else "\nall within tolerance")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
