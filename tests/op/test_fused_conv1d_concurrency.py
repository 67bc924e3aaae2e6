"""Concurrency and reproducibility of the op and its gradients.

- Many Python threads calling one tf.function (forward and gradients) at once,
  on different inputs, give bitwise the results of serial calls.
- The same call repeated gives bitwise the same results.
- Results are bitwise the same for 1, 2 and 4 intra-op threads (each count in
  its own process): the CPU core cuts work by problem size only, never by
  thread count.
The problems are large enough that every pass is split into several units.
"""
import os
import subprocess
import sys
import tempfile
import threading

import numpy as np
import pytest
import tensorflow as tf

import tf_conv1d_op
from tests.support import REPO

ROOT = REPO
THREADS = 8

# (batch, steps, in_channels, kernel_size, filters, attrs, dtype)
PROBLEMS = [
    (4, 1500, 8, 3, 16, dict(padding="SAME", activation="gelu"), tf.float32),
    (3, 1200, 5, 4, 7, dict(padding="CAUSAL", stride=2, dilations=3, activation="elu"), tf.float32),
    (2, 1100, 6, 5, 9, dict(padding="VALID", data_format="NCW", activation="leaky_relu",
                            negative_slope=-0.1), tf.float64),
    (4, 900, 4, 3, 8, dict(padding="SAME", stride=3, activation="silu"), tf.float16),
    (3, 800, 3, 2, 5, dict(padding="CAUSAL", dilations=2, activation="tanh"), tf.bfloat16),
]


def problem_inputs(index, seed):
    batch, steps, cin, k, filters, attrs, dtype = PROBLEMS[index]
    rng = np.random.default_rng(seed)
    x_shape = (batch, cin, steps) if attrs.get("data_format") == "NCW" else (batch, steps, cin)
    x = tf.constant(rng.standard_normal(x_shape), dtype)
    w = tf.constant(rng.standard_normal((k, cin, filters)) / np.sqrt(k * cin), dtype)
    b = tf.constant(rng.standard_normal(filters), dtype)
    return x, w, b


def make_step(index):
    """A tf.function: output and the gradients of a fixed weighted sum of it."""
    attrs = PROBLEMS[index][5]

    @tf.function
    def step(x, w, b):
        with tf.GradientTape() as tape:
            tape.watch([x, w, b])
            y = tf_conv1d_op.fused_conv1d(x, w, b, **attrs)
            weights = tf.cos(tf.reshape(tf.range(tf.size(y), dtype=tf.float32), tf.shape(y)))
            loss = tf.reduce_sum(tf.cast(y, tf.float32) * weights)
        return [y] + tape.gradient(loss, [x, w, b])
    return step


def as_bytes(tensors):
    return [t.numpy().tobytes() for t in tensors]


def test_threads_match_serial_bitwise():
    steps = [make_step(i) for i in range(len(PROBLEMS))]
    jobs = [(i % len(PROBLEMS), seed) for i, seed in enumerate(range(3 * THREADS))]
    inputs = {job: problem_inputs(*job) for job in jobs}
    serial = {job: as_bytes(steps[job[0]](*inputs[job])) for job in jobs}

    results, errors = {}, []
    barrier = threading.Barrier(THREADS)

    def worker(mine):
        try:
            barrier.wait()
            for _ in range(2):
                for job in mine:
                    results.setdefault(job, []).append(as_bytes(steps[job[0]](*inputs[job])))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(jobs[t::THREADS],)) for t in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for job in jobs:
        assert len(results[job]) == 2
        for got in results[job]:
            assert got == serial[job], f"problem {job}: threaded result differs from serial"


def test_repeated_calls_are_bitwise_identical():
    for index in range(len(PROBLEMS)):
        step = make_step(index)
        inputs = problem_inputs(index, seed=100 + index)
        first = as_bytes(step(*inputs))
        for _ in range(3):
            assert as_bytes(step(*inputs)) == first, f"problem {index} varies run to run"
        eager = tf_conv1d_op.fused_conv1d(*inputs, **PROBLEMS[index][5])
        assert eager.numpy().tobytes() == first[0], f"problem {index}: eager differs from graph"


def child(threads, path):
    """Runs in a fresh process: all problems with `threads` intra-op threads."""
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    arrays = {}
    for index in range(len(PROBLEMS)):
        outputs = make_step(index)(*problem_inputs(index, seed=7 + index))
        for name, t in zip(("y", "dx", "dw", "db"), outputs):
            arrays[f"{index}_{name}"] = np.frombuffer(t.numpy().tobytes(), np.uint8)
    np.savez(path, **arrays)


@pytest.mark.main_run_only
@pytest.mark.parametrize("counts", [(1, 2, 4)])
def test_results_do_not_depend_on_thread_count(counts):
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]))
        procs = []
        for n in counts:
            code = (f"from tests.op.test_fused_conv1d_concurrency import child; "
                    f"child({n}, {os.path.join(tmp, f'{n}.npz')!r})")
            procs.append(subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                          text=True))
        for n, proc in zip(counts, procs):
            _, stderr = proc.communicate(timeout=600)
            assert proc.returncode == 0, f"{n} threads: exit {proc.returncode}\n{stderr[-3000:]}"
        results = [np.load(os.path.join(tmp, f"{n}.npz")) for n in counts]
        for key in results[0].files:
            for n, other in zip(counts[1:], results[1:]):
                assert np.array_equal(results[0][key], other[key]), (
                    f"{key}: {counts[0]} and {n} intra-op threads differ")
