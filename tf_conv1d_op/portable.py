"""Models and exports that need no plugin: to_stock (the inverse of
replace_conv1d) and export(portable=True), a SavedModel of stock ops only.

A portable export is traced with the composite implementation (composite.py):
every Conv1D of ours becomes pad, convolution, bias add and activation, which
stock TensorFlow, TF Serving, the LiteRT converter and tf2onnx all know. See
docs/deployment.md.
"""
import contextlib
import io
import os
import warnings

import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

from tf_conv1d_op import _implementation, _op_names, composite
from tf_conv1d_op.conversion import clone_with_weights
from tf_conv1d_op.layers import Conv1D, DepthwiseConv1D, SeparableConv1D
from tf_conv1d_op.layers._keras import IS_KERAS_3, keras


class _RunsComposite:
    """Runs the layer on the composite implementation, always."""

    def call(self, inputs, initial_state=None, return_state=False):
        with _implementation.using(_implementation.COMPOSITE):
            return super().call(inputs, initial_state=initial_state, return_state=return_state)


@keras.utils.register_keras_serializable(package="tf_conv1d_op")
class CompositeConv1D(_RunsComposite, Conv1D):
    """tf_conv1d_op.Conv1D that always runs the composite implementation: what
    to_stock leaves where the stock layer cannot express ours (strides with
    dilation, channels_first, which the stock CPU layer runs only with
    oneDNN). Loading a model that holds it imports tf_conv1d_op, but needs no
    compiled library when TF_CONV1D_OP_IMPLEMENTATION=composite."""


@keras.utils.register_keras_serializable(package="tf_conv1d_op")
class CompositeDepthwiseConv1D(_RunsComposite, DepthwiseConv1D):
    """tf_conv1d_op.DepthwiseConv1D on the composite implementation, where
    the stock layer cannot express ours (channels_first, and strides with
    dilation under tf-keras)."""


@keras.utils.register_keras_serializable(package="tf_conv1d_op")
class CompositeSeparableConv1D(_RunsComposite, SeparableConv1D):
    """tf_conv1d_op.SeparableConv1D on the composite implementation, where the
    stock layer cannot express ours (channels_first, causal padding under
    Keras 3, strides with dilation under tf-keras)."""


def _channels_last_stock(layer_class, config):
    """The stock layer of `config`, or None in channels_first: the stock
    Conv1D runs that on TensorFlow's CPU only with oneDNN, and Keras 3.15's
    stock DepthwiseConv1D and SeparableConv1D add their bias along the steps
    axis on the CPU when the output has as many steps as channels."""
    if config["data_format"] != "channels_last":
        return None
    return layer_class.from_config(config)


def _stock_conv1d(config):
    if config["strides"][0] > 1 and config["dilation_rate"][0] > 1:
        return None  # the stock layer refuses strides > 1 with dilation > 1
    return _channels_last_stock(keras.layers.Conv1D, config)


def _stock_depthwise_conv1d(config):
    # Keras 3's stock layer computes strides > 1 with dilation > 1; tf-keras'
    # refuses them.
    if not IS_KERAS_3 and config["strides"][0] > 1 and config["dilation_rate"][0] > 1:
        return None
    return _channels_last_stock(keras.layers.DepthwiseConv1D, config)


def _stock_separable_conv1d(config):
    if IS_KERAS_3 and config["padding"] == "causal":
        return None  # Keras 3's stock layer has no causal padding
    if not IS_KERAS_3 and config["strides"][0] > 1 and config["dilation_rate"][0] > 1:
        return None
    return _channels_last_stock(keras.layers.SeparableConv1D, config)


# Ours, the stock layer for its config where one computes the same (else
# None), and the composite fallback.
_STOCK_FOR_OURS = {Conv1D: (_stock_conv1d, CompositeConv1D),
                   DepthwiseConv1D: (_stock_depthwise_conv1d, CompositeDepthwiseConv1D),
                   SeparableConv1D: (_stock_separable_conv1d, CompositeSeparableConv1D)}


def _clone(layer):
    config = layer.get_config()
    if type(layer) in _STOCK_FOR_OURS:  # not the composite ones nor user subclasses
        stock, composite = _STOCK_FOR_OURS[type(layer)]
        return stock(config) or composite.from_config(config)
    return type(layer).from_config(config)


def to_stock(model):
    """A copy of `model` with each tf_conv1d_op.Conv1D, DepthwiseConv1D and
    SeparableConv1D turned back into the stock keras.layers one, weights kept
    (the inverse of replace_conv1d).

    Where the stock layer cannot compute what ours does (strides > 1 with
    dilation > 1; channels_first, which the stock Conv1D runs on the CPU only
    with oneDNN and the stock DepthwiseConv1D and SeparableConv1D get wrong
    there; a causal SeparableConv1D under Keras 3) the layer becomes the
    Composite class of the same name, ours on stock TensorFlow ops.
    Sequential and functional models, nested ones included; the copy is not
    compiled, the original is untouched.
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"to_stock expects a keras.Model, got {type(model).__name__}")
    return clone_with_weights(
        model, lambda layer: to_stock(layer) if isinstance(layer, keras.Model) else _clone(layer),
        "to_stock", "Export it with tf_conv1d_op.export(model, path, portable=True) instead.")


def op_types(saved_model_dir):
    """Every op type in a SavedModel's graphs and function library."""
    proto = saved_model_pb2.SavedModel()
    with open(os.path.join(saved_model_dir, "saved_model.pb"), "rb") as f:
        proto.ParseFromString(f.read())
    types = set()
    for meta_graph in proto.meta_graphs:
        graph = meta_graph.graph_def
        types.update(node.op for node in graph.node)
        for function in graph.library.function:
            types.update(node.op for node in function.node_def)
    return types


def plugin_ops_in(saved_model_dir):
    """The op types of this package that a SavedModel holds (sorted)."""
    return sorted(op_types(saved_model_dir) & set(_op_names.ALL))


# Keras 3's model.export formats that hold no kernel of ours: LiteRT runs
# builtin ops only (the Flex delegate is not in TensorFlow's wheel).
_FORMATS_WITHOUT_THE_OP = ("litert",)


def export(model, path, portable=True, format="tf_saved_model", **kwargs):
    """Writes `model`'s inference function at `path`, as model.export does.

    Keras 3: model.export(path, format=format, **kwargs), the `serve`
    endpoint in any format it writes ("tf_saved_model", "onnx", "litert",
    ...; tested: those three). tf-keras: tf.saved_model.save, the one format.

    portable=True traces it with the composite implementation: the artifact
    holds stock TensorFlow ops only, and runs without this package (stock TF
    Serving, a plain TensorFlow, LiteRT, onnxruntime; the LiteRT converter and
    tf2onnx read the SavedModel too). portable=False keeps our op: faster, but
    a SavedModel then needs the plugin wherever it runs, and ONNX gets the op
    converted by our tf2onnx handler (as model.export(format="onnx") does).
    A format other than a SavedModel traces the composite for the converter
    (composite.for_converters), which fuses it as it fuses the stock layers.

    Raises:
      ValueError: a format tf-keras cannot write, or "litert" with
        portable=False (LiteRT has no kernel of the op).
      RuntimeError: portable=True, yet the SavedModel holds one of our ops (a
        layer that calls the compiled op directly).
    """
    if not IS_KERAS_3 and (format != "tf_saved_model" or kwargs):
        raise ValueError(f"tf_conv1d_op.export: under tf-keras the export is a SavedModel "
                         f"(format='tf_saved_model', no other arguments); received "
                         f"format={format!r}, arguments {sorted(kwargs)}")
    if not portable and format in _FORMATS_WITHOUT_THE_OP:
        raise ValueError(f"tf_conv1d_op.export: format={format!r} needs portable=True: "
                         f"it runs builtin ops only, and has no kernel of our op")
    implementation = _implementation.COMPOSITE if portable else _implementation.current()
    # A format other than a SavedModel goes to a converter, not to TensorFlow.
    for_converters = composite.for_converters() if format != "tf_saved_model" else (
        contextlib.nullcontext())
    with _implementation.using(implementation), for_converters:
        if IS_KERAS_3:
            with contextlib.redirect_stdout(io.StringIO()):  # Keras lists the endpoints
                model.export(path, format=format, **kwargs)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                tf.saved_model.save(model, path)
    if portable and format == "tf_saved_model":
        left = plugin_ops_in(path)
        if left:
            raise RuntimeError(f"tf_conv1d_op.export(portable=True): the SavedModel at {path} "
                               f"still holds {left}; it needs the plugin to load")
    return path
