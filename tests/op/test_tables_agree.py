"""The facts Python keeps beside the library, for the composite
implementation that runs without it, are the library's: the activation
table (cc/kernels/core/activation_table.h, reported through ctypes) and the
dtypes of the ops' T attribute (cc/kernels/core/dtypes.h)."""
import tensorflow as tf
from tensorflow.python.framework import op_def_registry

import tf_conv1d_op  # noqa: F401  (loads the library, registering the ops)
from tf_conv1d_op import _library, _op_names, activations, ops


def test_python_activation_rows_are_the_librarys():
    library = [(row["name"], row["operand"]) for row in _library.activation_table()]
    assert list(activations.TABLE) == library


def test_python_dtypes_are_the_ops():
    for name in _op_names.ALL:
        (attr,) = [a for a in op_def_registry.get(name).attr if a.name == "T"]
        assert {tf.as_dtype(t) for t in attr.allowed_values.list.type} == \
            set(ops.SUPPORTED_DTYPES), name
