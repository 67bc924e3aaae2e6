"""Deploying without the plugin (docs/deployment.md): the portable export and
to_stock, each served or converted in a fresh process (tests/packaging/deploy_child.py)
where `import tf_conv1d_op` fails, and compared with what the plugin op
computed in this process:

- the demo model (tf_conv1d_op/demo.py: causal, strided, dilated-gelu layers),
  trained 2 epochs on GunPoint, the real use;
- a module that applies every fused activation, each on another padding,
  layout, (stride, dilation) and bias choice, so each formulation of the
  composite meets both converters;
- a module traced for any length, whose padding is computed in the graph;
- a model of grouped and depthwise layers (one convolution per group, and
  depthwise_conv2d, in the composite), for any length too.

Targets: stock TensorFlow (SavedModel), Keras (.keras of to_stock), LiteRT
(builtin ops only), ONNX through tf2onnx and onnxruntime; and our tf2onnx
handler on the non-portable exports.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import tf_conv1d_op
from tf_conv1d_op import _implementation, _op_names, portable
from tf_conv1d_op.tools import demo, gunpoint
from tf_conv1d_op.activations import FUSED_ACTIVATIONS

pytest.importorskip("tf2onnx", reason="pip install -r requirements-deploy.txt")
pytest.importorskip("onnxruntime", reason="pip install -r requirements-deploy.txt")
pytest.importorskip("ai_edge_litert", reason="pip install -r requirements-deploy.txt")

CHILD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "deploy_child.py")
keras = tf.keras

# Makes `import tf_conv1d_op` fail in a child that has this on PYTHONPATH,
# the editable install's finder included: the environment of a server that
# never installed the package.
BLOCKER = '''import sys
class _NoPlugin:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "tf_conv1d_op":
            raise ImportError("tf_conv1d_op is not installed here (tests/packaging/test_deploy.py)")
sys.meta_path.insert(0, _NoPlugin())
'''

# Branch geometry per activation: (padding, data_format, stride, dilation, bias).
GEOMETRIES = [("SAME", "NWC", 2, 2, True), ("CAUSAL", "NCW", 1, 3, True),
              ("VALID", "NWC", 3, 1, False), ("SAME", "NCW", 1, 1, False),
              ("CAUSAL", "NWC", 2, 1, True)]
STEPS, CHANNELS, FILTERS = 24, 3, 4  # 24: SAME with stride 2 pads an odd total


class Activations(tf.Module):
    """fused_conv1d with every activation, outputs flattened side by side."""

    def __init__(self):
        super().__init__()
        rng = np.random.default_rng(16)
        self.weights = [tf.Variable(rng.standard_normal((3, CHANNELS, FILTERS)) * 0.6,
                                    dtype=tf.float32) for _ in FUSED_ACTIVATIONS]
        self.biases = [tf.Variable(rng.standard_normal(FILTERS), dtype=tf.float32)
                       for _ in FUSED_ACTIVATIONS]

    @tf.function(input_signature=[tf.TensorSpec([None, STEPS, CHANNELS], tf.float32)])
    def serve(self, x):
        outputs = []
        for i, activation in enumerate(FUSED_ACTIVATIONS):
            padding, data_format, stride, dilation, use_bias = GEOMETRIES[i % len(GEOMETRIES)]
            branch = tf.transpose(x, [0, 2, 1]) if data_format == "NCW" else x
            y = tf_conv1d_op.fused_conv1d(
                branch, self.weights[i], self.biases[i] if use_bias else None, stride=stride,
                padding=padding, dilations=dilation, activation=activation,
                data_format=data_format, negative_slope=-0.3)
            outputs.append(tf.reshape(y, [tf.shape(x)[0], -1]))
        return tf.concat(outputs, axis=1)


class Lengths(tf.Module):
    """Any batch and length: SAME and CAUSAL with strides pad by the length,
    which the composite and our tf2onnx handler then compute in the graph."""

    def __init__(self):
        super().__init__()
        rng = np.random.default_rng(17)
        self.weights = [tf.Variable(rng.standard_normal((3, CHANNELS, FILTERS)),
                                    dtype=tf.float32) for _ in range(2)]

    @tf.function(input_signature=[tf.TensorSpec([None, None, CHANNELS], tf.float32)])
    def serve(self, x):
        same = tf_conv1d_op.fused_conv1d(x, self.weights[0], stride=2, padding="SAME",
                                         dilations=2, activation="gelu")
        causal = tf_conv1d_op.fused_conv1d(tf.transpose(x, [0, 2, 1]), self.weights[1],
                                           stride=2, padding="CAUSAL", dilations=3,
                                           data_format="NCW")
        return tf.concat([same, tf.transpose(causal, [0, 2, 1])], axis=2)


def grouped_model():
    """Grouped (causal, dilated), depthwise with a channel multiplier (SAME,
    strided: the padding computed in the graph), depthwise dilated."""
    inputs = keras.Input((None, 6))
    h = tf_conv1d_op.Conv1D(6, 3, groups=2, padding="causal", dilation_rate=2,
                            activation="relu")(inputs)
    h = tf_conv1d_op.Conv1D(12, 4, groups=6, strides=2, padding="same", activation="silu")(h)
    h = tf_conv1d_op.Conv1D(12, 3, groups=12, padding="causal", dilation_rate=3,
                            activation="gelu", bias_initializer="glorot_uniform")(h)
    return keras.Model(inputs, h)


def _save(directory, name, inputs, expected):
    path = os.path.join(directory, name)
    os.makedirs(path)
    np.save(os.path.join(path, "inputs.npy"), inputs)
    np.save(os.path.join(path, "expected.npy"), expected)
    return path


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """{name: path}: the models' exports and data, made with the plugin."""
    root = str(tmp_path_factory.mktemp("deploy"))
    x_train, y_train, x_test, _ = gunpoint.load()
    keras.utils.set_random_seed(16)
    model = demo.build_model(tf_conv1d_op.Conv1D)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy")
    model.fit(x_train, y_train, batch_size=10, epochs=2, verbose=0)
    inputs = x_test[:16].astype(np.float32)
    paths = {"demo data": _save(root, "demo_data", inputs, model(inputs).numpy())}
    paths["demo portable"] = tf_conv1d_op.export(model, os.path.join(root, "demo_portable"))
    paths["demo plugin"] = tf_conv1d_op.export(model, os.path.join(root, "demo_plugin"),
                                               portable=False)
    stock = tf_conv1d_op.to_stock(model)
    paths["demo stock keras"] = os.path.join(root, "demo_stock.keras")
    stock.save(paths["demo stock keras"])

    module = Activations()
    inputs = np.random.default_rng(1).standard_normal((2, STEPS, CHANNELS)).astype(np.float32)
    paths["activations data"] = _save(root, "activations_data", inputs,
                                      module.serve(inputs).numpy())
    paths["activations plugin"] = os.path.join(root, "activations_plugin")
    tf.saved_model.save(module, paths["activations plugin"])
    paths["activations portable"] = os.path.join(root, "activations_portable")
    with _implementation.using(_implementation.COMPOSITE):
        tf.saved_model.save(Activations(), paths["activations portable"])  # same weights (seed)

    module = Lengths()
    inputs = np.random.default_rng(2).standard_normal((2, 23, CHANNELS)).astype(np.float32)
    paths["lengths data"] = _save(root, "lengths_data", inputs, module.serve(inputs).numpy())
    paths["lengths plugin"] = os.path.join(root, "lengths_plugin")
    tf.saved_model.save(module, paths["lengths plugin"])
    paths["lengths portable"] = os.path.join(root, "lengths_portable")
    with _implementation.using(_implementation.COMPOSITE):
        tf.saved_model.save(Lengths(), paths["lengths portable"])
    no_steps = np.zeros((2, 0, CHANNELS), np.float32)
    paths["no steps data"] = _save(root, "no_steps_data", no_steps, module.serve(no_steps).numpy())

    keras.utils.set_random_seed(18)
    model = grouped_model()
    inputs = np.random.default_rng(3).standard_normal((2, 23, 6)).astype(np.float32)
    paths["groups data"] = _save(root, "groups_data", inputs, model(inputs).numpy())
    paths["groups portable"] = tf_conv1d_op.export(model, os.path.join(root, "groups_portable"))
    paths["groups plugin"] = tf_conv1d_op.export(model, os.path.join(root, "groups_plugin"),
                                                 portable=False)
    paths["groups stock keras"] = os.path.join(root, "groups_stock.keras")
    tf_conv1d_op.to_stock(model).save(paths["groups stock keras"])
    empty = np.zeros((0, 23, 6), np.float32)
    paths["empty batch data"] = _save(root, "empty_batch_data", empty, model(empty).numpy())

    blocker = os.path.join(root, "blocker")
    os.makedirs(blocker)
    with open(os.path.join(blocker, "sitecustomize.py"), "w") as f:
        f.write(BLOCKER)
    paths["blocker"] = blocker
    return paths


def run_child(exports, what, *pairs, block=True):
    """deploy_child.py's MAX_DIFF per (model, data) pair, and its OPS lines."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    if block:
        env["PYTHONPATH"] = exports["blocker"]
    args = [a for model, data in pairs for a in (exports[model], exports[data])]
    proc = subprocess.run([sys.executable, CHILD, what] + args, env=env,
                          cwd=exports["blocker"], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    lines = proc.stdout.splitlines()
    diffs = [float(l.split()[1]) for l in lines if l.startswith("MAX_DIFF ")]
    ops = [json.loads(l[4:]) for l in lines if l.startswith("OPS ")]
    assert len(diffs) == len(pairs), proc.stdout
    return diffs, ops


def tolerance(exports, data):
    """float32 rounding, relative to the outputs' size."""
    return 2e-5 * max(1.0, float(np.abs(np.load(os.path.join(exports[data],
                                                              "expected.npy"))).max()))


DEMO = ("demo portable", "demo data")
ACTIVATIONS = ("activations portable", "activations data")
LENGTHS = ("lengths portable", "lengths data")
GROUPS = ("groups portable", "groups data")


def test_portable_exports_hold_stock_ops_only(exports):
    for name in ("demo portable", "activations portable", "lengths portable", "groups portable"):
        assert portable.plugin_ops_in(exports[name]) == []
        assert "Conv2D" in portable.op_types(exports[name])
    assert "DepthwiseConv2dNative" in portable.op_types(exports["groups portable"])
    for name in ("demo plugin", "activations plugin", "lengths plugin", "groups plugin"):
        # The check can fail.
        assert portable.plugin_ops_in(exports[name]) == [_op_names.FORWARD]


def test_portable_export_serves_where_the_package_cannot_be_imported(exports):
    diffs, _ = run_child(exports, "serve", DEMO, ACTIVATIONS, LENGTHS, GROUPS)
    assert diffs[0] <= tolerance(exports, "demo data")
    assert diffs[1] <= tolerance(exports, "activations data")
    assert diffs[2] <= tolerance(exports, "lengths data")
    assert diffs[3] <= tolerance(exports, "groups data")


def test_to_stock_keras_file_loads_where_the_package_cannot_be_imported(exports):
    diffs, _ = run_child(exports, "keras", ("demo stock keras", "demo data"),
                         ("groups stock keras", "groups data"))
    assert diffs[0] <= tolerance(exports, "demo data")
    assert diffs[1] <= tolerance(exports, "groups data")


def test_litert_builtins_reproduce_the_outputs(exports):
    diffs, ops = run_child(exports, "litert", DEMO, ACTIVATIONS, LENGTHS, GROUPS)
    assert diffs[0] <= tolerance(exports, "demo data")
    assert diffs[1] <= tolerance(exports, "activations data")
    assert diffs[2] <= tolerance(exports, "lengths data")
    assert diffs[3] <= tolerance(exports, "groups data")
    for used in ops:
        assert "CONV_2D" in used and not [op for op in used if "CUSTOM" in op or "Flex" in op]
    assert "DEPTHWISE_CONV_2D" in ops[3]


def test_onnx_of_the_portable_export_reproduces_the_outputs(exports):
    diffs, _ = run_child(exports, "onnx", DEMO, ACTIVATIONS, LENGTHS, GROUPS)
    assert diffs[0] <= tolerance(exports, "demo data")
    assert diffs[1] <= tolerance(exports, "activations data")
    assert diffs[2] <= tolerance(exports, "lengths data")
    assert diffs[3] <= tolerance(exports, "groups data")


def test_an_empty_batch_is_served_and_runs_in_onnx(exports):
    """A batch of none through the grouped model's portable export (its
    paddings computed in the graph). LiteRT refuses empty inputs, for the
    stock layers' exports too."""
    for what in ("serve", "onnx"):
        diffs, _ = run_child(exports, what, ("groups portable", "empty batch data"))
        assert diffs == [0.0]


def test_an_input_without_steps_runs_in_onnx(exports):
    """SAME and CAUSAL padding give an empty output for an input without
    steps, which onnxruntime's Conv refuses whatever its pads: both routes
    pad such an input to a step of output and cut it off."""
    for what, model in (("onnx", "lengths portable"), ("onnx-handler", "lengths plugin")):
        diffs, _ = run_child(exports, what, (model, "no steps data"), block=what == "onnx")
        assert diffs == [0.0]


def test_onnx_handler_converts_exports_that_hold_the_op(exports):
    diffs, _ = run_child(exports, "onnx-handler", ("demo plugin", "demo data"),
                         ("activations plugin", "activations data"),
                         ("lengths plugin", "lengths data"), ("groups plugin", "groups data"),
                         block=False)
    assert diffs[0] <= tolerance(exports, "demo data")
    assert diffs[1] <= tolerance(exports, "activations data")
    assert diffs[2] <= tolerance(exports, "lengths data")
    assert diffs[3] <= tolerance(exports, "groups data")


def _model(*layers):
    return keras.Sequential([keras.Input((19, 3))] + list(layers))


def test_to_stock_uses_the_stock_layer_where_it_can():
    keras.utils.set_random_seed(3)
    model = _model(
        tf_conv1d_op.Conv1D(4, 3, padding="causal", activation="gelu"),
        tf_conv1d_op.Conv1D(5, 2, strides=2, dilation_rate=2, padding="same"),
        keras.layers.Permute((2, 1)),
        tf_conv1d_op.Conv1D(2, 3, data_format="channels_first", activation="tanh"))
    x = np.random.default_rng(0).standard_normal((2, 19, 3)).astype(np.float32)
    stock = tf_conv1d_op.to_stock(model)
    kinds = [type(layer) for layer in stock.layers]
    assert kinds == [keras.layers.Conv1D, portable.CompositeConv1D, keras.layers.Permute,
                     portable.CompositeConv1D]
    np.testing.assert_allclose(stock(x).numpy(), model(x).numpy(), rtol=1e-5, atol=1e-5)
    # replace_conv1d is its inverse on what the stock layer expresses.
    back = tf_conv1d_op.replace_conv1d(stock)
    assert type(back.layers[0]) is tf_conv1d_op.Conv1D
    np.testing.assert_allclose(back(x).numpy(), model(x).numpy(), rtol=1e-5, atol=1e-5)


def test_to_stock_refuses_what_is_not_a_model():
    with pytest.raises(TypeError, match="to_stock expects a keras.Model"):
        tf_conv1d_op.to_stock(tf_conv1d_op.Conv1D(2, 3))
