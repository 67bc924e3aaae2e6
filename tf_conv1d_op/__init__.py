"""tf_conv1d_op: a fused Conv1D + bias + activation TensorFlow op and Keras layer.

Importing the package loads the op library (so SavedModels that use the op
can be loaded), registers the gradients of its ops (so they can be
differentiated, to any order, in reverse and forward mode) and their pfor
converters (tf.vectorized_map, jacobians), and registers tf_conv1d_op.Conv1D,
DepthwiseConv1D and SeparableConv1D with Keras (so .keras files that use them
load without custom_objects). When the program imports tf2onnx, the handler of
our op is registered with it (tf2onnx_handler.py), so that Keras 3's
model.export(format="onnx") converts models holding the op.

With TF_CONV1D_OP_IMPLEMENTATION=composite the compiled library is not loaded
at all: fused_conv1d and the layer run on stock TensorFlow ops
(_implementation.py).
"""
from tf_conv1d_op._version import __version__
from tf_conv1d_op import _library
from tf_conv1d_op import _gradients  # noqa: F401  (registers the gradients)
from tf_conv1d_op import _vectorization  # noqa: F401  (registers the pfor converters)
from tf_conv1d_op.activations import FUSED_ACTIVATIONS
from tf_conv1d_op.ops import fused_conv1d
from tf_conv1d_op.layers import Conv1D, DepthwiseConv1D, SeparableConv1D
from tf_conv1d_op.conversion import replace_conv1d
from tf_conv1d_op.portable import export, to_stock
from tf_conv1d_op.streaming import initial_states, streaming_model
from tf_conv1d_op import _tf2onnx_registration

_tf2onnx_registration.install()

build_info = _library.build_info

__all__ = ["Conv1D", "DepthwiseConv1D", "FUSED_ACTIVATIONS", "__version__", "build_info", "export",
           "fused_conv1d", "initial_states", "replace_conv1d", "SeparableConv1D", "streaming_model",
           "to_stock"]
