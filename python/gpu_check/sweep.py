"""Correctness sweep: random small problems for every padding, data format,
(stride, dilation) pair, activation and dtype, each checked in all five
outputs against the float64 reference; dense problems and depthwise ones
(groups == in_channels, which take kernels of their own)."""
import itertools

import numpy as np

from python.gpu_check import core, reference, report
from python.gpu_check.grids import (DATA_FORMATS, DEPTHWISE_CHANNELS, DEPTHWISE_MULTIPLIERS,
                                    PADDINGS, STRIDE_DILATIONS)

KINDS = ("dense", "depthwise")


def random_problem(rng, padding, data_format, stride, dilation, activation, large=False):
    """Sizes drawn so that both load paths (channel counts multiple of the
    vector width or not), partial tiles and empty tap classes all occur."""
    kernel_size = int(rng.integers(1, 6))
    if large:  # several row, channel and reduction tiles
        batch = int(rng.integers(2, 4))
        in_channels = int(rng.choice([40, 64, 72]))
        out_channels = int(rng.choice([70, 128, 136]))
        extra = int(rng.integers(100, 200))
    else:
        batch = int(rng.integers(1, 4))
        in_channels = int(rng.choice([1, 3, 8, 16, 20]))
        out_channels = int(rng.choice([1, 5, 8, 16, 24]))
        extra = int(rng.integers(0, 30))
    extent = (kernel_size - 1) * dilation + 1
    in_steps = (extent if padding == "VALID" else 1) + extra
    negative_slope = float(rng.choice([0.2, -0.3])) if activation == "leaky_relu" else 0.2
    return core.Problem(batch, in_steps, in_channels, kernel_size, out_channels, stride,
                        dilation, padding, data_format, activation, negative_slope)


def configurations(rng, full):
    """(problem, dtype) pairs. full: every padding x data format x (stride,
    dilation) x activation x dtype. Otherwise every padding x data format x
    (stride, dilation) once and every activation x dtype once, the other
    attributes cycling; plus FEW_CHANNEL_EDGES in every dtype and a few
    multi-tile problems either way."""
    if full:
        for (padding, data_format, (stride, dilation), activation, dtype) in itertools.product(
                PADDINGS, DATA_FORMATS, STRIDE_DILATIONS, reference.ACTIVATIONS,
                reference.DTYPES):
            yield random_problem(rng, padding, data_format, stride, dilation, activation), dtype
    else:
        geometry = list(itertools.product(PADDINGS, DATA_FORMATS, STRIDE_DILATIONS))
        kinds = list(itertools.product(reference.ACTIVATIONS, reference.DTYPES))
        for i in range(max(len(geometry), len(kinds))):
            padding, data_format, (stride, dilation) = geometry[i % len(geometry)]
            activation, dtype = kinds[i % len(kinds)]
            yield random_problem(rng, padding, data_format, stride, dilation, activation), dtype
    for (batch, steps, channels, kernel, filters, stride, dilation, padding, data_format,
         activation) in FEW_CHANNEL_EDGES:
        for dtype in reference.DTYPES:
            yield core.Problem(batch, steps, channels, kernel, filters, stride, dilation,
                               padding, data_format, activation), dtype
    for dtype, (padding, data_format, (stride, dilation)) in zip(
            reference.DTYPES, [("SAME", "NWC", (1, 1)), ("VALID", "NCW", (2, 1)),
                               ("CAUSAL", "NWC", (1, 2)), ("SAME", "NCW", (3, 2))]):
        activation = reference.ACTIVATIONS[int(rng.integers(len(reference.ACTIVATIONS)))]
        yield random_problem(rng, padding, data_format, stride, dilation, activation,
                             large=True), dtype


def random_depthwise_problem(rng, padding, data_format, stride, dilation, activation,
                             multiplier):
    """Steps enough for several 64-step tiles of the depthwise kernels."""
    kernel_size = int(rng.integers(1, 6))
    channels = int(rng.choice(DEPTHWISE_CHANNELS))
    extent = (kernel_size - 1) * dilation + 1
    in_steps = (extent if padding == "VALID" else 1) + int(rng.integers(0, 90))
    return core.Problem(int(rng.integers(1, 3)), in_steps, channels, kernel_size,
                        multiplier * channels, stride, dilation, padding, data_format,
                        activation, float(rng.choice([0.2, -0.3])), groups=channels)


# Depthwise problems that take the kernels' other paths (conv1d_gpu_depthwise.cu.cc):
# Dense problems with few input channels, each in every dtype; same fields
# as DEPTHWISE_EDGES below, in_channels for channels. In float and double the
# input gradient takes the columns (col2im) from 4 taps and up to 4 input
# channels (conv1d_gpu_backprop_input.cu.cc); the others, and half and
# bfloat16, the stride classes' GEMM.
FEW_CHANNEL_EDGES = (
    (2, 200, 1, 80, 64, 4, 1, "VALID", "NWC", "relu"),     # audio front end: columns
    (2, 50, 4, 4, 33, 1, 2, "SAME", "NCW", "tanh"),        # the widest columns case
    (1, 30, 2, 5, 1, 3, 2, "CAUSAL", "NWC", "silu"),       # one filter, stride with dilation
    (2, 3, 1, 5, 4, 1, 1, "SAME", "NCW", "linear"),        # kernel wider than the input
    (2, 40, 3, 6, 8, 5, 3, "SAME", "NWC", "elu"),          # taps of a class beyond the output
    (2, 50, 4, 3, 33, 1, 2, "SAME", "NCW", "tanh"),        # 3 taps: the GEMM
    (3, 20, 5, 5, 8, 2, 1, "SAME", "NWC", "gelu"),         # 5 channels: the GEMM
)

# (batch, steps, channels, kernel, filters, stride, dilation, padding, format, activation).
DEPTHWISE_EDGES = (
    (2, 100, 40, 31, 40, 1, 1, "SAME", "NWC", "linear"),    # Conformer-like: 31 taps staged
    (1, 90, 3, 5, 6, 1, 70, "CAUSAL", "NCW", "silu"),       # window beyond the stage: direct
    (2, 40, 2, 3, 66, 1, 1, "SAME", "NWC", "tanh"),         # multiplier 33: dz not staged
    (2, 300, 5, 2, 5, 70, 1, "VALID", "NCW", "relu"),       # stride beyond a tile
    (0, 9, 3, 3, 6, 1, 1, "SAME", "NWC", "elu"),            # empty batch: zero filter gradient
)
# Problems of the packed kernels (conv1d_gpu_depthwise_packed.cu.cc: NWC,
# multiplier 1, channels in whole 16-byte packs), each in every dtype; same fields.
PACKED_DEPTHWISE_EDGES = (
    (3, 21, 16, 4, 16, 1, 1, "CAUSAL", "NWC", "silu"),     # Mamba-like; a partial run of rows
    (2, 100, 24, 31, 24, 1, 1, "SAME", "NWC", "linear"),   # Conformer-like: four tap groups
    (2, 50, 24, 3, 24, 2, 3, "SAME", "NWC", "gelu"),       # strided: element-wise input gradient
    (1, 80, 8, 7, 8, 1, 9, "VALID", "NWC", "relu"),        # long dilation
    (2, 30, 8, 5, 8, 3, 4, "SAME", "NWC", "tanh"),         # taps left of the input, stride 3
    (0, 9, 8, 3, 8, 1, 1, "SAME", "NWC", "elu"),           # empty batch: zero filter gradient
)


def depthwise_configurations(rng, full):
    """(problem, dtype) pairs of depthwise problems. full: every padding x
    data format x (stride, dilation) x multiplier x dtype. Otherwise every
    padding x data format x (stride, dilation) once, multipliers, dtypes and
    activations cycling; plus DEPTHWISE_EDGES either way, dtypes cycling, and
    PACKED_DEPTHWISE_EDGES in every dtype."""
    geometry = list(itertools.product(PADDINGS, DATA_FORMATS, STRIDE_DILATIONS))
    if full:
        cases = [(g, m, dtype) for g in geometry for m in DEPTHWISE_MULTIPLIERS
                 for dtype in reference.DTYPES]
    else:
        cases = [(g, DEPTHWISE_MULTIPLIERS[i % len(DEPTHWISE_MULTIPLIERS)],
                  reference.DTYPES[i % len(reference.DTYPES)]) for i, g in enumerate(geometry)]
    for i, ((padding, data_format, (stride, dilation)), multiplier, dtype) in enumerate(cases):
        activation = reference.ACTIVATIONS[i % len(reference.ACTIVATIONS)]
        yield random_depthwise_problem(rng, padding, data_format, stride, dilation,
                                       activation, multiplier), dtype
    for i, (batch, steps, channels, kernel, filters, stride, dilation, padding, data_format,
            activation) in enumerate(DEPTHWISE_EDGES):
        yield core.Problem(batch, steps, channels, kernel, filters, stride, dilation, padding,
                           data_format, activation, groups=channels), \
            reference.DTYPES[i % len(reference.DTYPES)]
    for (batch, steps, channels, kernel, filters, stride, dilation, padding, data_format,
         activation) in PACKED_DEPTHWISE_EDGES:
        for dtype in reference.DTYPES:
            yield core.Problem(batch, steps, channels, kernel, filters, stride, dilation,
                               padding, data_format, activation, groups=channels), dtype


def random_inputs(rng, problem, dtype, with_bias):
    """x, filter, bias (or None), grad_output: dtype-rounded, as float64."""
    scale = 1.0 / np.sqrt(max(1, problem.kernel_size * problem.in_channels))
    x = reference.round_to(rng.normal(size=problem.input_shape()), dtype)
    w = reference.round_to(rng.normal(scale=scale, size=problem.filter_shape()), dtype)
    b = reference.round_to(rng.normal(scale=0.5, size=problem.out_channels), dtype) \
        if with_bias else None
    dy = reference.round_to(rng.normal(size=problem.output_shape()), dtype)
    return x, w, b, dy


def check(library, memory, problem, dtype, rng):
    """{output name: max relative error} of one problem."""
    x, w, b, dy = random_inputs(rng, problem, dtype, with_bias=bool(rng.integers(0, 2)))
    slope = problem.negative_slope  # the reference rounds it as the op's attribute
    attrs = dict(stride=problem.stride, dilation=problem.dilation, padding=problem.padding,
                 data_format=problem.data_format, groups=problem.groups)
    act = dict(activation=problem.activation, negative_slope=slope)
    passes = core.Passes(library, memory, problem, dtype, x, w, b, dy)
    passes.run()
    y, z, grad_input, grad_filter, grad_bias = passes.results()
    ref_y, ref_z = reference.forward(x, w, b, **attrs, **act)
    operand = z if z is not None else y
    ref_dx, ref_dw, ref_db = reference.backward(x, w, b, dy, operand=operand, **attrs, **act)
    # The same sums over absolute values: the scale of their rounding errors.
    mag_z, _ = reference.forward(np.abs(x), np.abs(w), None if b is None else np.abs(b),
                                 **attrs)
    mag_dz = np.abs(dy * reference.derivative_from_operand(problem.activation, operand, slope))
    mag_dx, mag_dw, mag_db = reference.backward(np.abs(x), np.abs(w), None, mag_dz, **attrs)
    error = report.max_relative_error
    errors = {"output": error(y, ref_y, mag_z), "grad_input": error(grad_input, ref_dx, mag_dx),
              "grad_filter": error(grad_filter, ref_dw, mag_dw),
              "grad_bias": error(grad_bias, ref_db, mag_db)}
    if z is not None:
        errors["preactivation"] = error(z, ref_z, mag_z)
    return errors


def sweep(library, memory, rng, full, dtypes=reference.DTYPES, log=None, kinds=KINDS):
    """Checks every configuration of the given dtypes and kinds (of KINDS);
    returns report rows (dicts)."""
    results = []
    chosen = itertools.chain(configurations(rng, full) if "dense" in kinds else (),
                             depthwise_configurations(rng, full) if "depthwise" in kinds else ())
    for problem, dtype in chosen:
        if dtype not in dtypes:
            continue
        if library.resolve(problem) != (problem.out_steps, problem.pad_left):
            raise AssertionError(f"C++ and Python geometry differ for {problem}")
        errors = check(library, memory, problem, dtype, rng)
        memory.release()
        results.append({"dtype": dtype, "config": str(problem), "errors": errors})
        if log is not None:
            log(f"{dtype:9s} {problem}: max error {max(errors.values()):.2e}")
    return results
