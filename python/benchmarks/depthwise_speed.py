"""The depthwise op against the stock Keras 3 layer (keras.layers.Conv1D with
groups = channels, as Keras runs it) and against memory bandwidth, float32,
in one process: forward, and a training step (forward and the gradients of
input, kernel and bias).

  python -m python.benchmarks.depthwise_speed [--shapes mamba,conformer] [--repeats 10]

Bandwidth: the forward must read the input and write the output once, so
GB/s = (input + output bytes) / time, next to that of a copy of the input
measured in the same run: x times a variable holding 1.0 (one read, one write
of the input's size; a constant 1.0 would be folded away by Grappler).
"""
import argparse
import statistics
import time
from dataclasses import dataclass

import keras
import tensorflow as tf

import tf_conv1d_op


@dataclass(frozen=True)
class Shape:
    name: str
    batch: int
    steps: int
    channels: int
    kernel: int
    padding: str
    activation: str


SHAPES = (
    Shape("mamba", 8, 2048, 1536, 4, "causal", "silu"),
    Shape("conformer", 16, 512, 256, 31, "same", None),
)


def median_seconds(fn, repeats):
    fn(), fn()  # trace and warm up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        tf.nest.map_structure(lambda t: t.numpy(), result)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def forward_and_train(x, weights, call):
    """The forward alone, and a training step's gradients (input and weights)."""
    forward = tf.function(lambda: call(x))

    @tf.function
    def train():
        with tf.GradientTape() as tape:
            tape.watch([x] + list(weights))
            loss = tf.reduce_sum(call(x))
        return tape.gradient(loss, [x] + list(weights))
    return forward, train


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", default="", help="comma-separated names (default: all)")
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args(argv)
    wanted = set(filter(None, args.shapes.split(",")))
    print(f"threads: intra-op {tf.config.threading.get_intra_op_parallelism_threads()} "
          "(0 = all cores)")
    for shape in SHAPES:
        if wanted and shape.name not in wanted:
            continue
        x = tf.random.normal([shape.batch, shape.steps, shape.channels], seed=1)
        kernel = tf.random.normal([shape.kernel, 1, shape.channels], seed=2) * 0.3
        bias = tf.random.normal([shape.channels], seed=3)
        stock = keras.layers.Conv1D(shape.channels, shape.kernel, padding=shape.padding,
                                    groups=shape.channels, activation=shape.activation)
        stock.build((None, None, shape.channels))
        stock.kernel.assign(kernel)
        stock.bias.assign(bias)

        def ours_call(x, shape=shape):
            return tf_conv1d_op.fused_conv1d(x, kernel, bias, padding=shape.padding,
                                             activation=shape.activation,
                                             groups=shape.channels)

        one = tf.Variable(1.0)
        copy = tf.function(lambda: x * one)
        t_copy = median_seconds(copy, args.repeats)
        nbytes = x.shape.num_elements() * 4
        fwd_ours, train_ours = forward_and_train(x, [kernel, bias], ours_call)
        fwd_stock, train_stock = forward_and_train(
            x, [v.value for v in stock.trainable_variables], stock)
        t_ours, t_stock = median_seconds(fwd_ours, args.repeats), median_seconds(
            fwd_stock, args.repeats)
        tt_ours, tt_stock = median_seconds(train_ours, args.repeats), median_seconds(
            train_stock, args.repeats)
        copy_gbs = 2 * nbytes / t_copy / 1e9
        ours_gbs = 2 * nbytes / t_ours / 1e9
        print(f"{shape.name}: copy {copy_gbs:.1f} GB/s | forward ours {t_ours * 1e3:.2f} ms "
              f"({ours_gbs:.1f} GB/s, {ours_gbs / copy_gbs:.0%} of copy), stock "
              f"{t_stock * 1e3:.2f} ms, x{t_stock / t_ours:.2f} | train ours "
              f"{tt_ours * 1e3:.2f} ms, stock {tt_stock * 1e3:.2f} ms, "
              f"x{tt_stock / tt_ours:.2f}")


if __name__ == "__main__":
    main()
