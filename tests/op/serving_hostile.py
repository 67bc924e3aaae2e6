"""A reloaded SavedModel served in one long-lived process: hostile requests
(empty tensors with huge dimensions, huge declared kernel sizes) are refused
or answered correctly, and ordinary requests keep getting the right answer.

    python -m tests.op.serving_hostile save DIR   # builds and saves the model
    python -m tests.op.serving_hostile serve DIR  # loads it, serves, prints a JSON summary

tests/op/test_fused_conv1d_empty_huge.py runs both in child processes: a crash
of the server is a failed test, not a dead pytest.
"""
import json
import os
import re
import sys

import numpy as np
import tensorflow as tf

import tf_conv1d_op
from tests.support import reference

CIN, COUT = 3, 4
_NAMED = re.compile(r"FusedConv1D|fused_conv1d|OOM when allocating")


class Served(tf.Module):
    """The layer in both layouts, its gradient, and the raw function form."""

    def __init__(self):
        super().__init__()
        self.nwc = tf_conv1d_op.Conv1D(COUT, 3, padding="same", activation="relu")
        self.ncw = tf_conv1d_op.Conv1D(COUT, 3, padding="same", activation="tanh",
                                       data_format="channels_first")
        self.nwc.build((None, None, CIN))
        self.ncw.build((None, CIN, None))
        # Tracked by name, so the reloaded object exposes them.
        self.nwc_weights = [self.nwc.kernel, self.nwc.bias]
        self.ncw_weights = [self.ncw.kernel, self.ncw.bias]

    @tf.function(input_signature=[tf.TensorSpec([None, None, CIN])])
    def serve_nwc(self, x):
        return self.nwc(x)

    @tf.function(input_signature=[tf.TensorSpec([None, CIN, None])])
    def serve_ncw(self, x):
        return self.ncw(x)

    @tf.function(input_signature=[tf.TensorSpec([None, None, CIN]),
                                  tf.TensorSpec([None, None, COUT])])
    def gradients(self, x, dy):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = self.nwc(x)
        return tape.gradient(y, [x] + self.nwc.trainable_variables, output_gradients=dy)

    @tf.function(input_signature=[tf.TensorSpec(None), tf.TensorSpec(None)])
    def convolve(self, x, w):
        return tf_conv1d_op.fused_conv1d(x, w, padding="SAME", dilations=2)


def _hostile_requests():
    """(endpoint, shapes of the arguments) of requests that hold no data but
    declare a lot."""
    big, max64 = 2**62, 2**63 - 1
    for b, w in ((big, 0), (0, big), (max64, 0), (0, max64), (2**40, 0), (2**33, 0)):
        yield "serve_nwc", ([b, w, CIN],)
        yield "serve_ncw", ([b, CIN, w],)
        yield "gradients", ([b, w, CIN], [b, w, COUT])
    for steps, kernel in ((5, 2**36), (5, 2**62), (2**40, 3)):
        yield "convolve", ([1, steps, 0], [kernel, 0, 1])
    yield "convolve", ([big, 1, 0], [3, 0, 4])
    yield "convolve", ([0, big, 0], [big, 0, 2**20])


def _zeros(shapes):
    """The tensors, or None where TensorFlow itself cannot make one (its
    shapes multiply left to right: [2**62, 3, 0] passes 2^63 before the 0)."""
    try:
        return [tf.zeros(shape) for shape in shapes]
    except (tf.errors.InvalidArgumentError, ValueError):
        return None


def save(path):
    tf.saved_model.save(Served(), path)


def _ordinary(model, rng):
    """An ordinary request to each endpoint, checked against the reference."""
    x = rng.standard_normal((2, 9, CIN)).astype(np.float32)
    (w_nwc, b_nwc), (w_ncw, b_ncw) = ([v.numpy() for v in model.nwc_weights],
                                      [v.numpy() for v in model.ncw_weights])
    want_nwc = reference.conv1d(x, w_nwc, b_nwc, padding="SAME",
                                activation="relu").numpy()
    np.testing.assert_allclose(model.serve_nwc(x).numpy(), want_nwc, rtol=1e-4, atol=1e-5)
    x_ncw = np.ascontiguousarray(x.transpose(0, 2, 1))
    want_ncw = reference.conv1d(x_ncw, w_ncw, b_ncw, padding="SAME",
                                data_format="NCW", activation="tanh").numpy()
    np.testing.assert_allclose(model.serve_ncw(x_ncw).numpy(), want_ncw, rtol=1e-4, atol=1e-5)
    dy = rng.standard_normal(want_nwc.shape).astype(np.float32)
    grads = model.gradients(x, dy)
    want, _ = reference.conv1d_and_grads(x, w_nwc, b_nwc, dy,
                                         padding="SAME", activation="relu")
    for got, expected in zip(grads, want[1:]):
        np.testing.assert_allclose(got.numpy(), np.asarray(expected), rtol=1e-3, atol=1e-4)
    w = rng.standard_normal((3, CIN, 2)).astype(np.float32)
    want_conv = reference.conv1d(x, w, None, padding="SAME", dilation=2).numpy()
    np.testing.assert_allclose(model.convolve(x, w).numpy(), want_conv, rtol=1e-4, atol=1e-5)


def serve(path, rounds=None):
    if rounds is None:
        rounds = 5 if os.environ.get("TF_CONV1D_CAMPAIGN") == "full" else 1
    model = tf.saved_model.load(path)
    rng = np.random.default_rng(0)
    summary = {"hostile": 0, "refused": 0, "answered": 0, "ordinary": 0, "refusals": []}
    _ordinary(model, rng)
    for _ in range(rounds):
        for endpoint, shapes in _hostile_requests():
            args = _zeros(shapes)
            if args is None:
                continue
            summary["hostile"] += 1
            try:
                results = getattr(model, endpoint)(*args)
                summary["answered"] += 1
                for r in tf.nest.flatten(results):
                    assert r.shape.num_elements() is not None
            except (tf.errors.InvalidArgumentError, tf.errors.ResourceExhaustedError,
                    ValueError) as e:
                summary["refused"] += 1
                # The line that says why (graph errors start with a generic one).
                why = [line for line in str(e).splitlines() if _NAMED.search(line)]
                summary["refusals"].append(f"{endpoint}{shapes}: {type(e).__name__}: "
                                           + (why[0][:400] if why else "UNNAMED " + str(e)[:400]))
            _ordinary(model, rng)
            summary["ordinary"] += 1
    print("@@summary " + json.dumps(summary), flush=True)


if __name__ == "__main__":
    {"save": save, "serve": serve}[sys.argv[1]](sys.argv[2])
