"""The grids and tolerances shared by the GPU harness and the test suite
(tests/op/test_fused_conv1d_grid.py and the tests that reuse it). Plain
constants: importing this needs neither NumPy, TensorFlow nor torch."""

PADDINGS = ("VALID", "SAME", "CAUSAL")
DATA_FORMATS = ("NWC", "NCW")
# (stride, dilation): each alone, both together, and steps larger than the kernel.
STRIDE_DILATIONS = ((1, 1), (2, 1), (3, 1), (1, 2), (1, 4), (2, 2), (3, 2))
DTYPES = ("float16", "bfloat16", "float32", "float64")
# (in_channels, filters, groups): dense, grouped (2, 4; filters more or fewer
# than the channels), depthwise (groups == in_channels) with channel
# multipliers 1, 2 and 3.
GROUP_CASES = ((3, 5, 1), (4, 6, 2), (8, 4, 4), (5, 5, 5), (3, 6, 3), (4, 12, 4))
# Depthwise problems in the CUDA harness (python/gpu_check/sweep.py): channel
# multipliers and input channel counts: odd ones, ones spanning several
# 32-channel tiles of the element-wise kernels, and whole 16-byte packs of
# every dtype (8, 40), which NWC problems of multiplier 1 run packed.
DEPTHWISE_MULTIPLIERS = (1, 2)
DEPTHWISE_CHANNELS = (2, 3, 5, 7, 8, 33, 37, 40)

# The op through TensorFlow against the reference: (forward, gradient)
# norm-wise relative error per dtype. Rounded inputs go into the reference, so
# what remains is the rounding of the outputs (and of y, from which the
# backward pass derives dz).
OP_TOLERANCES = {
    "float64": (1e-12, 1e-12),
    "float32": (1e-5, 1e-4),
    "float16": (2e-3, 1e-2),
    "bfloat16": (1e-2, 4e-2),
}

# The CUDA core in the harness: max relative error accepted per dtype, about 4
# units of its rounding: inputs are exact in the dtype, sums accumulate in
# float (double for double), and outputs and the activation gradient dz are
# rounded to the dtype.
HARNESS_TOLERANCES = {"float16": 2e-3, "bfloat16": 1.6e-2, "float32": 5e-5, "float64": 1e-12}
