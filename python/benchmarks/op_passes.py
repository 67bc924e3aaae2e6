"""GFLOP/s of each pass of the op alone (forward, input gradient, filter
gradient) on the benchmark shapes, float32 unless --dtype names another: how
the per-pass figures in docs/performance.md were taken.

  python -m python.benchmarks.op_passes [--shapes pointwise,resnet_layer] [--repeats 25]
  python -m python.benchmarks.op_passes --shapes sensor --dtype float16

A before/after comparison of a core change is two builds, each run a few
times alternately (the VM's timings drift by up to 30% between runs).
"""
import argparse
import statistics
import sys
import time

import tensorflow as tf

from tf_conv1d_op import _library
from tf_conv1d_op.tools import benchmark
from tf_conv1d_op.activations import needs_preactivation


def median_seconds(fn, repeats):
    fn(), fn()  # trace and warm up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def passes(shape, dtype="float32"):
    """(forward, input gradient, filter gradient) as traced callables."""
    ops = _library.ops
    attrs = dict(stride=shape.stride, dilation=shape.dilation, padding=shape.padding.upper(),
                 data_format="NWC", activation=shape.activation, negative_slope=0.2)
    if shape.groups != 1:  # as ops.fused_conv1d passes it
        attrs["groups"] = shape.groups
    x = tf.random.normal([shape.batch, shape.steps, shape.in_channels], seed=1, dtype=dtype)
    w = tf.random.normal([shape.kernel, shape.in_channels // shape.groups, shape.filters],
                         seed=2, dtype=dtype)
    bias = tf.random.normal([shape.filters], seed=3, dtype=dtype)
    y, z = ops.fused_conv1d(x, w, bias, **attrs)
    dy = tf.random.normal(tf.shape(y), seed=4, dtype=dtype)
    operand = z if needs_preactivation(shape.activation, 0.2) else y
    x_sizes = tf.constant(x.shape.as_list(), tf.int64)
    w_sizes = tf.constant(w.shape.as_list(), tf.int64)
    return (
        tf.function(lambda: ops.fused_conv1d(x, w, bias, **attrs)),
        tf.function(lambda: ops.fused_conv1d_backprop_input(x_sizes, w, dy, operand, **attrs)),
        tf.function(lambda: ops.fused_conv1d_backprop_filter(x, w_sizes, dy, operand, **attrs)),
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", default="", help="comma-separated names (default: all)")
    parser.add_argument("--repeats", type=int, default=25)
    parser.add_argument("--dtype", default="float32", help="float32, float64, float16, bfloat16")
    args = parser.parse_args(argv)
    tf.config.experimental.set_synchronous_execution(True)
    wanted = set(filter(None, args.shapes.split(",")))
    print(f"{'shape':>18s} {'forward':>9s} {'input grad':>11s} {'filter grad':>12s}  (GFLOP/s)")
    for shape in benchmark.SHAPES:
        if wanted and shape.name not in wanted:
            continue
        gflop = benchmark.forward_flops(shape) / 1e9
        rates = [gflop / median_seconds(fn, args.repeats) for fn in passes(shape, args.dtype)]
        print(f"{shape.name:>18s} {rates[0]:9.1f} {rates[1]:11.1f} {rates[2]:12.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
