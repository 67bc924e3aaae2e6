"""tf_conv1d_op.Conv1D under tf.distribute: the same weights as training on
one device. Each run is a fresh process (tests/layer/layer_child_distribute.py)."""
import socket
import subprocess
import sys

import numpy as np

from tests.layer import layer_child_distribute as child
from tests.support.layer_support import python_env, run_script

CHILD = child.__file__
TIMEOUT_S = 240


def weights(npz, prefix):
    return [npz[f"{prefix}_{i}"] for i in range(len([k for k in npz if k.startswith(prefix)]))]


def assert_same_weights(actual, expected):
    assert len(actual) == len(expected) > 0
    for a, e in zip(actual, expected):
        np.testing.assert_allclose(a, e, rtol=1e-4, atol=1e-5)


def test_mirrored_strategy_on_two_cpu_devices(tmp_path):
    out = str(tmp_path / "mirrored.npz")
    run_script(CHILD, "mirrored", out, timeout=TIMEOUT_S)
    result = np.load(out)
    assert int(result["replicas"]) == 2
    single, distributed = weights(result, "single"), weights(result, "distributed")
    assert not np.allclose(single[0], child.build_model().get_weights()[0])  # it trained
    assert_same_weights(distributed, single)


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def test_multi_worker_mirrored_strategy_with_two_local_workers(tmp_path):
    ports = ",".join(map(str, free_ports(2)))
    outs = [str(tmp_path / f"worker{i}.npz") for i in range(2)]
    workers = [subprocess.Popen([sys.executable, CHILD, "worker", str(i), ports, outs[i]],
                                env=python_env(), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
               for i in range(2)]
    try:
        logs = [w.communicate(timeout=TIMEOUT_S)[0] for w in workers]
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
                w.wait()
    for w, log in zip(workers, logs):
        assert w.returncode == 0, log[-4000:]
    import tensorflow as tf

    expected = child.train_loop(tf.distribute.get_strategy())
    assert_same_weights(expected, child.train_fit())  # the loop is fit's training
    for out in outs:
        result = np.load(out)
        assert int(result["replicas"]) == 2
        assert_same_weights(weights(result, "distributed"), expected)
