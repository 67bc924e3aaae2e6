"""The op's paddings and data formats, and the output length they give
(conv1d::ResolveGeometry in cc/kernels/core/conv1d_geometry.cc)."""

PADDINGS = ("VALID", "SAME", "CAUSAL")
DATA_FORMATS = ("NWC", "NCW")

# Keras' data_format -> the op's.
KERAS_DATA_FORMATS = {"channels_last": "NWC", "channels_first": "NCW"}


def output_steps(steps, kernel_size, stride, dilation, padding):
    """The output length for `steps` input steps (None if unknown); padding
    in either case. VALID with fewer steps than the kernel's extent gives 0."""
    if steps is None:
        return None
    if padding.upper() == "VALID":
        extent = (kernel_size - 1) * dilation + 1
        return max(steps - extent, -1) // stride + 1
    return -(-steps // stride)  # SAME and CAUSAL: ceil(steps / stride)
