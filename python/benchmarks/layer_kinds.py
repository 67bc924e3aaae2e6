"""Our DepthwiseConv1D and SeparableConv1D against the stock Keras layers of
the same names, side by side in one process: the forward pass and a training
step (the output with the gradients of the input and all weights, as
tf_conv1d_op.tools.benchmark times them), alternating calls, medians and
ratios. How the table in docs/layer.md ("DepthwiseConv1D and
SeparableConv1D") was taken.

  python -m python.benchmarks.layer_kinds [--repeats 7] [--shapes mamba,conformer,quartznet]
"""
import argparse
import statistics
import sys
import time

import numpy as np
import tensorflow as tf

import tf_conv1d_op
from tf_conv1d_op.tools import benchmark

keras = tf.keras

# name: (stock class, ours, input shape [batch, steps, channels], layer arguments)
SHAPES = {
    "mamba": (keras.layers.DepthwiseConv1D, tf_conv1d_op.DepthwiseConv1D, (8, 2048, 1536),
              dict(kernel_size=4, padding="valid", activation="silu")),
    "conformer": (keras.layers.DepthwiseConv1D, tf_conv1d_op.DepthwiseConv1D, (16, 512, 256),
                  dict(kernel_size=31, padding="same")),
    "quartznet": (keras.layers.SeparableConv1D, tf_conv1d_op.SeparableConv1D, (16, 1024, 256),
                  dict(filters=256, kernel_size=33, padding="same", activation="relu")),
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", default=",".join(SHAPES))
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    tf.config.experimental.set_synchronous_execution(True)
    print(f"{'shape':>10s} {'layer':>16s} {'pass':>9s} {'stock ms':>9s} {'ours ms':>9s} "
          f"{'speed-up':>8s}")
    for name in filter(None, args.shapes.split(",")):
        stock_class, ours_class, shape, config = SHAPES[name]
        rng = np.random.default_rng(0)
        x = tf.constant(rng.standard_normal(shape).astype(np.float32))
        stock, ours = stock_class(**config), ours_class(**config)
        stock.build(shape)
        ours.build(shape)
        ours.set_weights(stock.get_weights())
        dy = rng.standard_normal(stock.compute_output_shape(shape)).astype(np.float32)
        passes = [benchmark.compiled_passes(layer, layer.trainable_weights, dy)
                  for layer in (stock, ours)]
        for kind in ("forward", "training"):
            fns = [side[kind] for side in passes]
            for fn in fns:  # trace and warm up
                fn(x), fn(x)
            times = [[], []]
            for _ in range(args.repeats):
                for fn, spent in zip(fns, times):
                    start = time.perf_counter()
                    fn(x)
                    spent.append(1e3 * (time.perf_counter() - start))
            stock_ms, ours_ms = (statistics.median(t) for t in times)
            print(f"{name:>10s} {stock_class.__name__:>16s} {kind:>9s} {stock_ms:9.2f} "
                  f"{ours_ms:9.2f} {stock_ms / ours_ms:7.2f}x", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
