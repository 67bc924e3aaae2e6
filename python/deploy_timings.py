"""Inference time of the demo model on each deployment path, side by side in
one process, on the same inputs: the plugin op in TensorFlow, the portable
export in TensorFlow, LiteRT (builtins) and onnxruntime (from the portable
export, and from the plugin export through our tf2onnx handler).

    python python/deploy_timings.py [--batch 150] [--repeats 50]

Prints a Markdown table (docs/deployment.md) of median milliseconds per batch
and ratios to the plugin. Weights are the untrained initial ones: speed does
not depend on their values. Every runtime is left to its default thread count
except LiteRT, given all cores as the others use. Needs requirements-deploy.txt.
"""
import argparse
import os
import sys
import tempfile
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tensorflow as tf  # noqa: E402

import tf_conv1d_op  # noqa: E402
from tf_conv1d_op import _gunpoint, demo, tf2onnx_handler  # noqa: E402


def median_ms(run, repeats):
    run()  # warm up (tracing, allocation)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


def litert_runner(saved_model_dir, x):
    from ai_edge_litert.interpreter import Interpreter
    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    interpreter = Interpreter(model_content=converter.convert(), num_threads=os.cpu_count())
    index = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(index, x.shape)
    interpreter.allocate_tensors()
    output = interpreter.get_output_details()[0]["index"]

    def run():
        interpreter.set_tensor(index, x)
        interpreter.invoke()
        return interpreter.get_tensor(output)
    return run


def onnx_runner(saved_model_dir, x):
    import onnxruntime
    model = tf2onnx_handler.convert_saved_model(saved_model_dir)
    session = onnxruntime.InferenceSession(model.SerializeToString(),
                                           providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda: session.run(None, {name: x})[0]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=150)
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args(argv)

    _, _, x_test, _ = _gunpoint.load()
    x = np.resize(x_test.astype(np.float32), (args.batch,) + x_test.shape[1:])
    tf.keras.utils.set_random_seed(0)
    model = demo.build_model(tf_conv1d_op.Conv1D)
    directory = tempfile.mkdtemp(prefix="tf_conv1d_op_deploy_")
    portable = tf_conv1d_op.export(model, os.path.join(directory, "portable"))
    plugin = tf_conv1d_op.export(model, os.path.join(directory, "plugin"), portable=False)

    plugin_fn = tf.function(lambda v: model(v, training=False))
    portable_fn = tf.saved_model.load(portable).serve
    x_tf = tf.constant(x)
    runners = {
        "TensorFlow, plugin op (Keras model)": lambda: plugin_fn(x_tf).numpy(),
        "TensorFlow, portable export": lambda: portable_fn(x_tf).numpy(),
        "LiteRT, portable export (builtins)": litert_runner(portable, x),
        "onnxruntime, portable export": onnx_runner(portable, x),
        "onnxruntime, plugin export (our tf2onnx handler)": onnx_runner(plugin, x),
    }
    reference = runners["TensorFlow, plugin op (Keras model)"]()
    print(f"demo model, batch {args.batch} x {x.shape[1]} steps, median of {args.repeats}; "
          f"TensorFlow {tf.__version__}, {os.cpu_count()} cores\n")
    print("| path | ms / batch | vs plugin | max abs diff |")
    print("| --- | ---: | ---: | ---: |")
    base = None
    for label, run in runners.items():
        ms = median_ms(run, args.repeats)
        base = base or ms
        diff = float(np.abs(run() - reference).max())
        print(f"| {label} | {ms:.2f} | {ms / base:.2f}x | {diff:.1e} |")


if __name__ == "__main__":
    main()
