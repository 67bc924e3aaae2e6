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
from onnx import helper
from tf2onnx import convert, tf_loader, utils
from tf2onnx.handler import tf_op

import tf_conv1d_op  # noqa: F401  (registers the op with TensorFlow)
from tf_conv1d_op import _op_names
from tf_conv1d_op._geometry import padding_zeros
from tf_conv1d_op.activations import kernel_slope

OPSET = 17  # onnxruntime's well-trodden default; Erf and Clip with inputs need >= 13


def _text(value):
    return value.decode() if isinstance(value, bytes) else value


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


class _GraphInt:
    """A scalar int64 ONNX value with Python's arithmetic, so that
    _geometry's length rules build their nodes. ONNX's integer Div truncates;
    the rules divide only lengths and counts of zeros, which are not negative."""

    def __init__(self, b, value):
        self.b, self.value = b, value

    @classmethod
    def length(cls, b, x, axis):
        return cls(b, b.node("Gather", [b.node("Shape", [x]), b.int64(axis)], axis=0))

    def _apply(self, op_type, other):
        other = other.value if isinstance(other, _GraphInt) else self.b.int64(other)
        return _GraphInt(self.b, self.b.node(op_type, [self.value, other]))

    def __add__(self, other):
        return self._apply("Add", other)

    __radd__ = __add__

    def __sub__(self, other):
        return self._apply("Sub", other)

    def __rsub__(self, other):
        return _GraphInt(self.b, self.b.int64(other))._apply("Sub", self)

    def __mul__(self, other):
        return self._apply("Mul", other)

    __rmul__ = __mul__

    def __floordiv__(self, other):
        return self._apply("Div", other)

    @staticmethod
    def maximum(a, b):
        return a._apply("Max", b) if isinstance(a, _GraphInt) else max(a, b)

    @staticmethod
    def vector(b, value):
        """A one-element int64 vector of an int or a _GraphInt."""
        if isinstance(value, _GraphInt):
            return b.node("Reshape", [value.value, b.int64([1])])
        return b.int64([value])


class _Conv:
    """The ONNX Conv of the op, with the pads of its geometry. onnxruntime's
    Conv refuses an input without steps whatever its pads, where SAME and
    CAUSAL padding give an empty output: an If gives that output instead
    where the length is unknown until run time. (Padding every input to a step
    more and cutting it off, as the composite does, cost a copy of each: a
    4-layer causal model ran 5% slower.)"""

    def __init__(self, inputs, steps, kernel_size, stride, dilation, padding, groups):
        self.inputs, self.steps = inputs, steps  # inputs: x (NCW), weights[, bias]
        self.geometry = (kernel_size, stride, dilation, padding, _GraphInt.maximum)
        self.stride, self.dilation, self.groups = stride, dilation, groups

    def node(self, b):
        inputs = list(self.inputs)
        pads = list(padding_zeros(self.steps, *self.geometry))
        if isinstance(pads[0], _GraphInt):  # SAME with a stride, the length unknown
            inputs[0], pads = _pad_in_graph(b, inputs[0], *pads), [0, 0]
        return b.node("Conv", inputs, strides=[self.stride], dilations=[self.dilation],
                      pads=pads, group=self.groups)

    def empty(self, b):
        """Zeros of the output's shape, which has no steps."""
        shape = b.node("Concat", [_GraphInt.vector(b, _GraphInt.length(b, self.inputs[0], 0)),
                                  _GraphInt.vector(b, _GraphInt.length(b, self.inputs[1], 0)),
                                  b.int64([0])], axis=0)
        return b.node("ConstantOfShape", [shape],
                      value=helper.make_tensor("value", b.dtype, [1], [0]))

    def unless_empty(self, b):
        branches = {"then_branch": self.empty, "else_branch": self.node}
        for name, make in branches.items():
            graph = b.ctx.create_new_graph_with_same_config()
            graph.parent_graph = b.ctx
            graph.add_graph_output(make(_Builder(graph, b.dtype)), b.dtype, [-1, -1, -1])
            branches[name] = graph
        no_steps = b.node("Equal", [self.steps.value, b.int64(0)])
        return b.ctx.make_node("If", [no_steps], branches=branches, dtypes=[b.dtype],
                               shapes=[[-1, -1, -1]]).output[0]


def _pad_in_graph(b, x, left, right):
    """x (NCW) padded along its steps (counts as ints or _GraphInt)."""
    pads = b.node("Concat", [b.int64([0, 0]), _GraphInt.vector(b, left), b.int64([0, 0]),
                             _GraphInt.vector(b, right)], axis=0)
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
        steps = x_shape[steps_axis] if x_shape is not None else -1  # tf2onnx: -1 unknown
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
        if steps < 0:
            # Unknown when converted: read at run time where the padding
            # needs it (SAME with a stride: Conv's SAME_UPPER would, but
            # onnxruntime refuses it with dilation; an input without steps).
            steps = _GraphInt.length(b, x, 2)
        conv = _Conv(conv_inputs, steps, filter_shape[0], stride, dilation, padding, groups)
        if padding == "VALID" or isinstance(steps, int) and steps > 0:
            conv = conv.node(b)
        elif isinstance(steps, int):  # no steps: an empty output
            conv = conv.empty(b)
        else:
            conv = conv.unless_empty(b)
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
