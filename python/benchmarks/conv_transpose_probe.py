"""Whether a fused Conv1DTranspose would pay: the stock
keras.layers.Conv1DTranspose against our input-gradient op with its bias
added (the same arithmetic: the transposed convolution is the gradient of a
convolution with respect to its input, and Keras' kernel [K, filters, in] is
that op's filter layout), side by side in one process, alternating. Checks
that both give the same output, then prints medians and the ratio. How the
"Not built: a fused Conv1DTranspose" row of docs/performance.md was taken.

  python -m python.benchmarks.conv_transpose_probe [--shapes hifigan1,...] [--repeats 10]
"""
import argparse
import statistics
import sys
import time

import numpy as np
import tensorflow as tf

from tf_conv1d_op._library import ops as _ops

keras = tf.keras

# name: (batch, steps, in channels, filters, kernel size, stride, padding)
SHAPES = {
    "hifigan1": (16, 32, 512, 256, 16, 8, "same"),
    "hifigan2": (16, 256, 256, 128, 16, 8, "same"),
    "hifigan3": (16, 2048, 128, 64, 4, 2, "same"),
    "encodec": (8, 75, 512, 256, 16, 8, "valid"),
    "unet": (32, 512, 128, 64, 4, 2, "same"),
    "demucs": (4, 1024, 512, 256, 8, 4, "valid"),
    "tiny": (2, 9, 6, 4, 4, 2, "same"),  # for the smoke test
}


def transposed_by_our_op(layer, x, stride, padding):
    """layer(x) through FusedConv1DBackpropInput: the input gradient of the
    convolution whose input has the transposed layer's output shape."""
    out_shape = layer.compute_output_shape(x.shape)
    sizes = tf.constant(out_shape, tf.int64)
    unused_operand = x  # read only for activations other than linear
    y = _ops.fused_conv1d_backprop_input(
        sizes, layer.kernel, x, unused_operand, stride=stride, dilation=1,
        padding=padding.upper(), data_format="NWC", activation="linear", negative_slope=0.0,
        groups=1)
    return y + layer.bias


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", default=",".join(s for s in SHAPES if s != "tiny"))
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args(argv)
    tf.config.experimental.set_synchronous_execution(True)
    print(f"{'shape':>9s} {'stock ms':>9s} {'ours ms':>9s} {'speed-up':>8s} {'GFLOP/s':>8s}")
    for name in filter(None, args.shapes.split(",")):
        batch, steps, cin, filters, kernel, stride, padding = SHAPES[name]
        rng = np.random.default_rng(0)
        x = tf.constant(rng.standard_normal((batch, steps, cin)).astype(np.float32))
        layer = keras.layers.Conv1DTranspose(filters, kernel, strides=stride, padding=padding,
                                             bias_initializer="random_normal")
        layer.build(x.shape)
        stock = tf.function(lambda: layer(x))
        ours = tf.function(lambda: transposed_by_our_op(layer, x, stride, padding))
        expected, actual = stock().numpy(), ours().numpy()
        error = np.abs(actual - expected).max() / max(np.abs(expected).max(), 1e-30)
        if error > 1e-5:
            raise SystemExit(f"{name}: our op differs from the stock layer (relative {error:.1e})")
        times = [[], []]
        for _ in range(args.repeats):
            for fn, spent in zip((stock, ours), times):
                start = time.perf_counter()
                fn()
                spent.append(1e3 * (time.perf_counter() - start))
        stock_ms, ours_ms = (statistics.median(t) for t in times)
        gflops = 2 * batch * steps * cin * filters * kernel / (ours_ms * 1e6)
        print(f"{name:>9s} {stock_ms:9.2f} {ours_ms:9.2f} {stock_ms / ours_ms:7.2f}x "
              f"{gflops:8.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
