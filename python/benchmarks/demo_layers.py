"""Per-layer forward time of the demo's model, ours against the stock layer
on the same weights (tf.function, median of 50): the figures on the fused
gelu in docs/performance.md and docs/demo.md.

  python -m python.benchmarks.demo_layers
"""
import statistics
import sys
import time

import tensorflow as tf

import tf_conv1d_op

keras = tf.keras
# name: (input shape, Conv1D arguments), as in tf_conv1d_op/tools/demo.py on 150 series.
LAYERS = {
    "causal relu": ((150, 150, 1), dict(filters=16, kernel_size=7, padding="causal",
                                        activation="relu")),
    "strided relu": ((150, 150, 16), dict(filters=32, kernel_size=5, strides=2,
                                          activation="relu")),
    "dilated gelu": ((150, 73, 32), dict(filters=32, kernel_size=3, dilation_rate=2,
                                         padding="same", activation="gelu")),
    "dilated linear": ((150, 73, 32), dict(filters=32, kernel_size=3, dilation_rate=2,
                                           padding="same")),
}


def median_ms(fn, x, repeats=50):
    fn(x), fn(x)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(x).numpy()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def main():
    for name, (shape, kwargs) in LAYERS.items():
        x = tf.random.normal(shape, seed=1)
        stock, ours = keras.layers.Conv1D(**kwargs), tf_conv1d_op.Conv1D(**kwargs)
        stock.build(shape)
        ours.build(shape)
        ours.set_weights(stock.get_weights())
        times = [median_ms(tf.function(layer.__call__), x) for layer in (stock, ours)]
        print(f"{name:15s} stock {times[0]:.3f} ms  ours {times[1]:.3f} ms", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
