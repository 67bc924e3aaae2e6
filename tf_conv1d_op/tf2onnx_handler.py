"""A tf2onnx handler for our forward op, so that even an export that holds it
(export(..., portable=False), model.export) converts to ONNX: the op becomes
ONNX Conv (which takes strides with dilation, bias and groups), then the activation
from ONNX ops that onnxruntime implements.

Importing this module registers the handler with tf2onnx (and imports
tf_conv1d_op, whose op library TensorFlow needs to read such a SavedModel).

    python -m tf_conv1d_op.tf2onnx_handler --saved-model DIR --output model.onnx
    (tf2onnx's own command line, with the handler registered)

Needs the `onnx` extra: pip install "tf_conv1d_op[onnx]".
"""
import math
import sys

import numpy as np
from tf2onnx import convert, tf_loader, utils
from tf2onnx.handler import tf_op

import tf_conv1d_op  # noqa: F401  (registers the op with TensorFlow)
from tf_conv1d_op import _op_names
from tf_conv1d_op.activations import kernel_slope

OPSET = 17  # onnxruntime's well-trodden default; Erf and Clip with inputs need >= 13


def _text(value):
    return value.decode() if isinstance(value, bytes) else value


def _pads(steps, kernel_extent, stride, padding):
    """[left, right] zeros, as the op pads (conv1d_geometry.cc), or None for
    SAME with a stride over an unknown number of steps (then computed in the
    graph: onnxruntime refuses Conv's SAME_UPPER with dilation)."""
    if padding == "VALID":
        return [0, 0]
    if padding == "CAUSAL":
        return [kernel_extent - 1, 0]
    if stride == 1:  # SAME: the total does not depend on the length
        needed = kernel_extent - 1
    elif steps is None or steps < 0:
        return None
    else:
        out_steps = -(-steps // stride)
        needed = max((out_steps - 1) * stride + kernel_extent - steps, 0) if steps else 0
    return [needed // 2, needed - needed // 2]


class _Builder:
    """Makes ONNX nodes in tf2onnx's graph, constants in the tensor's dtype."""

    def __init__(self, ctx, dtype):
        self.ctx, self.dtype = ctx, dtype
        self.np_dtype = utils.map_onnx_to_numpy_type(dtype)

    def const(self, value):
        return self.ctx.make_const(utils.make_name("tf_conv1d_op_const"),
                                   np.array(value, self.np_dtype)).output[0]

    def node(self, op_type, inputs, **attr):
        return self.ctx.make_node(op_type, inputs, attr=attr).output[0]

    def mul(self, a, b):
        return self.node("Mul", [a, b])

    def add(self, a, b):
        return self.node("Add", [a, b])

    def int64(self, value):
        return self.ctx.make_const(utils.make_name("tf_conv1d_op_int"),
                                   np.array(value, np.int64)).output[0]


def _pad_same_in_graph(b, x, kernel_extent, stride):
    """x (NCW) padded by TF's SAME rule, the length read at run time."""
    steps = b.node("Gather", [b.node("Shape", [x]), b.int64(2)], axis=0)
    out_steps = b.node("Div", [b.node("Add", [steps, b.int64(stride - 1)]), b.int64(stride)])
    span = b.node("Mul", [b.node("Sub", [out_steps, b.int64(1)]), b.int64(stride)])
    needed = b.node("Max", [b.node("Sub", [b.node("Add", [span, b.int64(kernel_extent)]),
                                           steps]), b.int64(0)])
    left = b.node("Div", [needed, b.int64(2)])
    right = b.node("Sub", [needed, left])
    as_vector = [b.node("Reshape", [v, b.int64([1])]) for v in (left, right)]
    pads = b.node("Concat", [b.int64([0, 0]), as_vector[0], b.int64([0, 0]), as_vector[1]],
                  axis=0)
    return b.node("Pad", [x, pads], mode="constant")


def _activation(b, z, activation, slope):
    """activation(z) as ONNX nodes (Keras 3 definitions, as the op)."""
    if activation == "linear":
        return z
    if activation == "relu6":
        return b.node("Clip", [z, b.const(0.0), b.const(6.0)])
    if activation == "leaky_relu":
        return b.node("LeakyRelu", [z], alpha=slope)
    if activation == "elu":
        return b.node("Elu", [z], alpha=1.0)
    if activation == "hard_sigmoid":  # relu6(z + 3) / 6 = clip(z / 6 + 1 / 2, 0, 1)
        return b.node("HardSigmoid", [z], alpha=1.0 / 6.0, beta=0.5)
    if activation == "gelu":  # erf, not erfc: onnxruntime has no Erfc
        erf = b.node("Erf", [b.mul(z, b.const(math.sqrt(0.5)))])
        return b.mul(b.mul(z, b.const(0.5)), b.add(erf, b.const(1.0)))
    if activation == "gelu_tanh":
        cube = b.mul(b.mul(z, z), z)
        inner = b.mul(b.add(z, b.mul(cube, b.const(0.044715))),
                      b.const(math.sqrt(2.0 / math.pi)))
        return b.mul(b.mul(z, b.const(0.5)), b.add(b.node("Tanh", [inner]), b.const(1.0)))
    if activation == "silu":
        return b.mul(z, b.node("Sigmoid", [z]))
    direct = {"relu": "Relu", "selu": "Selu", "sigmoid": "Sigmoid", "tanh": "Tanh",
              "softplus": "Softplus"}
    return b.node(direct[activation], [z])


@tf_op(_op_names.FORWARD)
class FusedConv1D:
    @classmethod
    def version_13(cls, ctx, node, **kwargs):
        utils.make_sure(not ctx.find_output_consumers(node.output[1]),
                        "%s: its second output (for the gradient) is used; only inference "
                        "graphs convert", node.name)
        stride = node.get_attr_int("stride")
        dilation = node.get_attr_int("dilation")
        groups = node.get_attr_value("groups", 1)  # absent from graphs made before it
        padding = _text(node.get_attr_str("padding"))
        data_format = _text(node.get_attr_str("data_format"))
        activation = _text(node.get_attr_str("activation"))
        slope = kernel_slope(node.get_attr_value("negative_slope"))
        x, filters, bias = node.input
        output, dtype = node.output[0], ctx.get_dtype(node.output[0])
        x_shape, filter_shape = ctx.get_shape(x), ctx.get_shape(filters)
        utils.make_sure(filter_shape is not None and filter_shape[0] > 0,
                        "%s: the kernel size must be known to convert", node.name)
        steps_axis = 1 if data_format == "NWC" else 2
        steps = x_shape[steps_axis] if x_shape is not None else None
        pads = _pads(steps, (filter_shape[0] - 1) * dilation + 1, stride, padding)
        ctx.remove_node(node.name)

        b = _Builder(ctx, dtype)
        if data_format == "NWC":  # ONNX Conv is channels first
            x = b.node("Transpose", [x], perm=[0, 2, 1])
        # [out, in / groups, k]; ONNX splits the channels into groups in TF's order.
        weights = b.node("Transpose", [filters], perm=[2, 1, 0])
        conv_inputs = [x, weights]
        bias_shape = ctx.get_shape(bias)
        if bias_shape is None or bias_shape != [0]:  # an empty bias means none
            conv_inputs.append(bias)
        if pads is None:
            conv_inputs[0] = _pad_same_in_graph(b, x, (filter_shape[0] - 1) * dilation + 1,
                                                stride)
            pads = [0, 0]
        conv = b.node("Conv", conv_inputs, strides=[stride], dilations=[dilation], pads=pads,
                      group=groups)
        y = _activation(b, conv, activation, slope)
        if data_format == "NWC":
            ctx.make_node("Transpose", [y], attr={"perm": [0, 2, 1]}, outputs=[output])
        else:
            ctx.make_node("Identity", [y], outputs=[output])


def convert_saved_model(saved_model_dir, opset=OPSET, signature="serving_default"):
    """The ONNX ModelProto of a SavedModel, ours or stock ops alike."""
    graph_def, inputs, outputs = tf_loader.from_saved_model(
        saved_model_dir, None, None, signatures=[signature])
    model, _ = convert.from_graph_def(graph_def, input_names=inputs, output_names=outputs,
                                      opset=opset)
    return model


if __name__ == "__main__":
    sys.argv[0] = "tf2onnx.convert"
    convert.main()
