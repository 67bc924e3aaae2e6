"""Full-integer (int8) LiteRT models of random single layers, ours against
the same layer made stock (`to_stock`), quantized alike: the error of each
against the float Keras model, relative to the output's largest value.

    python -m python.benchmarks.int8_error [--layers 20] [--seed 0]

Ours goes two ways: `tf_conv1d_op.export(model, "m.tflite", format="litert",
...)` (the composite traced for the converter) and the portable SavedModel
converted by `tf.lite.TFLiteConverter.from_saved_model` (traced for
TensorFlow). Prints a row per layer and the median and largest ratio of each
route's error to the stock model's (docs/deployment.md). Keras 3; needs
requirements-deploy.txt.
"""
import argparse
import contextlib
import io
import os
import tempfile

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import tensorflow as tf  # noqa: E402  (after the log level)

import tf_conv1d_op  # noqa: E402
from python.benchmarks.deploy_timings import litert_runner  # noqa: E402
from tf_conv1d_op.layers._keras import keras  # noqa: E402

STEPS, ACTIVATIONS = 24, ("linear", "relu", "relu6", "tanh", "sigmoid")


def int8_settings(samples):
    return dict(optimizations=[tf.lite.Optimize.DEFAULT],
                representative_dataset=lambda: ([sample] for sample in samples),
                target_spec={"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]})


def random_layer(rng, channels):
    kernel, padding = int(rng.integers(2, 6)), str(rng.choice(["valid", "same"]))
    activation = str(rng.choice(ACTIVATIONS))
    if rng.integers(0, 2):
        return tf_conv1d_op.Conv1D(int(rng.integers(2, 9)), kernel, padding=padding,
                                   activation=activation)
    return tf_conv1d_op.DepthwiseConv1D(kernel, padding=padding, activation=activation)


def errors(layer, channels, length, rng, directory):
    """{route: relative max error} for one layer, the batch unknown, the
    length `length` (None: unknown)."""
    model = keras.Sequential([keras.Input((length, channels)), layer])
    weights = layer.get_weights()
    weights[-1] = (0.3 * rng.standard_normal(weights[-1].shape)).astype(np.float32)
    layer.set_weights(weights)
    samples = [rng.standard_normal((1, STEPS, channels)).astype(np.float32) for _ in range(40)]
    settings = int8_settings(samples)
    paths = {name: os.path.join(directory, name) for name in
             ("export.tflite", "stock.tflite", "portable")}
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        tf_conv1d_op.export(model, paths["export.tflite"], format="litert", **settings)
        tf_conv1d_op.to_stock(model).export(paths["stock.tflite"], format="litert",
                                            verbose=False, **settings)
        tf_conv1d_op.export(model, paths["portable"])
        converter = tf.lite.TFLiteConverter.from_saved_model(paths["portable"])
        for name, value in settings.items():
            if name == "target_spec":
                converter.target_spec.supported_ops = value["supported_ops"]
            else:
                setattr(converter, name, value)
        paths["portable.tflite"] = os.path.join(directory, "portable.tflite")
        with open(paths["portable.tflite"], "wb") as f:
            f.write(converter.convert())
    routes = {"export(format='litert')": "export.tflite",
              "portable SavedModel converted": "portable.tflite", "stock": "stock.tflite"}
    x = rng.standard_normal((4, STEPS, channels)).astype(np.float32)
    reference = model(x).numpy()
    scale = float(np.abs(reference).max())
    return {route: float(np.abs(litert_runner(paths[name], x, 1)() - reference).max()) / scale
            for route, name in routes.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    directory = tempfile.mkdtemp(prefix="tf_conv1d_op_int8_")
    print("| layer | export(format='litert') | portable SavedModel converted | stock |")
    print("| --- | ---: | ---: | ---: |")
    ratios = {"export(format='litert')": [], "portable SavedModel converted": []}
    for _ in range(args.layers):
        keras.utils.set_random_seed(int(rng.integers(1 << 30)))
        channels = int(rng.integers(2, 9))
        layer = random_layer(rng, channels)
        length = STEPS if rng.integers(0, 2) else None
        error = errors(layer, channels, length, rng, directory)
        for route, values in ratios.items():
            values.append(error[route] / error["stock"])
        name = (f"{type(layer).__name__}({layer.kernel_size[0]}, {layer.padding}, "
                f"{layer.activation.__name__}), {channels} channels, length {length}")
        print(f"| {name} | " + " | ".join(f"{error[route]:.4f}" for route in
                                          (*ratios, "stock")) + " |")
    for route, values in ratios.items():
        print(f"\n{route}: error / stock's, median {np.median(values):.2f}, "
              f"largest {max(values):.2f}")


if __name__ == "__main__":
    main()
