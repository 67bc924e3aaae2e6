"""The devices the op's correctness tests run on: the CPU always, the GPU when
TensorFlow sees one, so that a machine with a GPU runs the same cases on both
kernels. A test takes the `device` fixture and runs inside tf.device: the
grid, the finite-difference, non-finite, multi-tile and second-order tests
do (the Winograd ones are the CPU's own)."""
import pytest
import tensorflow as tf

DEVICES = ["CPU"] + (["GPU"] if tf.config.list_physical_devices("GPU") else [])


@pytest.fixture(params=DEVICES)
def device(request):
    with tf.device(f"/{request.param}:0"):
        yield request.param
