"""Demo: the fused op against the same computation from stock TF ops.

Runs tf_conv1d_op.fused_conv1d on a few layer-like configurations, checks the
output and the gradients against tf.nn.conv1d + bias + activation in float64,
and prints a short report.
"""
import sys
import time

import numpy as np
import tensorflow as tf

import tf_conv1d_op

CONFIGS = [  # name, (batch, steps, in_ch, filters, kernel, stride, dilation, padding, activation)
    ("text CNN", (8, 128, 64, 32, 5, 1, 1, "SAME", "relu")),
    ("WaveNet layer", (2, 512, 16, 16, 2, 1, 8, "CAUSAL", "tanh")),
    ("downsampling", (4, 256, 16, 32, 3, 2, 1, "SAME", "gelu")),
    ("strided + dilated (stock refuses)", (2, 200, 8, 8, 3, 2, 2, "VALID", "silu")),
]


def stock(x, w, b, stride, dilation, padding, activation):
    """The same layer from stock ops, float64; causal padding done by hand."""
    if padding == "CAUSAL":
        x = tf.pad(x, [[0, 0], [(w.shape[0] - 1) * dilation, 0], [0, 0]])
        padding = "VALID"
    if dilation > 1:
        # Stock CPU convolutions refuse dilation with strides, and their
        # gradients refuse dilation at all: spread the taps out instead.
        k = w.shape[0]
        w = tf.scatter_nd(np.arange(0, (k - 1) * dilation + 1, dilation)[:, None], w,
                          [(k - 1) * dilation + 1] + list(w.shape[1:]))
    y = tf.nn.conv1d(x, w, stride=stride, padding=padding) + b
    return {"relu": tf.nn.relu, "tanh": tf.tanh,
            "gelu": lambda v: 0.5 * v * (1 + tf.math.erf(v / np.sqrt(2.0))),
            "silu": tf.nn.silu}[activation](y)


def check(name, config, rng):
    batch, steps, cin, cout, k, stride, dilation, padding, activation = config
    x = rng.standard_normal((batch, steps, cin))
    w = rng.standard_normal((k, cin, cout)) / np.sqrt(k * cin)
    b = rng.standard_normal(cout)
    tensors = [tf.constant(v, tf.float32) for v in (x, w, b)]
    start = time.perf_counter()
    with tf.GradientTape() as tape:
        tape.watch(tensors)
        y = tf_conv1d_op.fused_conv1d(*tensors, stride=stride, dilations=dilation,
                                      padding=padding, activation=activation)
    grads = tape.gradient(y, tensors)
    elapsed = time.perf_counter() - start
    ref_tensors = [tf.constant(v, tf.float64) for v in (x, w, b)]
    with tf.GradientTape() as tape:
        tape.watch(ref_tensors)
        y_ref = stock(*ref_tensors, stride, dilation, padding, activation)
    ref_grads = tape.gradient(y_ref, ref_tensors)
    errors = [float(np.abs(a.numpy() - r.numpy()).max() / np.abs(r.numpy()).max())
              for a, r in zip([y] + grads, [y_ref] + ref_grads)]
    ok = errors[0] < 1e-5 and max(errors[1:]) < 1e-4
    print(f"  {name:36s} out {str(tuple(y.shape)):16s} max rel err: out {errors[0]:.1e}, "
          f"dx {errors[1]:.1e}, dw {errors[2]:.1e}, db {errors[3]:.1e}  "
          f"{elapsed * 1e3:6.1f} ms  {'ok' if ok else 'MISMATCH'}")
    return ok


def main():
    info = tf_conv1d_op.build_info()
    print(f"tf_conv1d_op {tf_conv1d_op.__version__} (built for TF {info['tensorflow_version']}, "
          f"CUDA kernels: {'yes' if info['cuda'] else 'no'}), TF {tf.__version__}")
    print("fused_conv1d (float32) vs stock tf.nn.conv1d + bias + activation (float64):")
    rng = np.random.default_rng(0)
    results = [check(name, config, rng) for name, config in CONFIGS]
    print(f"{sum(results)}/{len(results)} configurations match.")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
