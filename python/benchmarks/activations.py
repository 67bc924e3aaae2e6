"""Milliseconds per forward call and per training step of a small layer (the
demo's size: batch 150, 75 steps, 32 -> 32 channels, kernel 3), one row per
activation: what the activation costs on top of the convolution.

  python -m python.benchmarks.activations [--activations silu,gelu_tanh] [--repeats 300]
      [--data-format NCW] [--dtype bfloat16]

To compare two builds, run it once per build, alternately, with
TF_CONV1D_OP_LIBRARY naming the other build's _fused_conv1d_ops.so.
"""
import argparse
import statistics
import sys
import time

import numpy as np
import tensorflow as tf

import tf_conv1d_op
from tf_conv1d_op.activations import FUSED_ACTIVATIONS

BATCH, STEPS, CHANNELS, KERNEL = 150, 75, 32, 3


def median_ms(fn, arg, repeats):
    for _ in range(5):  # trace and warm up
        fn(arg)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(arg)
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def layer_passes(activation, w, b, dy, data_format):
    """(forward, training step) of the fused op with this activation, as tf.functions."""
    @tf.function
    def forward(x):
        return tf_conv1d_op.fused_conv1d(x, w, b, activation=activation, data_format=data_format)

    @tf.function
    def training(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf_conv1d_op.fused_conv1d(x, w, b, activation=activation,
                                          data_format=data_format)
        return y, tape.gradient(y, [x, w, b], output_gradients=dy)

    return forward, training


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--activations", default=",".join(FUSED_ACTIVATIONS))
    parser.add_argument("--repeats", type=int, default=300)
    parser.add_argument("--data-format", default="NWC", choices=("NWC", "NCW"))
    parser.add_argument("--dtype", default="float32",
                        choices=("float32", "float64", "float16", "bfloat16"))
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    dtype = tf.as_dtype(args.dtype)

    def activations_shaped(steps):  # [batch, steps, channels] in the chosen layout
        v = rng.standard_normal((BATCH, steps, CHANNELS))
        return tf.constant(v if args.data_format == "NWC" else v.transpose(0, 2, 1), dtype)

    x = activations_shaped(STEPS)
    w = tf.Variable(tf.constant(0.2 * rng.standard_normal((KERNEL, CHANNELS, CHANNELS)), dtype))
    b = tf.Variable(tf.zeros(CHANNELS, dtype))
    dy = activations_shaped(STEPS - KERNEL + 1)
    print(f"{'activation':>12} {'forward ms':>11} {'training ms':>12}")
    for activation in args.activations.split(","):
        forward, training = layer_passes(activation, w, b, dy, args.data_format)
        print(f"{activation:>12} {median_ms(forward, x, args.repeats):11.2f} "
              f"{median_ms(training, x, args.repeats):12.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
