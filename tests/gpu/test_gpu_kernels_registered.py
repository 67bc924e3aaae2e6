"""With a CUDA build, every op has a GPU kernel for every dtype.

Runs without a GPU: registration happens when the library loads.
"""
import pytest
import tensorflow as tf
from tensorflow.python.framework import kernels

import tf_conv1d_op
from tf_conv1d_op import _op_names

OPS = _op_names.ALL
DTYPES = (tf.float16, tf.bfloat16, tf.float32, tf.float64)
HOST_MEMORY = {_op_names.FORWARD: set(), _op_names.BACKPROP_INPUT: {"input_sizes"},
               _op_names.BACKPROP_FILTER: {"filter_sizes"}, _op_names.STREAM: set()}

pytestmark = pytest.mark.skipif(
    not tf_conv1d_op.build_info()["cuda"],
    reason="the op library was built without CUDA (no nvcc found, or TF_CONV1D_CUDA=0)")


def gpu_kernels(op):
    return [k for k in kernels.get_registered_kernels_for_op(op).kernel
            if k.device_type == "GPU"]


def type_constraint(kernel):
    (constraint,) = [c for c in kernel.constraint if c.name == "T"]
    return set(constraint.allowed_values.list.type)


@pytest.mark.parametrize("op", OPS)
def test_every_dtype_has_a_gpu_kernel(op):
    registered = set()
    for kernel in gpu_kernels(op):
        registered |= type_constraint(kernel)
    assert registered == {d.as_datatype_enum for d in DTYPES}


@pytest.mark.parametrize("op", OPS)
def test_shape_inputs_are_read_from_host_memory(op):
    for kernel in gpu_kernels(op):
        assert set(kernel.host_memory_arg) == HOST_MEMORY[op]


def test_build_info_names_the_cuda_build():
    info = tf_conv1d_op.build_info()
    assert info["cuda_archs"] and all(isinstance(a, int) and a >= 70 for a in info["cuda_archs"])
    assert info["cuda_toolkit"]
    assert "runtime" in info["cuda_runtime"]
