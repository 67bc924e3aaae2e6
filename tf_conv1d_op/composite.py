"""fused_conv1d from stock TensorFlow ops only: what runs where the plugin
cannot (TF_CONV1D_OP_IMPLEMENTATION=composite, portable exports, LiteRT, ONNX).

Same results as the op (padding, strides with dilation, layouts, activations,
dtypes, groups; see cc/kernels/core/conv1d_geometry.cc and activations.h), within
float rounding; gradients are TensorFlow's own, of these stock ops.

Every op used here must convert to LiteRT builtins and through tf2onnx
(tests/packaging/test_deploy.py checks each activation), which decides some
formulations: the exact gelu through erf, not tf.nn.gelu's erfc (tf2onnx
emits an ONNX Erfc that onnxruntime lacks).
"""
import contextlib
import math
import threading

import tensorflow as tf

from tf_conv1d_op._geometry import output_steps, padding_zeros
from tf_conv1d_op.activations import kernel_slope

# Half and bfloat16 are computed in float32, as the op accumulates them.
_WIDENED = (tf.float16, tf.bfloat16)

_SQRT_HALF = math.sqrt(0.5)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_GELU_CUBIC = 0.044715


def _gelu(z):
    return 0.5 * z * (1.0 + tf.math.erf(z * _SQRT_HALF))


def _gelu_tanh(z):
    inner = _SQRT_2_OVER_PI * (z + _GELU_CUBIC * z * z * z)
    return 0.5 * z * (1.0 + tf.math.tanh(inner))


def _softplus(z):
    # max(z, 0) + log(1 + exp(-|z|)): no overflow for large |z|, and only ops
    # LiteRT has as builtins (it has no Softplus nor Log1p). Each piece is
    # taken on its own side of 0 (relu and abs have derivative 0 there, which
    # would make TensorFlow's derivative at 0 zero, not sigmoid(0) = 1/2).
    positive = z > 0
    e = tf.math.exp(tf.where(positive, -z, z))
    return tf.where(positive, z, tf.zeros_like(z)) + _log1p(e)


def _log1p(e):
    """log(1 + e) for e in [0, 1], to a few ulps: log(1 + e) alone loses the
    digits of e that 1 + e rounds away (all of them below the epsilon), so its
    value is scaled by e / ((1 + e) - 1), the error 1 + e made. The gradient
    is the plain log's, 1 / (1 + e), which has no such error."""
    p = 1.0 + e
    plain = tf.math.log(p)
    exact_p = tf.equal(p, 1.0)
    accurate = tf.where(exact_p, e, plain * e / tf.where(exact_p, tf.ones_like(p), p - 1.0))
    return plain + tf.stop_gradient(accurate - plain)


_ACTIVATIONS = {
    "linear": lambda z, slope: z,
    "relu": lambda z, slope: tf.nn.relu(z),
    "relu6": lambda z, slope: tf.nn.relu6(z),
    "leaky_relu": lambda z, slope: tf.nn.leaky_relu(z, alpha=slope),
    "elu": lambda z, slope: tf.nn.elu(z),
    "selu": lambda z, slope: tf.nn.selu(z),
    "gelu": lambda z, slope: _gelu(z),
    "gelu_tanh": lambda z, slope: _gelu_tanh(z),
    "silu": lambda z, slope: z * tf.math.sigmoid(z),
    "sigmoid": lambda z, slope: tf.math.sigmoid(z),
    "hard_sigmoid": lambda z, slope: tf.nn.relu6(z + 3.0) / 6.0,
    "tanh": lambda z, slope: tf.math.tanh(z),
    "softplus": lambda z, slope: _softplus(z),
}


def activate(z, activation, negative_slope):
    """activation(z) for an op activation name (canonical, see activations.py)."""
    return _ACTIVATIONS[activation](z, kernel_slope(negative_slope))


def _maximum(a, b):
    """max for the length rules of _geometry: ints stay ints (known when
    traced), tensors take tf.maximum."""
    return max(a, b) if isinstance(a, int) and isinstance(b, int) else tf.maximum(a, b)


def _dim(tensor, axis):
    """The static size of `axis` when known, else the dynamic one."""
    return tensor.shape[axis] if tensor.shape[axis] is not None else tf.shape(tensor)[axis]


def _dense_valid(x, filters, stride, dilation):
    """The VALID convolution, NWC, one group."""
    if dilation == 1:
        return tf.nn.convolution(x, filters, strides=stride, padding="VALID")
    # tf.nn.convolution refuses strides > 1 with dilation > 1: every step
    # of the dilated convolution, then every stride-th one.
    y = tf.nn.convolution(x, filters, padding="VALID", dilations=dilation)
    return y[:, ::stride, :] if stride > 1 else y


def _depthwise_valid(x, filters, stride, dilation):
    """The VALID convolution, NWC, one input channel per group: filters
    [K, 1, C * m], output channel c * m + j reading input channel c, which is
    tf.nn.depthwise_conv2d's order. LiteRT (DEPTHWISE_CONV_2D) and tf2onnx
    (Conv with `group`) convert it."""
    kernel_size, channels = _dim(filters, 0), _dim(x, 2)
    depthwise_filters = tf.reshape(filters, [1, kernel_size, channels, -1])
    # The steps become the width of a one-row image. depthwise_conv2d wants
    # equal strides in both spatial dimensions (a one-row kernel meets one row
    # either way) and, like tf.nn.convolution, no strides with dilation.
    image = tf.expand_dims(x, 1)
    if dilation == 1:
        y = tf.nn.depthwise_conv2d(image, depthwise_filters, [1, stride, stride, 1], "VALID")
    else:
        y = tf.nn.depthwise_conv2d(image, depthwise_filters, [1, 1, 1, 1], "VALID",
                                   dilations=[1, dilation])
        y = y[:, :, ::stride, :] if stride > 1 else y
    return tf.squeeze(y, 1)


def _grouped_valid(x, filters, stride, dilation, groups):
    """The VALID convolution, NWC, in `groups` groups: one dense convolution
    per group, then the outputs side by side. (Stock grouped Conv2D, one op,
    fails on TensorFlow's CPU without XLA.)"""
    inputs = tf.split(x, groups, axis=2)
    kernels = tf.split(filters, groups, axis=2)  # group g: filters g*F/G .. (g+1)*F/G - 1
    return tf.concat([_dense_valid(xg, wg, stride, dilation)
                      for xg, wg in zip(inputs, kernels)], axis=2)


def _convolve_nwc(x, filters, stride, dilation, padding, groups):
    """(z, one_step_more): the VALID convolution of x padded as the op pads
    it, NWC, with one output step more where `one_step_more` (for the caller
    to cut off after the bias and activation, which converters then fuse into
    the convolution)."""
    kernel_size, steps = _dim(filters, 0), _dim(x, 1)
    out_steps = output_steps(steps, kernel_size, stride, dilation, padding, _maximum)
    if x.shape.num_elements() == 0 or x.shape[0] == 0 or (
            isinstance(out_steps, int) and out_steps == 0):
        # An output known to be empty (no batch, or no steps under SAME or
        # CAUSAL padding): TensorFlow's CPU convolutions mishandle it
        # (the depthwise one refuses an input shorter than the kernel, the
        # dense filter gradient returns uninitialized memory or, with a
        # stride, crashes). The sums give the input and filter zero gradients
        # rather than None. (Shapes unknown when traced reach those kernels:
        # docs/deployment.md.)
        zeros = tf.zeros([_dim(x, 0), out_steps, _dim(filters, 2)], x.dtype)
        return zeros + 0 * (tf.reduce_sum(x) + tf.reduce_sum(filters)), False
    left, right = padding_zeros(steps, kernel_size, stride, dilation, padding, _maximum)
    # With the length unknown until run time, an input without steps has no
    # output steps under SAME or CAUSAL padding, on which TensorFlow's CPU
    # convolution fails (float32 returns its padded input, the filter gradient
    # uninitialized memory or, with a stride, crashes), and onnxruntime's Conv
    # refuses such an input. So every input gets `stride` more zeros, which
    # make one output step more, cut off by the caller. Both amounts are
    # constants: LiteRT then keeps the layer in its XNNPACK kernels (cut to a
    # length read at run time, a 4-layer model ran 2.1 times as long).
    one_step_more = not isinstance(out_steps, int) and padding != "VALID"
    if one_step_more:
        right, out_steps = right + stride, out_steps + 1
    if not (isinstance(left, int) and left == 0 and isinstance(right, int) and right == 0):
        x_padded = tf.pad(x, [[0, 0], [left, right], [0, 0]])
        if not (isinstance(left, int) and isinstance(right, int)) and x.shape[2] is not None:
            # Paddings computed in the graph leave every dimension unknown to
            # the LiteRT converter, which needs the channels to make a builtin
            # convolution: this reshape (no copy) states them. (Not the steps as
            # -1: onnxruntime cannot infer them for an empty batch.)
            x_padded = tf.reshape(x_padded, [tf.shape(x)[0], steps + left + right, x.shape[2]])
    else:
        x_padded = x
    if groups == 1:
        z = _dense_valid(x_padded, filters, stride, dilation)
    elif filters.shape[1] == 1:
        z = _depthwise_valid(x_padded, filters, stride, dilation)
    else:
        z = _grouped_valid(x_padded, filters, stride, dilation, groups)
    if x.shape.num_elements() is None and not _tracing.for_converters:
        # TensorFlow's CPU convolution returns an empty input unchanged, in its
        # own shape: give the result the op's shape (it is empty too). (With
        # the steps known and the batch not, Grappler's arithmetic optimizer
        # drops this reshape as one that does nothing: docs/deployment.md.)
        # A VALID input shorter than the kernel's extent, which the op
        # refuses, may come back unchanged too: out_steps counts 0 for it
        # (not -1, which would take its shape), so this reshape fails.
        name = "valid_padding_needs_the_kernel_extent" if padding == "VALID" else None
        z = tf.reshape(z, [_dim(x, 0), out_steps, _dim(filters, 2)], name=name)
    return z, one_step_more


class _Tracing(threading.local):
    for_converters = False


_tracing = _Tracing()


@contextlib.contextmanager
def for_converters():
    """Traces the composite for a converter (LiteRT, tf2onnx) rather than for
    TensorFlow: without the reshape that gives an empty batch's output its
    shape where TensorFlow's convolution returns the input. LiteRT refuses
    empty inputs and onnxruntime's Conv computes them right; between the
    convolution and its bias, the reshape kept the converters from fusing the
    bias and activation into the convolution, so LiteRT's full-integer
    quantization rounded the sum before the bias too (up to 22 times the
    stock layers' error: python/benchmarks/int8_error.py)."""
    previous = _tracing.for_converters
    _tracing.for_converters = True
    try:
        yield
    finally:
        _tracing.for_converters = previous


def fused_conv1d(x, filters, bias, *, stride, dilation, padding, data_format,
                 activation, negative_slope, groups=1):
    """The op's forward output from stock ops. Arguments as checked and
    canonicalised by tf_conv1d_op.ops.fused_conv1d (ints, upper-case names,
    a canonical activation name, `groups` dividing the channels and filters);
    `bias` None or empty means no bias."""
    dtype = x.dtype
    if dtype in _WIDENED:
        x, filters = tf.cast(x, tf.float32), tf.cast(filters, tf.float32)
        bias = None if bias is None else tf.cast(bias, tf.float32)
    if data_format == "NCW":
        # The stock CPU convolution takes channels last only.
        x = tf.transpose(x, [0, 2, 1])
    if filters.shape[1] == 0:
        # No input channels: the convolution is zeros (TensorFlow's kernel
        # would return its empty input instead). The input and filter, both
        # empty, get no gradient (None) rather than empty ones.
        z = tf.zeros([_dim(x, 0), output_steps(_dim(x, 1), filters.shape[0], stride, dilation,
                                               padding, _maximum),
                      _dim(filters, 2)], x.dtype)
        one_step_more = False
    else:
        z, one_step_more = _convolve_nwc(x, filters, stride, dilation, padding, groups)
    if bias is not None and bias.shape.rank == 1 and bias.shape[0] != 0:
        z = tf.nn.bias_add(z, bias)
    y = activate(z, activation, negative_slope)
    if one_step_more:
        y = y[:, :-1]
    if data_format == "NCW":
        y = tf.transpose(y, [0, 2, 1])
    return tf.cast(y, dtype) if dtype in _WIDENED else y
