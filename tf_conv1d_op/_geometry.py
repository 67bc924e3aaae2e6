"""The op's paddings and data formats, the output length and the zeros they
give (conv1d::ResolveGeometry in cc/kernels/core/conv1d_geometry.cc).

The length rules take `steps` as an int or as a symbolic scalar with Python's
+, -, * and // (a TensorFlow tensor in the composite, an ONNX value in the
tf2onnx handler), with `maximum` its elementwise max; the results are symbolic
only where the rule reads the length."""

PADDINGS = ("VALID", "SAME", "CAUSAL")
DATA_FORMATS = ("NWC", "NCW")

# Keras' data_format -> the op's.
KERAS_DATA_FORMATS = {"channels_last": "NWC", "channels_first": "NCW"}


def kernel_extent(kernel_size, dilation):
    """The input steps one output step reads, first to last tap."""
    return (kernel_size - 1) * dilation + 1


def output_steps(steps, kernel_size, stride, dilation, padding, maximum=max):
    """The output length for `steps` input steps (None if unknown); padding
    in either case. VALID with fewer steps than the kernel's extent gives 0."""
    if steps is None:
        return None
    if padding.upper() == "VALID":
        return maximum(steps - kernel_extent(kernel_size, dilation), -1) // stride + 1
    return (steps + stride - 1) // stride  # SAME and CAUSAL: ceil(steps / stride)


def padding_zeros(steps, kernel_size, stride, dilation, padding, maximum=max):
    """(left, right): the zeros the op puts around the steps axis, so that a
    VALID convolution of the padded input gives the op's output."""
    extent = kernel_extent(kernel_size, dilation)
    padding = padding.upper()
    if padding == "VALID":
        return 0, 0
    if padding == "CAUSAL":
        return extent - 1, 0
    # SAME, TensorFlow's rule: ceil(steps / stride) outputs, the odd zero on
    # the right. With stride 1 that is extent - 1 zeros whatever the length
    # (so known where the length is not). With no steps it leaves
    # extent - stride zeros or none, which the VALID convolution takes,
    # giving no output steps.
    if stride == 1:
        needed = extent - 1
    else:
        out_steps = output_steps(steps, kernel_size, stride, dilation, padding)
        needed = maximum((out_steps - 1) * stride + extent - steps, 0)
    return needed // 2, needed - needed // 2

