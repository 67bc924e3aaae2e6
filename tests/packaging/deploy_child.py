"""What test_deploy.py runs in fresh processes: serve a SavedModel, convert it
to LiteRT or ONNX and run it there, and report the largest difference from
the outputs the parent computed with the plugin.

    python tests/packaging/deploy_child.py WHAT MODEL DATA_DIR [MODEL DATA_DIR ...]

WHAT: serve | keras | litert | onnx | onnx-handler; MODEL a SavedModel
directory (a .keras file for keras). DATA_DIR holds inputs.npy and
expected.npy. Prints "MAX_DIFF <float>" per model and, for litert,
"OPS <json list>".
Run with blocker/ on PYTHONPATH (test_deploy.py), `import tf_conv1d_op`
fails in the child: the first check of each run says so, except for
onnx-handler, which needs the package.
"""
import json
import os
import sys

import numpy as np
import tensorflow as tf
from runtimes import run_litert, run_onnx  # this file's folder is first on sys.path


def package_importable():
    try:
        import tf_conv1d_op  # noqa: F401
    except ImportError:
        return False
    return True


def serve(saved_model_dir, inputs):
    loaded = tf.saved_model.load(saved_model_dir)
    return loaded.signatures["serving_default"](tf.constant(inputs))


def keras_file(path, inputs):
    return tf.keras.models.load_model(path)(inputs)


def litert(saved_model_dir, inputs):
    from ai_edge_litert.interpreter import Interpreter
    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]  # no Flex
    interpreter = Interpreter(model_content=converter.convert())
    print("OPS " + json.dumps(sorted({op["op_name"] for op in interpreter._get_ops_details()})))
    return run_litert(interpreter, inputs)


def onnx(saved_model_dir, inputs):
    from tf2onnx import convert, tf_loader
    graph_def, input_names, output_names = tf_loader.from_saved_model(
        saved_model_dir, None, None, signatures=["serving_default"])
    model, _ = convert.from_graph_def(graph_def, input_names=input_names,
                                      output_names=output_names, opset=17)
    return run_onnx(model.SerializeToString(), inputs)


def onnx_handler(saved_model_dir, inputs):
    from tf_conv1d_op import tf2onnx_handler
    return run_onnx(tf2onnx_handler.convert_saved_model(saved_model_dir).SerializeToString(),
                    inputs)


RUNS = {"serve": serve, "keras": keras_file, "litert": litert, "onnx": onnx, "onnx-handler": onnx_handler}


def main(what, *models_and_data):
    if what != "onnx-handler" and package_importable():
        sys.exit("tf_conv1d_op is importable in this child; the blocker is missing")
    for model, data_dir in zip(models_and_data[::2], models_and_data[1::2]):
        check(what, model, data_dir)


def check(what, saved_model_dir, data_dir):
    inputs = np.load(os.path.join(data_dir, "inputs.npy"))
    expected = np.load(os.path.join(data_dir, "expected.npy"))
    outputs = RUNS[what](saved_model_dir, inputs)
    if isinstance(outputs, dict):  # a signature's named outputs
        (outputs,) = outputs.values()
    outputs = np.asarray(outputs)
    assert outputs.shape == expected.shape, (outputs.shape, expected.shape)
    print(f"MAX_DIFF {float(np.abs(outputs - expected).max(initial=0.0))!r}")


if __name__ == "__main__":
    main(*sys.argv[1:])
