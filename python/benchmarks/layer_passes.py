"""Milliseconds of each pass of the stock layer and of ours, alone, in one
process, alternating: the forward, the input gradient alone, the filter
gradient alone and the whole training step; and a trivial tf.function call,
the overhead every call pays. How the stock per-pass figures and the call
overhead in docs/performance.md were taken.

  python -m python.benchmarks.layer_passes [--shapes pointwise,batch1_inference] [--repeats 21]
  python -m python.benchmarks.layer_passes --layer 32,1024,64,64,4,1,1,same,relu
  python -m python.benchmarks.layer_passes --layer 8,2048,1536,1536,4,1,1,causal,relu,1536
  python -m python.benchmarks.layer_passes --shapes pointwise --sides ours
  python -m python.benchmarks.layer_passes --shapes pointwise,downsampling --dtype bfloat16

--sides times only the sides named (one alone, not alternating with the other).
--dtype runs both sides in another dtype (the benchmark's is float32): both
layers' weights and inputs in it, as under a mixed-precision policy.

--layer times one layer of any geometry: batch, steps, in_channels, filters,
kernel, stride, dilation, padding, activation and optionally groups (as the
benchmark's shapes).

A gradient alone is timed with the forward it needs (none, for the stock
layer with a linear activation: TensorFlow prunes it).
"""
import argparse
import statistics
import sys
import time

import tensorflow as tf

from tf_conv1d_op.tools import benchmark

PASSES = ("forward", "input grad", "filter grad", "step")


def pass_functions(forward, variables, dy):
    """tf.functions of the passes above, for one side: the benchmark's forward
    and training step, and a gradient for each of two targets alone."""
    def gradient_for(target):
        @tf.function
        def fn(x):
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = forward(x)
            return tape.gradient(y, x if target is None else target, output_gradients=dy)
        return fn

    whole = benchmark.compiled_passes(forward, variables, dy)
    return whole["forward"], gradient_for(None), gradient_for(variables[0]), whole["training"]


def alternating_medians(fns, arg, repeats):
    for fn in fns:  # trace and warm up
        fn(arg), fn(arg)
    times = [[] for _ in fns]
    for _ in range(repeats):
        for fn, spent in zip(fns, times):
            start = time.perf_counter()
            fn(arg)
            spent.append(1e3 * (time.perf_counter() - start))
    return [statistics.median(t) for t in times]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", default="pointwise")
    parser.add_argument("--layer",
                        help="B,STEPS,IN_CH,FILTERS,K,STRIDE,DILATION,PADDING,ACT[,GROUPS]")
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--sides", default="stock,ours", help="stock, ours, or both")
    parser.add_argument("--dtype", default="float32", help="float32, bfloat16, float16, float64")
    args = parser.parse_args(argv)
    sides = [side for side in ("stock", "ours") if side in args.sides.split(",")]
    tf.config.experimental.set_synchronous_execution(True)
    shapes = benchmark.SHAPES
    wanted = set(filter(None, args.shapes.split(",")))
    if args.layer:
        fields = args.layer.split(",")
        shapes = (benchmark.Shape("layer", *map(int, fields[:7]), *fields[7:9],
                                  *map(int, fields[9:10])),)
        wanted = {"layer"}
    trivial = tf.function(lambda x: x[:1, :1, :1] + 1.0)
    print(f"{'shape':>18s} {'side':>6s} " + " ".join(f"{p:>12s}" for p in PASSES) + "  (ms)")
    for shape in shapes:
        if shape.name not in wanted:
            continue
        x, w, b, dy = benchmark.make_data(shape)
        stock, ours, stock_vars, ours_vars = benchmark.build_models(shape, w, b, args.dtype)
        x, dy = tf.cast(x, args.dtype), tf.cast(dy, args.dtype)
        layers = {"stock": (stock, stock_vars), "ours": (ours, ours_vars)}
        fns = sum((pass_functions(*layers[side], dy) for side in sides), ())
        medians = alternating_medians(fns + (trivial,), x, args.repeats)
        for i, side in enumerate(sides):
            row = medians[4 * i:4 * i + 4]
            print(f"{shape.name:>18s} {side:>6s} " + " ".join(f"{m:12.2f}" for m in row))
        print(f"{'':>18s} a trivial tf.function call: {medians[-1]:.2f} ms", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
