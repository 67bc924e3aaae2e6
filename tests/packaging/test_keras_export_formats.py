"""Keras 3's export formats for models holding our layers: model.export(
format="onnx") works as with the stock layers (our tf2onnx handler,
registered whenever tf2onnx is imported, converts the op), and
tf_conv1d_op.export(model, path, format=...) traces the portable composite,
so that LiteRT (builtin ops only) and ONNX get stock ops. Each artifact runs
in its runtime and reproduces the model's outputs."""
import json

import numpy as np
import pytest
import tensorflow as tf

import tf_conv1d_op
from tests.packaging.runtimes import run_litert, run_onnx
from tests.support.layer_support import IS_KERAS_3, keras, run_python

pytest.importorskip("tf2onnx", reason="pip install -r requirements-deploy.txt")
pytest.importorskip("onnxruntime", reason="pip install -r requirements-deploy.txt")
pytest.importorskip("ai_edge_litert", reason="pip install -r requirements-deploy.txt")
pytestmark = pytest.mark.skipif(not IS_KERAS_3, reason="Keras 3's model.export formats")

TOLERANCE = 1e-5


def _model():
    """Causal gelu, strided SAME and depthwise layers, for any length."""
    keras.utils.set_random_seed(5)
    inputs = keras.Input((None, 3))
    hidden = tf_conv1d_op.Conv1D(4, 3, padding="causal", activation="gelu")(inputs)
    hidden = tf_conv1d_op.Conv1D(6, 3, strides=2, dilation_rate=2, padding="same")(hidden)
    outputs = tf_conv1d_op.DepthwiseConv1D(3, padding="same", activation="silu")(hidden)
    model = keras.Model(inputs, outputs)
    model(_inputs())  # Keras exports to ONNX only a model that has been called
    return model


def _inputs():
    return np.random.default_rng(6).standard_normal((2, 17, 3)).astype(np.float32)


def _run_litert(path, x):
    from ai_edge_litert.interpreter import Interpreter
    return run_litert(Interpreter(model_path=path), x)


@pytest.mark.parametrize("imports", [
    "import tf2onnx; import tf_conv1d_op",
    "import tf_conv1d_op",  # Keras imports tf2onnx when it exports
    "import tf_conv1d_op, importlib.util; assert importlib.util.find_spec('tf2onnx')"])
def test_model_export_to_onnx_converts_the_op(imports, tmp_path):
    """In a fresh process, whichever of tf2onnx and tf_conv1d_op the program
    imports first, and where it looked for tf2onnx before."""
    code = f'''
        import json, sys
        {imports}
        import numpy as np
        from tests.packaging import test_keras_export_formats as here
        from tests.packaging.runtimes import run_onnx
        model, x = here._model(), here._inputs()
        model.export(sys.argv[1], format="onnx", verbose=False)
        print(json.dumps(float(np.abs(run_onnx(sys.argv[1], x) - model(x).numpy()).max())))
    '''
    result = run_python(code, tmp_path / "model.onnx")
    assert json.loads(result.stdout.strip().splitlines()[-1]) <= TOLERANCE


@pytest.mark.parametrize("format, portable, run, suffix", [
    ("litert", True, _run_litert, "tflite"),
    ("onnx", True, run_onnx, "onnx"),
    ("onnx", False, run_onnx, "onnx")])
def test_export_writes_keras_formats(format, portable, run, suffix, tmp_path):
    model, x = _model(), _inputs()
    path = str(tmp_path / f"model.{suffix}")
    assert tf_conv1d_op.export(model, path, portable=portable, format=format) == path
    np.testing.assert_allclose(run(path, x), model(x).numpy(), rtol=TOLERANCE, atol=TOLERANCE)
    if portable:
        assert b"FusedConv1D" not in open(path, "rb").read()


@pytest.mark.parametrize("length, padding, cut", [(None, "causal", True), (None, "valid", False),
                                                 (20, "valid", False)])
def test_litert_export_fuses_as_the_stock_layers(length, padding, cut, tmp_path):
    """For LiteRT the composite is traced without the reshape that gives
    TensorFlow's empty batches their shape, and cuts its extra step after the
    activation, so the converter fuses the bias and activation into the
    convolution as for the stock layer; full-integer quantization then rounds
    as the stock model does (with the reshape in between it rounded the sum
    before the bias too: up to 22 times the error, python/benchmarks/int8_error.py)."""
    keras.utils.set_random_seed(7)
    model = keras.Sequential([keras.Input((length, 3)),
                              tf_conv1d_op.Conv1D(4, 3, padding=padding, activation="relu")])
    model.layers[0].bias.assign(np.linspace(-1, 1, 4))
    rng = np.random.default_rng(8)
    samples = [rng.standard_normal((1, 20, 3)).astype(np.float32) for _ in range(20)]
    int8 = dict(optimizations=[tf.lite.Optimize.DEFAULT],
                representative_dataset=lambda: ([sample] for sample in samples),
                target_spec={"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]})
    ours, stock = str(tmp_path / "ours.tflite"), str(tmp_path / "stock.tflite")
    tf_conv1d_op.export(model, ours, format="litert", **int8)
    tf_conv1d_op.to_stock(model).export(stock, format="litert", verbose=False, **int8)
    interpreters = [_interpreter(path) for path in (ours, stock)]
    operations = [[op["op_name"] for op in interpreter._get_ops_details()]
                  for interpreter in interpreters]
    assert sorted(operations[0]) == sorted(operations[1] + ["STRIDED_SLICE"] * cut), operations
    x = rng.standard_normal((2, 20, 3)).astype(np.float32)
    np.testing.assert_array_equal(*(run_litert(interpreter, x) for interpreter in interpreters))


def _interpreter(path):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType
    return Interpreter(model_path=path, experimental_op_resolver_type=(
        OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES))


def test_litert_needs_the_portable_export(tmp_path):
    with pytest.raises(ValueError, match="format='litert' needs portable=True"):
        tf_conv1d_op.export(_model(), str(tmp_path / "model.tflite"), portable=False,
                            format="litert")
