"""Times the core against cuDNN (torch conv1d + bias + activation) on the
benchmark shapes, forward and forward + backward, and checks the results
against torch in float64. Needs torch with CUDA; imported only on that path.

Ours runs in NWC (the Keras layout), cuDNN in NCW (torch's only 1D layout).
float32 runs with TF32 off on both sides: the core computes exact fp32.
GB/s counts the bytes each pass must move at least (every tensor it reads or
writes, once), to set against the device copy bandwidth measured in the same
run: the depthwise passes are bound by memory, not arithmetic.
"""
import numpy as np

from python.gpu_check import core, reference, report

# batch, steps, in_channels, filters, kernel, stride, dilation, padding, activation
SHAPES = (
    (64, 256, 300, 128, 5, 1, 1, "SAME", "relu"),
    (8, 16000, 1, 64, 80, 4, 1, "VALID", "relu"),
    (4, 4096, 64, 64, 2, 1, 8, "CAUSAL", "tanh"),
    (256, 128, 9, 64, 3, 1, 1, "VALID", "relu"),
    (32, 1024, 128, 128, 3, 1, 1, "SAME", "relu"),
    (32, 1024, 256, 256, 1, 1, 1, "VALID", "linear"),
    (32, 1024, 64, 128, 3, 2, 1, "SAME", "relu"),
    (1, 1024, 128, 128, 3, 1, 1, "SAME", "relu"),
)
# Depthwise (groups == in_channels), the two shapes of issue 17: a Mamba
# block's causal conv and a Conformer conv module. Same fields, then groups.
DEPTHWISE_SHAPES = (
    (8, 2048, 1536, 1536, 4, 1, 1, "CAUSAL", "silu", 1536),
    (16, 512, 256, 256, 31, 1, 1, "SAME", "linear", 256),
)
DTYPES = ("float16", "bfloat16", "float32")
COPY_BYTES = 1 << 30
WARMUP, ITERATIONS = 5, 20


def _activation(torch, name, z, slope):
    f = torch.nn.functional
    table = {
        "linear": lambda v: v, "relu": f.relu, "relu6": f.relu6,
        "leaky_relu": lambda v: f.leaky_relu(v, slope), "elu": f.elu, "selu": f.selu,
        "gelu": f.gelu, "gelu_tanh": lambda v: f.gelu(v, approximate="tanh"), "silu": f.silu,
        "sigmoid": torch.sigmoid, "hard_sigmoid": f.hardsigmoid, "tanh": torch.tanh,
        "softplus": f.softplus,
    }
    return table[name](z)


def torch_conv(torch, problem, x_ncw, w_oik, b, activation):
    """TF padding on the input as torch does it: symmetric padding inside the
    conv, an explicit pad only where TF's is asymmetric (SAME odd, CAUSAL)."""
    extent = (problem.kernel_size - 1) * problem.dilation + 1
    left = problem.pad_left
    right = max(0, (problem.out_steps - 1) * problem.stride + extent - problem.in_steps - left)
    if left == right:
        z = torch.nn.functional.conv1d(x_ncw, w_oik, b, problem.stride, left, problem.dilation,
                                       problem.groups)
    else:
        z = torch.nn.functional.conv1d(torch.nn.functional.pad(x_ncw, (left, right)), w_oik, b,
                                       problem.stride, 0, problem.dilation, problem.groups)
    return _activation(torch, activation, z, problem.negative_slope)


def time_ms(torch, fn):
    for _ in range(WARMUP):
        fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(ITERATIONS):
        fn()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / ITERATIONS


def copy_bandwidth_gbs(torch):
    """GB/s of a device-to-device copy of COPY_BYTES (read + write counted)."""
    src = torch.empty(COPY_BYTES, dtype=torch.uint8, device="cuda")
    dst = torch.empty_like(src)
    return 2 * COPY_BYTES / time_ms(torch, lambda: dst.copy_(src)) / 1e6


def traffic_bytes(problem, dtype):
    """(forward, forward + backward) bytes the passes must read and write:
    forward x, filter, bias -> output (and the preactivation where kept);
    input gradient filter, dy, operand -> dx; filter gradient x, dy, operand
    -> filter and bias gradients. The operand is read only for a nonlinear
    activation."""
    size = 2 if dtype in ("float16", "bfloat16") else np.dtype(dtype).itemsize
    x, y = np.prod(problem.input_shape()), np.prod(problem.output_shape())
    w, b = np.prod(problem.filter_shape()), problem.out_channels
    keep_z = reference.needs_preactivation(problem.activation, problem.negative_slope)
    operand = y if problem.activation != "linear" else 0
    forward = x + w + b + y * (2 if keep_z else 1)
    backward = (w + y + operand + x) + (x + y + operand + w + b)
    return forward * size, (forward + backward) * size


def _errors(torch, problem, dtype, x, w, b, dy, ours):
    """Max relative errors of (forward, backward) against torch float64."""
    f64 = lambda a: torch.from_numpy(np.ascontiguousarray(a)).cuda()  # noqa: E731
    ncw = lambda t: t.transpose(1, 2).contiguous()  # noqa: E731  (NWC <-> NCW)
    xr, wr, br = f64(x).transpose(1, 2), f64(w).permute(2, 1, 0), f64(b)
    y_ref = ncw(torch_conv(torch, problem, xr, wr, br, problem.activation)).cpu().numpy()
    mag = ncw(torch_conv(torch, problem, xr.abs(), wr.abs(), br.abs(), "linear")).cpu().numpy()
    out, pre, grad_input, grad_filter, grad_bias = ours
    errors = [report.max_relative_error(out, y_ref, mag)]
    # Backward as the ops define it: dz from the operand the forward produced.
    operand = pre if pre is not None else out
    dz = dy * reference.derivative_from_operand(problem.activation, operand,
                                                problem.negative_slope)
    xs = [xr.clone().requires_grad_(), wr.clone().requires_grad_(), br.clone().requires_grad_()]
    ms = [t.abs().requires_grad_() for t in (xr, wr, br)]
    z = torch_conv(torch, problem, *xs, "linear")
    refs = torch.autograd.grad(z, xs, ncw(f64(dz)))
    z_mag = torch_conv(torch, problem, *ms, "linear")
    mags = torch.autograd.grad(z_mag, ms, ncw(f64(np.abs(dz))))
    as_ours = (lambda t: ncw(t), lambda t: t.permute(2, 1, 0), lambda t: t)
    for mine, ref, mg, to in zip((grad_input, grad_filter, grad_bias), refs, mags, as_ours):
        errors.append(report.max_relative_error(mine, to(ref).cpu().numpy(),
                                                to(mg).cpu().numpy()))
    return errors[0], max(errors[1:])


def run(library, memory, rng, dtypes=DTYPES):
    """(headers, rows, failed) of the timing table."""
    import torch

    torch.backends.cudnn.benchmark = True
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    torch_dtypes = {"float16": torch.float16, "bfloat16": torch.bfloat16,
                    "float32": torch.float32, "float64": torch.float64}
    headers = ["shape (N,W,Cin,F,K,s,d,pad,act[,groups])", "dtype", "err fwd", "err bwd",
               "fwd ours ms", "fwd cuDNN ms", "fwd ratio", "fwd GB/s", "f+b ours ms",
               "f+b cuDNN ms", "f+b ratio", "f+b GB/s"]
    rows, failed = [], False
    for shape in [s + (1,) for s in SHAPES] + list(DEPTHWISE_SHAPES):
        batch, steps, cin, filters, kernel, stride, dilation, padding, activation, groups = shape
        problem = core.Problem(batch, steps, cin, kernel, filters, stride, dilation, padding,
                               "NWC", activation, groups=groups)
        for dtype in dtypes:
            x = reference.round_to(rng.normal(size=problem.input_shape()), dtype)
            w = reference.round_to(rng.normal(scale=(kernel * cin // groups) ** -0.5,
                                              size=problem.filter_shape()), dtype)
            b = reference.round_to(rng.normal(scale=0.5, size=filters), dtype)
            dy = reference.round_to(rng.normal(size=problem.output_shape()), dtype)
            ours_ms, ours_results = _time_ours(library, memory, problem, dtype, x, w, b, dy)
            err_fwd, err_bwd = _errors(torch, problem, dtype, x, w, b, dy, ours_results)
            td = torch_dtypes[dtype]
            as_torch = lambda a: torch.from_numpy(  # noqa: E731
                np.ascontiguousarray(a, np.float64)).cuda().to(td)
            xt = as_torch(x).transpose(1, 2).contiguous().requires_grad_()
            wt = as_torch(w).permute(2, 1, 0).contiguous().requires_grad_()
            bt = as_torch(b).requires_grad_()
            dyt = as_torch(dy).transpose(1, 2).contiguous()
            with torch.no_grad():
                cudnn_fwd = time_ms(torch, lambda: torch_conv(torch, problem, xt, wt, bt,
                                                              activation))
            cudnn_both = time_ms(torch, lambda: torch.autograd.grad(
                torch_conv(torch, problem, xt, wt, bt, activation), (xt, wt, bt), dyt))
            ok = report.within_tolerance(max(err_fwd, err_bwd), dtype)
            failed = failed or not ok
            forward_bytes, both_bytes = traffic_bytes(problem, dtype)
            shown = shape if groups != 1 else shape[:-1]
            rows.append([",".join(map(str, shown)), dtype + ("" if ok else " FAIL"), err_fwd,
                         err_bwd, ours_ms[0], cudnn_fwd, cudnn_fwd / ours_ms[0],
                         forward_bytes / ours_ms[0] / 1e6, ours_ms[1], cudnn_both,
                         cudnn_both / ours_ms[1], both_bytes / ours_ms[1] / 1e6])
            memory.release()
    return headers, rows, failed


def _time_ours(library, memory, problem, dtype, x, w, b, dy):
    """((forward ms, forward + backward ms), float64 results of one run)."""
    import torch

    passes = core.Passes(library, memory, problem, dtype, x, w, b, dy)
    forward_ms = time_ms(torch, lambda: passes.run(core.FORWARD))
    both_ms = time_ms(torch, passes.run)
    return (forward_ms, both_ms), passes.results()
