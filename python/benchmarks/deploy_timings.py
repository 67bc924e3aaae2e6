"""Inference time of a model on each deployment path, side by side in one
process, on the same inputs: the plugin op in TensorFlow, the portable export
in TensorFlow, LiteRT and onnxruntime (from tf_conv1d_op.export's format, from
the portable export converted, and for onnxruntime from the plugin export
through our tf2onnx handler), and the same three runtimes on the export of the
model made stock (`to_stock`).

    python -m python.benchmarks.deploy_timings [--model demo|stack] [--batch N]
        [--steps N] [--any-length] [--repeats 50] [--threads 1]

--model demo: the demo model (150 steps, batch 150 by default). --model stack:
four Conv1D(64, 3) layers, SAME and CAUSAL in turn, dilations 1 to 8, relu
(batch 8 x 1000 steps by default); --any-length traces the models for a length
of None, as exports of sequence models are.

Prints a Markdown table (docs/deployment.md) of median milliseconds per batch
and ratios to the plugin; the paths take turns, run by run. Weights are the untrained initial ones: speed does
not depend on their values. Every runtime gets --threads threads (default 1:
on a machine shared with other jobs one thread each is what stays comparable).
Needs requirements-deploy.txt.
"""
import argparse
import os
import random
import tempfile
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import tensorflow as tf  # noqa: E402  (after the log level)

import tf_conv1d_op  # noqa: E402
from tf_conv1d_op import tf2onnx_handler  # noqa: E402
from tf_conv1d_op.layers._keras import IS_KERAS_3  # noqa: E402
from tf_conv1d_op.tools import demo, gunpoint  # noqa: E402


BASE = "TensorFlow, plugin export (our op)"


def median_ms(runners, repeats):
    """{label: median ms}, the runners taking turns, so that load from other
    processes falls on all of them alike, in a new order each turn: what one
    runtime leaves behind (caches, spinning threads) would otherwise fall on
    the runner after it every time (the plugin export, first in the list,
    measured 1.2 to 1.4 times its time alone)."""
    for run in runners.values():
        run()  # warm up (tracing, allocation)
    times = {label: [] for label in runners}
    order, shuffler = list(runners), random.Random(0)
    for _ in range(repeats):
        shuffler.shuffle(order)
        for label in order:
            run = runners[label]
            start = time.perf_counter()
            run()
            times[label].append(time.perf_counter() - start)
    return {label: 1e3 * float(np.median(t)) for label, t in times.items()}


def litert_runner(source, x, threads):
    """`source`: a .tflite file, or a SavedModel to convert (builtins only)."""
    from ai_edge_litert.interpreter import Interpreter
    if source.endswith(".tflite"):
        interpreter = Interpreter(model_path=source, num_threads=threads)
    else:
        converter = tf.lite.TFLiteConverter.from_saved_model(source)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        interpreter = Interpreter(model_content=converter.convert(), num_threads=threads)
    index = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(index, x.shape)
    interpreter.allocate_tensors()
    output = interpreter.get_output_details()[0]["index"]

    def run():
        interpreter.set_tensor(index, x)
        interpreter.invoke()
        return interpreter.get_tensor(output)
    return run


def onnx_runner(source, x, threads):
    """`source`: an .onnx file, or a SavedModel to convert (our handler registered)."""
    import onnxruntime
    if not source.endswith(".onnx"):
        source = tf2onnx_handler.convert_saved_model(source).SerializeToString()
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = threads
    session = onnxruntime.InferenceSession(source, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda: session.run(None, {name: x})[0]


def demo_model_and_inputs(batch, steps, any_length):
    _, _, x_test, _ = gunpoint.load()
    model = demo.build_model(tf_conv1d_op.Conv1D)
    if any_length:
        model = tf.keras.Sequential([tf.keras.Input((None, 1))] + model.layers)
    return model, np.resize(x_test.astype(np.float32), (batch or 150,) + x_test.shape[1:])


def stack_model_and_inputs(batch, steps, any_length):
    channels = 64
    model = tf.keras.Sequential(
        [tf.keras.Input((None if any_length else steps or 1000, channels))] +
        [tf_conv1d_op.Conv1D(channels, 3, padding=("same", "causal")[i % 2],
                             dilation_rate=2 ** i, activation="relu") for i in range(4)])
    x = np.random.default_rng(0).standard_normal((batch or 8, steps or 1000, channels))
    return model, x.astype(np.float32)


MODELS = {"demo": demo_model_and_inputs, "stack": stack_model_and_inputs}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(MODELS), default="demo")
    parser.add_argument("--batch", type=int, help="default: 150 (demo), 8 (stack)")
    parser.add_argument("--steps", type=int, help="stack only; default 1000")
    parser.add_argument("--any-length", action="store_true",
                        help="trace the exports for a length of None")
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)

    tf.keras.utils.set_random_seed(0)
    model, x = MODELS[args.model](args.batch, args.steps, args.any_length)
    directory = tempfile.mkdtemp(prefix="tf_conv1d_op_deploy_")
    portable = tf_conv1d_op.export(model, os.path.join(directory, "portable"))
    plugin = tf_conv1d_op.export(model, os.path.join(directory, "plugin"), portable=False)
    stock = tf_conv1d_op.export(tf_conv1d_op.to_stock(model), os.path.join(directory, "stock"))
    formats = {}
    if IS_KERAS_3:  # the composite traced for the converter (docs/deployment.md)
        for suffix, format in (("tflite", "litert"), ("onnx", "onnx")):
            formats[format] = tf_conv1d_op.export(
                model, os.path.join(directory, f"converted.{suffix}"), format=format)

    # Kept referenced: a loaded function's variables live as long as its object.
    loaded = {name: tf.saved_model.load(path) for name, path in
              (("plugin", plugin), ("portable", portable), ("stock", stock))}
    x_tf = tf.constant(x)
    makers = {
        BASE: lambda: lambda: loaded["plugin"].serve(x_tf).numpy(),
        "TensorFlow, portable export": lambda: lambda: loaded["portable"].serve(x_tf).numpy(),
        "TensorFlow, stock layers' export": lambda: lambda: loaded["stock"].serve(x_tf).numpy(),
        "LiteRT, export(format='litert')": lambda: litert_runner(formats["litert"], x,
                                                                 args.threads),
        "LiteRT, portable export converted (builtins)":
            lambda: litert_runner(portable, x, args.threads),
        "LiteRT, stock layers' export converted (builtins)":
            lambda: litert_runner(stock, x, args.threads),
        "onnxruntime, export(format='onnx')": lambda: onnx_runner(formats["onnx"], x,
                                                                   args.threads),
        "onnxruntime, portable export converted": lambda: onnx_runner(portable, x, args.threads),
        "onnxruntime, plugin export (our tf2onnx handler)":
            lambda: onnx_runner(plugin, x, args.threads),
        "onnxruntime, stock layers' export converted":
            lambda: onnx_runner(stock, x, args.threads),
    }
    runners, failures = {}, {}
    for label, make in makers.items():
        try:
            runners[label] = make()
        except Exception as error:  # a path the runtime cannot take (stock gelu in ONNX;
            # the formats need Keras 3)
            failures[label] = str(error).strip().splitlines()[-1][:150]
    reference = model(x, training=False).numpy()
    length = "any length" if args.any_length else "length fixed"
    print(f"{args.model} model, batch {x.shape[0]} x {x.shape[1]} steps ({length}), median of "
          f"{args.repeats}; {args.threads} thread(s) each; TensorFlow {tf.__version__}, "
          f"{os.cpu_count()} cores\n")
    print("| path | ms / batch | vs plugin | max abs diff from the Keras model |")
    print("| --- | ---: | ---: | ---: |")
    medians = median_ms(runners, args.repeats)
    base = medians[BASE]
    for label, run in runners.items():
        diff = float(np.abs(run() - reference).max())
        print(f"| {label} | {medians[label]:.2f} | {medians[label] / base:.2f}x | {diff:.1e} |")
    for label, why in failures.items():
        print(f"| {label} | fails: {why} | | |")


if __name__ == "__main__":
    main()
