"""Malformed input to fused_conv1d and its raw ops, each with the error it must raise.

Every problem is tried through each front end that can reach it:
  wrapper        tf_conv1d_op.fused_conv1d, eager: its own static checks
                 (ValueError, TypeError).
  wrapper-graph  the wrapper in a tf.function whose inputs have unknown
                 shapes, so only the kernel can see the problem.
  raw            the generated op, eager: the kernel's checks (InvalidArgumentError).
  raw-graph      the generated op in a tf.function with unknown shapes. Attribute
                 errors surface at tracing, from the shape function (ValueError).
The backprop ops are reached raw only, with bad sizes and gradient shapes.
tests/op/test_fused_conv1d_errors.py runs these cases in a child process.
"""
import numpy as np
import tensorflow as tf

import tf_conv1d_op
from tf_conv1d_op import _op_names
from tests.support.subprocess_cases import Case
from tf_conv1d_op._library import ops

KERNEL = ("InvalidArgumentError",)
STATIC = ("ValueError", "TypeError")
ATTR_AT_TRACE = ("ValueError", "InvalidArgumentError")


def _tensor(shape, dtype=tf.float32, seed=0):
    if shape is None:
        return None
    rng = np.random.default_rng(seed)
    return tf.constant(rng.standard_normal(shape), dtype)


def _unknown(value):
    return tf.TensorSpec(None, value.dtype)


class Setup:
    """One malformed call: shapes, dtypes and attributes (wrapper spelling)."""

    def __init__(self, name, match, x=(2, 9, 3), w=(3, 3, 4), b=(4,), dtypes=None,
                 fronts=("wrapper", "wrapper-graph", "raw", "raw-graph"), **attrs):
        self.name, self.match, self.fronts, self.attrs = name, match, fronts, attrs
        dtypes = dtypes or (tf.float32,) * 3
        self.x, self.w, self.b = (_tensor(s, d, i) for i, (s, d) in enumerate(zip((x, w, b), dtypes)))

    def wrapper(self):
        return tf_conv1d_op.fused_conv1d(self.x, self.w, self.b, **self.attrs)

    def wrapper_graph(self):
        args = [t for t in (self.x, self.w, self.b) if t is not None]
        fn = tf.function(lambda *a: tf_conv1d_op.fused_conv1d(*a, **self.attrs),
                         input_signature=[_unknown(t) for t in args])
        return fn(*args)

    def raw_attrs(self):
        attrs = dict(self.attrs)
        attrs.setdefault("padding", "VALID")
        if "dilations" in attrs:
            attrs["dilation"] = attrs.pop("dilations")
        if attrs.get("activation", "") is None:
            attrs.pop("activation")
        return attrs

    def raw_inputs(self):
        bias = self.b if self.b is not None else tf.zeros([0], self.x.dtype)
        return self.x, self.w, bias

    def raw(self):
        return ops.fused_conv1d(*self.raw_inputs(), **self.raw_attrs())

    def raw_graph(self):
        inputs = self.raw_inputs()
        fn = tf.function(lambda *a: ops.fused_conv1d(*a, **self.raw_attrs()),
                         input_signature=[_unknown(t) for t in inputs])
        return fn(*inputs)


SHAPE_SETUPS = [
    Setup("input-rank-2", "input must be rank 3", x=(9, 3)),
    Setup("input-rank-4", "input must be rank 3", x=(2, 9, 3, 1)),
    Setup("input-scalar", "input must be rank 3", x=()),
    Setup("filter-rank-2", "filters? must be rank 3", w=(3, 3)),
    Setup("filter-rank-4", "filters? must be rank 3", w=(3, 3, 4, 1)),
    Setup("bias-rank-2", "bias", b=(1, 4)),
    Setup("bias-scalar", "bias", b=()),
    Setup("channel-mismatch", "has 3 channels", w=(3, 5, 4)),
    Setup("channel-mismatch-ncw", "has 3 channels", x=(2, 3, 9), w=(3, 9, 4), data_format="NCW"),
    Setup("bias-too-long", "bias", b=(5,)),
    Setup("bias-too-short", "bias", b=(3,)),
    Setup("kernel-longer-than-input", "VALID padding needs", w=(12, 3, 4)),
    Setup("dilated-kernel-longer-than-input", "VALID padding needs", dilations=5),
    Setup("empty-input-valid", "VALID padding needs", x=(2, 0, 3)),
    Setup("zero-kernel-size", "kernel_size", w=(0, 3, 4)),
    Setup("zero-filters", "number of filters", w=(3, 3, 0), b=(0,)),
]

ATTRIBUTE_SETUPS = [
    Setup("stride-0", "stride", stride=0),
    Setup("stride-negative", "stride", stride=-2),
    Setup("dilation-0", "dilation", dilations=0),
    Setup("dilation-negative", "dilation", dilations=-3),
    Setup("padding-unknown", "padding", padding="FULL"),
    Setup("padding-empty", "padding", padding=""),
    Setup("data-format-unknown", "data_format", data_format="NCHW"),
    Setup("activation-unknown", "activation", activation="swishy"),
    Setup("activation-case", "activation", activation="ReLU"),
]

# Only the wrapper can see these (the raw op's generated code converts or
# refuses them with TF's own messages, tried below).
WRAPPER_ONLY_SETUPS = [
    Setup("stride-float", "stride must be an int", stride=1.5),
    Setup("dilation-half", r"dilations must be an int, got 0.5 \(float\)", dilations=0.5),
    Setup("dilation-numpy-float", "dilations must be an int", dilations=np.float64(2.0)),
    Setup("stride-list-float", r"stride must be an int or a list of ints, got \[1, 1.5, 1\]",
          stride=[1, 1.5, 1]),
    Setup("dilation-list-float-batch", "dilations must be an int or a list of ints",
          dilations=[1.0, 2, 1]),
    Setup("stride-bool", "stride must be an int", stride=True),
    Setup("stride-too-large", "stride must be in", stride=2**63),
    Setup("dilation-list-batch", "must be 1 in the batch", dilations=[2, 2, 1]),
    Setup("stride-list-length-2", "list of 1 or 3", stride=[1, 2]),
    Setup("activation-not-a-name", "activation must be None or one of", activation=3),
    Setup("negative-slope-string", "negative_slope must be a number", activation="leaky_relu",
          negative_slope="0.1"),
]

# groups: input (2, 9, 4); a valid groups=2 call has filters (3, 2, 4). The
# wrapper's and the kernels' words differ slightly (groups=2 / groups 2).
_DIVIDE_INPUT = r"groups must divide the input channels[:;] expected a divisor of 4"
GROUPS_ATTRIBUTE_SETUPS = [
    Setup("groups-0", r"groups must be .*got 0", x=(2, 9, 4), w=(3, 2, 4), groups=0),
    Setup("groups-negative", r"groups must be .*got -2", x=(2, 9, 4), w=(3, 2, 4), groups=-2),
]
GROUPS_SHAPE_SETUPS = [
    Setup("groups-not-dividing-input", _DIVIDE_INPUT + r".*got groups[= ]3", x=(2, 9, 4),
          w=(3, 1, 6), b=(6,), groups=3),
    Setup("groups-not-dividing-filters", r"groups must divide the number of filters.*"
          r"expected a divisor of 6.*got groups[= ]4", x=(2, 9, 4), w=(3, 1, 6), b=(6,),
          groups=4),
    Setup("groups-filter-dim-disagrees", r"with groups[= ]2,? the filters? must have "
          r"in_channels /{1,2} groups = 2 in dimension 1", x=(2, 9, 4), w=(3, 4, 4), groups=2),
    Setup("groups-filter-dim-disagrees-ncw", r"with groups[= ]2,? the filters? must have "
          r"in_channels /{1,2} groups = 2 in dimension 1", x=(2, 4, 9), w=(3, 1, 4), groups=2,
          data_format="NCW"),
    Setup("groups-more-than-channels", _DIVIDE_INPUT + r".*got groups[= ]8", x=(2, 9, 4),
          w=(3, 1, 8), b=(8,), groups=8),
    Setup("groups-huge", _DIVIDE_INPUT + r".*got groups[= ]4611686018427387904", x=(2, 9, 4),
          w=(3, 1, 8), b=(8,), groups=2**62),
]

GROUPS_WRAPPER_ONLY_SETUPS = [
    Setup("groups-float", r"groups must be an int >= 1, got 2.0 \(float\)", x=(2, 9, 4),
          w=(3, 2, 4), groups=2.0),
    Setup("groups-bool", r"groups must be an int >= 1, got True", x=(2, 9, 4), w=(3, 2, 4),
          groups=True),
    Setup("groups-too-large", r"groups must be in \[1, 2\*\*63 - 1\], got", groups=2**63),
]

DTYPE_SETUPS = [
    Setup("int32", "dtype|int32", dtypes=(tf.int32,) * 3),
    Setup("int64", "dtype|int64", dtypes=(tf.int64,) * 3),
    Setup("complex64", "dtype|complex64", dtypes=(tf.complex64,) * 3),
    Setup("mixed-filter-float64", "float64|double", dtypes=(tf.float32, tf.float64, tf.float32)),
    Setup("mixed-bias-float16", "float16|half", dtypes=(tf.float32, tf.float32, tf.float16)),
    Setup("mixed-input-bfloat16", "bfloat16", dtypes=(tf.bfloat16, tf.float32, tf.float32)),
]

RAISES = {
    # front: (shape problem, attribute problem, dtype problem)
    "wrapper": (STATIC, STATIC, STATIC),
    "wrapper-graph": (KERNEL, STATIC, STATIC),
    "raw": (KERNEL, KERNEL, KERNEL + ("TypeError",)),
    "raw-graph": (KERNEL, ATTR_AT_TRACE, KERNEL + ("TypeError", "ValueError")),
}


def _forward_cases():
    kinds = ((SHAPE_SETUPS + GROUPS_SHAPE_SETUPS, 0),
             (ATTRIBUTE_SETUPS + GROUPS_ATTRIBUTE_SETUPS, 1), (DTYPE_SETUPS, 2))
    for setups, kind in kinds:
        for setup in setups:
            for front in setup.fronts:
                run = getattr(setup, front.replace("-", "_"))
                yield Case(f"{front}/{setup.name}", run, RAISES[front][kind], setup.match)
    for setup in WRAPPER_ONLY_SETUPS + GROUPS_WRAPPER_ONLY_SETUPS:
        yield Case(f"wrapper/{setup.name}", setup.wrapper, STATIC, setup.match)


# ----------------------------------------------------------------- backprop ops

_X = _tensor((2, 9, 3))
_W = _tensor((3, 3, 4))
_DY = _tensor((2, 7, 4))  # the VALID output of _X and _W
_SIZES_X = tf.constant([2, 9, 3], tf.int64)
_SIZES_W = tf.constant([3, 3, 4], tf.int64)


def _backprop_input(sizes=_SIZES_X, w=_W, dy=_DY, operand=_DY, **attrs):
    attrs.setdefault("padding", "VALID")
    return ops.fused_conv1d_backprop_input(sizes, w, dy, operand, **attrs)


def _backprop_filter(x=_X, sizes=_SIZES_W, dy=_DY, operand=_DY, **attrs):
    attrs.setdefault("padding", "VALID")
    return ops.fused_conv1d_backprop_filter(x, sizes, dy, operand, **attrs)


def _in_graph(op, **inputs):
    """op(**inputs) in a tf.function whose inputs all have unknown shapes."""
    names = sorted(inputs)
    fn = tf.function(lambda *a: op(**dict(zip(names, a))),
                     input_signature=[_unknown(inputs[n]) for n in names])
    return fn(*[inputs[n] for n in names])


def _sizes(*values):
    return tf.constant(values, tf.int64)


def _with_constant_sizes(op, sizes, **inputs):
    """op(sizes=sizes, **inputs) in a tf.function where the sizes are a
    constant of the graph, so the shape function sees their value."""
    values = sizes.numpy()
    return tf.function(lambda: op(sizes=tf.constant(values, tf.int64), **inputs))()


BACKPROP_SETUPS = [
    # (name, op, inputs, attrs, match)
    ("input-sizes-length-2", _backprop_input, dict(sizes=_sizes(2, 9)), {}, "vector of 3 sizes"),
    ("input-sizes-length-4", _backprop_input, dict(sizes=_sizes(2, 9, 3, 1)), {}, "vector of 3 sizes"),
    ("input-sizes-matrix", _backprop_input, dict(sizes=tf.constant([[2, 9, 3]], tf.int64)), {},
     "vector of 3 sizes"),
    ("input-sizes-negative", _backprop_input, dict(sizes=_sizes(2, -9, 3)), {},
     r"FusedConv1DBackpropInput: input_sizes must hold sizes >= 0, got input_sizes\[1\] = -9 "
     r"in \[2, -9, 3\]"),
    ("input-sizes-overflow", _backprop_input, dict(sizes=_sizes(2**40, 2**40, 2**40)), {},
     r"FusedConv1DBackpropInput: input_sizes must describe a shape whose dimensions multiply "
     r"to at most 2\^63 - 1, got \[1099511627776, 1099511627776, 1099511627776\]"),
    # Fits in TensorFlow's left-to-right order only when the zero comes first.
    ("input-sizes-overflow-around-zero", _backprop_input,
     dict(sizes=_sizes(2**62, 0, 4)), {}, r"input_sizes .*got \[4611686018427387904, 0, 4\]"),
    ("input-sizes-channel-mismatch", _backprop_input, dict(sizes=_sizes(2, 9, 5)), {},
     "has 5 channels"),
    ("input-sizes-too-short-for-kernel", _backprop_input, dict(sizes=_sizes(2, 2, 3)), {},
     "VALID padding needs"),
    ("input-grad-output-wrong-steps", _backprop_input, dict(dy=_tensor((2, 8, 4))), {},
     "grad_output must have the forward output's shape"),
    ("input-grad-output-wrong-rank", _backprop_input, dict(dy=_tensor((2, 7))), {},
     "grad_output must have"),
    ("input-operand-wrong-shape", _backprop_input, dict(operand=_tensor((2, 7, 3))), {},
     "activation_operand must have shape"),
    ("input-operand-empty-for-gelu", _backprop_input, dict(operand=tf.zeros([0])),
     dict(activation="gelu"), "needs the forward op's preactivation"),
    ("input-filter-rank-2", _backprop_input, dict(w=_tensor((3, 12))), {}, "filter must be rank 3"),
    ("input-stride-0", _backprop_input, {}, dict(stride=0), "stride"),
    ("filter-sizes-length-2", _backprop_filter, dict(sizes=_sizes(3, 3)), {}, "vector of 3 sizes"),
    ("filter-sizes-negative", _backprop_filter, dict(sizes=_sizes(3, -3, 4)), {},
     r"FusedConv1DBackpropFilter: filter_sizes must hold sizes >= 0, got filter_sizes\[1\] = -3 "
     r"in \[3, -3, 4\]"),
    ("filter-sizes-overflow", _backprop_filter, dict(sizes=_sizes(2**31, 2**31, 2**31)), {},
     r"FusedConv1DBackpropFilter: filter_sizes must describe a shape whose dimensions "
     r"multiply to at most 2\^63 - 1, got \[2147483648, 2147483648, 2147483648\]"),
    ("filter-sizes-zero-kernel", _backprop_filter, dict(sizes=_sizes(0, 3, 4)), {}, "kernel_size"),
    ("filter-sizes-zero-filters", _backprop_filter, dict(sizes=_sizes(3, 3, 0)), {},
     "number of filters"),
    ("filter-sizes-channel-mismatch", _backprop_filter, dict(sizes=_sizes(3, 2, 4)), {},
     "filter expects 2"),
    ("filter-input-rank-2", _backprop_filter, dict(x=_tensor((9, 3))), {}, "input must be rank 3"),
    ("filter-grad-output-wrong-channels", _backprop_filter, dict(dy=_tensor((2, 7, 5))), {},
     "grad_output must have"),
    ("filter-operand-wrong-shape", _backprop_filter, dict(operand=_tensor((1, 7, 4))), {},
     "activation_operand must have shape"),
    ("filter-dilation-negative", _backprop_filter, {}, dict(dilation=-1), "dilation"),
    ("input-groups-0", _backprop_input, {}, dict(groups=0),
     "FusedConv1DBackpropInput: attribute groups must be an integer >= 1, got 0"),
    ("input-groups-not-dividing-filters", _backprop_input, {}, dict(groups=3),
     "FusedConv1DBackpropInput: groups must divide the number of filters .*expected a "
     "divisor of 4, got groups 3"),
    ("filter-groups-filter-dim", _backprop_filter,
     dict(sizes=_sizes(3, 3, 6), dy=_tensor((2, 7, 6)), operand=_tensor((2, 7, 6))),
     dict(groups=3), r"FusedConv1DBackpropFilter: with groups 3 the filter must have "
     r"in_channels / groups = 1 in dimension 1, got filter shape \[3,3,6\]"),
    ("filter-groups-huge", _backprop_filter, {}, dict(groups=2**62),
     "groups must divide the input channels: expected a divisor of 3, got groups "
     "4611686018427387904"),
]


def _backprop_cases():
    for name, op, inputs, attrs, match in BACKPROP_SETUPS:
        run = (lambda op=op, inputs=inputs, attrs=attrs: op(**inputs, **attrs))
        yield Case(f"raw/{name}", run, KERNEL, match)
        if min(attrs.get(a, 1) for a in ("stride", "dilation", "groups")) < 1:
            continue  # attribute errors: the shape function refuses them at tracing
        graph_inputs = dict(inputs)

        def run_graph(op=op, graph_inputs=graph_inputs, attrs=attrs):
            return _in_graph(lambda **a: op(**a, **attrs), **graph_inputs)
        yield Case(f"raw-graph/{name}", run_graph, KERNEL, match)
        if "sizes" in inputs and "negative" not in name:
            # Sizes the shape function can read (a negative one TensorFlow's
            # evaluation of the constant refuses first, in its own words).
            def run_constant(op=op, inputs=inputs, attrs=attrs):
                return _with_constant_sizes(lambda **a: op(**a, **attrs), **inputs)
            yield Case(f"raw-constant-sizes/{name}", run_constant, ATTR_AT_TRACE, match)
    # Backprop ops refuse a wrong sizes dtype before any kernel runs.
    yield Case("raw/input-sizes-int32",
               lambda: _backprop_input(sizes=tf.constant([2, 9, 3], tf.int32)),
               KERNEL + ("TypeError",), "int64|int32")


# ------------------------------------------------- what the wrapper cannot see

def _raw_truncated_dilation():
    """The generated op truncates 0.5 to 0: the kernel says what it got and why."""
    return ops.fused_conv1d(_X, _W, tf.zeros([0]), padding="VALID", dilation=0.5)


def _graph_def_with_attr(op_type, attr, value):
    """A GraphDef of one op whose string attribute is edited to raw bytes."""
    x = tf.TensorSpec([2, 9, 3], tf.float32, name="x")
    w = tf.TensorSpec([3, 3, 4], tf.float32, name="w")
    if op_type == _op_names.FORWARD:
        fn = tf.function(lambda x, w: ops.fused_conv1d(x, w, tf.zeros([0]), padding="SAME")[0])
    else:
        fn = tf.function(lambda x, w: ops.fused_conv1d_backprop_filter(
            x, tf.constant([3, 3, 4], tf.int64), tf.zeros([2, 9, 4]), tf.zeros([2, 9, 4]),
            padding="SAME")[0])
    graph_def = fn.get_concrete_function(x, w).graph.as_graph_def()
    node = next(n for n in graph_def.node if n.op == op_type)
    node.attr[attr].s = value
    return graph_def, node.name


def _run_edited_graph_def(op_type, attr, value):
    graph_def, name = _graph_def_with_attr(op_type, attr, value)
    with tf.Graph().as_default():
        tf.graph_util.import_graph_def(graph_def, name="")
        with tf.compat.v1.Session() as session:
            return session.run(name + ":0", {"x:0": np.ones([2, 9, 3]), "w:0": np.ones([3, 3, 4])})


def _raw_groups_known_shapes():
    """The shape function sees known shapes at tracing and refuses them."""
    fn = tf.function(lambda x, w: ops.fused_conv1d(x, w, tf.zeros([0]), padding="SAME",
                                                   groups=3))
    return fn.get_concrete_function(tf.TensorSpec([2, 9, 4]), tf.TensorSpec([3, 1, 6]))


def _raw_groups_filter_dim_known_shapes():
    fn = tf.function(lambda x, w: ops.fused_conv1d(x, w, tf.zeros([0]), padding="SAME",
                                                   groups=2))
    return fn.get_concrete_function(tf.TensorSpec([2, 9, 4]), tf.TensorSpec([3, 4, 4]))


def _other_cases():
    yield Case("raw-shape-fn/groups-not-dividing-input", _raw_groups_known_shapes,
               ("ValueError",), r"FusedConv1D: groups must divide the input channels: "
               r"expected a divisor of 4, got groups 3")
    yield Case("raw-shape-fn/groups-filter-dim", _raw_groups_filter_dim_known_shapes,
               ("ValueError",), r"FusedConv1D: with groups 2 the filter must have "
               r"in_channels / groups = 2 in dimension 1, got 4")
    yield Case("raw/dilation-half-truncated", _raw_truncated_dilation, KERNEL,
               r"TfConv1dOp>FusedConv1D: attribute dilation must be an integer >= 1, got 0 .*truncates")
    for op_type in (_op_names.FORWARD, _op_names.BACKPROP_FILTER):
        for attr in ("padding", "data_format", "activation"):
            for label, value in (("not-utf8", b"\xff\xfeSAME"), ("unknown", b"FULL")):
                escaped = r"\\xff\\xfeSAME" if label == "not-utf8" else "FULL"
                yield Case(f"graph-def/{op_type}-{attr}-{label}",
                           lambda o=op_type, a=attr, v=value: _run_edited_graph_def(o, a, v),
                           KERNEL + ("ValueError",),
                           f"{op_type}: attribute {attr} must be .*got \"{escaped}\"")


CASES = list(_forward_cases()) + list(_backprop_cases()) + list(_other_cases())
