"""Median milliseconds of one depthwise fused_conv1d forward (float32, NWC, in
a tf.function whose preactivation output is unused), either in a loop of its
own calls (its input and output stay in the caches) or each call right after
the stock Keras layer's (which pushes them out, as in `python -m tf_conv1d_op
bench`), with the minor page faults per call.

  python -m python.benchmarks.depthwise_probe --shape conformer --after stock [--threads 2]

To compare two builds, run it once per build, alternately, with
TF_CONV1D_OP_LIBRARY naming the other build's _fused_conv1d_ops.so.
"""
import argparse
import resource
import statistics
import time

import numpy as np
import tensorflow as tf

SHAPES = {  # batch, steps, channels, kernel, padding, activation
    "mamba": (8, 2048, 1536, 4, "CAUSAL", "silu"),
    "mamba_linear": (8, 2048, 1536, 4, "CAUSAL", "linear"),
    "conformer": (16, 512, 256, 31, "SAME", "linear"),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", choices=sorted(SHAPES), default="conformer")
    parser.add_argument("--after", choices=("none", "stock"), default="none")
    parser.add_argument("--threads", type=int, default=0, help="intra-op threads (0: TF's)")
    parser.add_argument("--calls", type=int, default=30)
    args = parser.parse_args()
    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    import tf_conv1d_op

    batch, steps, channels, kernel, padding, activation = SHAPES[args.shape]
    rng = np.random.default_rng(0)
    x = tf.constant(rng.standard_normal((batch, steps, channels)).astype(np.float32))
    w = tf.Variable(rng.standard_normal((kernel, 1, channels)).astype(np.float32))
    b = tf.Variable(np.zeros(channels, np.float32))
    ours = tf.function(lambda x: tf_conv1d_op.fused_conv1d(
        x, w, b, padding=padding, activation=activation, groups=channels))
    stock_layer = tf.keras.layers.Conv1D(channels, kernel, padding=padding.lower(),
                                         activation=activation, groups=channels)
    stock_layer.build((None, steps, channels))
    stock = tf.function(stock_layer, jit_compile=True)  # as Keras runs grouped layers
    for _ in range(3):
        ours(x)
        if args.after == "stock":
            stock(x)
    times, faults = [], []
    for _ in range(args.calls):
        if args.after == "stock":
            stock(x)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        start = time.perf_counter()
        ours(x)
        times.append(1e3 * (time.perf_counter() - start))
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    print(f"{args.shape} after {args.after}: median {statistics.median(times):.3f} ms, "
          f"min {min(times):.3f} ms, page faults per call {statistics.median(faults):.0f}")


if __name__ == "__main__":
    main()
