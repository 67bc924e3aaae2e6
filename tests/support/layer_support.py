"""Shared pieces of the layer tests: the running Keras, stock/ours layer pairs,
and fresh Python processes."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import tensorflow as tf

import tf_conv1d_op
from tf_conv1d_op.layers import _keras
from tests.support import REPO

keras = tf.keras
IS_KERAS_3 = _keras.IS_KERAS_3


def rng_for(*key):
    """A generator seeded from a test's parameters (stable across runs)."""
    return np.random.default_rng([ord(c) for c in repr(key)])


def stock_and_ours(input_shape, dtype=None, **kwargs):
    """A stock keras.layers.Conv1D and ours with the same config and weights,
    both built for input_shape."""
    layer_dtype = {} if dtype is None else {"dtype": dtype}
    stock = keras.layers.Conv1D(**kwargs, **layer_dtype)
    ours = tf_conv1d_op.Conv1D(**kwargs, **layer_dtype)
    stock.build(input_shape)
    ours.build(input_shape)
    ours.set_weights(stock.get_weights())
    return stock, ours


def outputs_and_grads(layer, x, cotangent):
    """layer(x) and d sum(layer(x) * cotangent) / d(x, kernel[, bias])."""
    x = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x)
        loss = tf.reduce_sum(tf.cast(y, tf.float64) * cotangent)
    grads = tape.gradient(loss, [x] + layer.trainable_weights)
    return [y.numpy().astype(np.float64)] + [g.numpy().astype(np.float64) for g in grads]


def python_env(**extra):
    """The environment for a child Python: this one, with the repository on
    PYTHONPATH and the same Keras selection (TF_USE_LEGACY_KERAS)."""
    env = dict(os.environ)
    paths = [REPO] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.update(extra)
    return env


def run_script(path, *args, timeout=240, check=True, env=None):
    """Runs the Python file `path` in a fresh interpreter; returns the
    CompletedProcess (stdout and stderr captured as text)."""
    return _run([path, *map(str, args)], timeout, check, env)


def run_python(code, *args, timeout=240, check=True, env=None):
    """Runs `code` in a fresh interpreter; returns the CompletedProcess."""
    return _run(["-c", textwrap.dedent(code), *map(str, args)], timeout, check, env)


def _run(argv, timeout, check, env):
    result = subprocess.run([sys.executable, *argv], env=env or python_env(),
                            capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"child Python failed ({result.returncode}):\n"
                             f"{result.stdout[-3000:]}\n{result.stderr[-6000:]}")
    return result
