"""Run in a fresh process by test_layer_saving.py: loads what the test saved and
prints one JSON object of findings.

    python tests/layer/layer_child_load.py DIR          # imports tf_conv1d_op first
    python tests/layer/layer_child_load.py DIR --bare   # does not import it
"""
import json
import os
import sys

import numpy as np
import tensorflow as tf

keras = tf.keras


def graph_ops(concrete_function):
    graph_def = concrete_function.graph.as_graph_def()
    ops = {node.op for node in graph_def.node}
    for function in graph_def.library.function:
        ops.update(node.op for node in function.node_def)
    return sorted(ops)


def max_error(a, b):
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


def loaded_keras_models(directory, expected):
    found = {}
    for name in ("m.keras", "m.h5", "keras_saved_model"):
        path = os.path.join(directory, name)
        if not os.path.exists(path):
            continue
        model = keras.models.load_model(path, compile=False)
        found[name] = {
            "error": max_error(model.predict(expected["x"], verbose=0), expected["y"]),
            "layer_types": sorted({f"{type(l).__module__}.{type(l).__name__}"
                                   for l in model.layers if "Conv1D" in type(l).__name__}),
        }
    return found


def loaded_saved_models(directory, expected):
    found = {}
    x = tf.constant(expected["x"])
    for name in ("export", "saved_model"):
        loaded = tf.saved_model.load(os.path.join(directory, name))
        serve = loaded.serve if name == "export" else loaded.signatures["serving_default"]
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = serve(x)
            if isinstance(y, dict):
                (y,) = y.values()
            loss = tf.reduce_sum(y * expected["cotangent"])
        found[name] = {"error": max_error(y, expected["y"]),
                       "grad_error": max_error(tape.gradient(loss, x), expected["dx"]),
                       "ops": graph_ops(serve if name == "saved_model" else
                                        serve.get_concrete_function(x))}
    return found


def bare(directory):
    """Loads without tf_conv1d_op: every attempt must fail; report how."""
    found = {}
    attempts = {"export": lambda: tf.saved_model.load(os.path.join(directory, "export")),
                "m.keras": lambda: keras.models.load_model(os.path.join(directory, "m.keras"))}
    for name, attempt in attempts.items():
        try:
            attempt()
            found[name] = {"failed": False}
        except Exception as e:  # noqa: BLE001  (reporting any failure is the point)
            found[name] = {"failed": True, "type": type(e).__name__, "message": str(e)}
    found["tf_conv1d_op_imported"] = "tf_conv1d_op" in sys.modules
    return found


def main(directory, mode):
    if mode == "--bare":
        return bare(directory)
    import tf_conv1d_op  # noqa: F401  (loads the op, registers gradient and layer)
    expected = dict(np.load(os.path.join(directory, "expected.npz")))
    return {"keras": loaded_keras_models(directory, expected),
            "saved_model": loaded_saved_models(directory, expected)}


if __name__ == "__main__":
    print("RESULT " + json.dumps(main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "")))
