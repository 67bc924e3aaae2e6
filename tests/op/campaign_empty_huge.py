"""Campaign: empty tensors with huge declared dimensions, through every op.

A tensor with a zero dimension holds no bytes, so any client can send one
whose other dimensions are near 2^63. Each probe draws such shapes (a zero
in one position, 2^31 .. 2^63 - 1 or small sizes elsewhere, huge kernel
sizes and dilations included) and calls one path: the raw forward op, the
raw input or filter gradient, the wrapper, or the wrapper's gradient; in
either layout and every padding; eagerly, in a tf.function with unknown
shapes (the kernels must refuse) or with known shapes (the shape function
must). An independent oracle (Python integers, below) says whether the call
is well defined and what it must return.

Probes run in child processes (tests/support/subprocess_cases.py) under an
address-space limit, so an allocation that scales with a declared dimension
fails as it would on a loaded server instead of swapping; each probe has an
alarm, whose default action ends the child, so a hang is told from a crash.
A probe's outcome is one of:
  ok       it returned what the oracle says, or refused what the oracle
           refuses with a message naming the op
  crash    the child died (signal, abort, std::bad_alloc)
  hang     the alarm went off
  wrong    a wrong shape or value, a refusal of a valid call, an accepted
           invalid call, or a message that does not name the op

    python -m tests.op.campaign_empty_huge [--full] [--seed N]

prints the counts (docs/robustness.md records them). The CI test runs a
sample (tests/op/test_fused_conv1d_empty_huge.py).
"""
import argparse
import collections
import itertools
import os
import random
import re
import resource
import signal

import numpy as np

from tests.support.subprocess_cases import Case, run_cases

INT64_MAX = 2**63 - 1
HUGE = (2**31, 2**32 + 1, 2**36, 2**40, 2**61, 2**62, INT64_MAX)
SMALL = (1, 2, 3)
PATHS = ("raw-forward", "raw-input-grad", "raw-filter-grad", "wrapper", "wrapper-grad")
LAYOUTS = ("NWC", "NCW")
PADDINGS = ("VALID", "SAME", "CAUSAL")
MODES = ("eager", "graph-unknown", "graph-known")
# Output elements from which the op may refuse with an out-of-memory error.
OOM_FROM = 2**28
PROBE_SECONDS = 60
ADDRESS_HEADROOM = 4 << 30
OP_NAME = re.compile(r"FusedConv1D|fused_conv1d")


# ------------------------------------------------------------------ the oracle

def _fits(*dims):
    """Whether every product of a subset of dims fits in int64."""
    return all(np.prod([int(d) for d in subset], dtype=object) <= INT64_MAX
               for r in range(1, len(dims) + 1) for subset in itertools.combinations(dims, r))


def expected_geometry(batch, steps, cin, kernel, cout, stride, dilation, padding):
    """(out_steps, None) for a well-defined call, or (None, why) for one that
    must be refused: Python integers, independent of the C++ geometry."""
    if kernel < 1 or cout < 1:
        return None, "kernel_size and filters must be >= 1"
    span = (kernel - 1) * dilation
    if span >= INT64_MAX:
        return None, "kernel span past 2^63"
    extent = span + 1
    if padding == "VALID":
        if steps < extent:
            return None, "VALID input shorter than the kernel"
        out, pad = (steps - extent) // stride + 1, 0
    else:
        out = -(-steps // stride)
        if padding == "SAME":
            pad = max(0, (out - 1) * stride - steps + extent) // 2 if out else 0
        else:
            pad = span
    if pad + steps + extent > INT64_MAX:
        return None, "padded input past 2^63"
    if not (_fits(batch, steps, cin) and _fits(batch, out, cout) and _fits(kernel, cin, cout)):
        return None, "a product of dimensions past 2^63"
    return out, None


# ------------------------------------------------------------------- the probes

def _layout_shape(layout, batch, steps, channels):
    return (batch, steps, channels) if layout == "NWC" else (batch, channels, steps)


def draw_probe(rng, path, layout, padding, mode):
    """One probe's parameters: a zero somewhere, huge or small sizes elsewhere."""
    zero = rng.choice(("batch", "steps", "channels", "batch+channels"))
    size = lambda: rng.choice(HUGE) if rng.random() < 0.6 else rng.choice(SMALL)
    dims = {"batch": size(), "steps": size(), "channels": size()}
    for name in zero.split("+"):
        dims[name] = 0
    # The filter holds data unless it has no input channels: then its other
    # dimensions may be huge too, else they stay small.
    filter_empty = dims["channels"] == 0
    if not filter_empty:
        dims["channels"] = rng.choice(SMALL)
    kernel = rng.choice(HUGE) if filter_empty and rng.random() < 0.4 else rng.choice((1, 3))
    cout = rng.choice(HUGE) if filter_empty and rng.random() < 0.3 else rng.choice(SMALL)
    stride = rng.choice((1, 1, 2, 3, 2**40))
    dilation = rng.choice((1, 1, 2, 5, 2**20))
    return dict(path=path, layout=layout, padding=padding, mode=mode,
                batch=dims["batch"], steps=dims["steps"], cin=dims["channels"],
                kernel=kernel, cout=cout, stride=stride, dilation=dilation)


def _result_shapes(p):
    """Shapes of what a probe must return, or None where it must be refused."""
    out, _ = expected_geometry(p["batch"], p["steps"], p["cin"], p["kernel"], p["cout"],
                               p["stride"], p["dilation"], p["padding"])
    if out is None:
        return None
    x_shape = _layout_shape(p["layout"], p["batch"], p["steps"], p["cin"])
    out_shape = _layout_shape(p["layout"], p["batch"], out, p["cout"])
    return [x_shape, (p["kernel"], p["cin"], p["cout"]), (p["cout"],), out_shape]


def big_result(p):
    """Whether a valid probe has a result no machine holds: TensorFlow's
    allocator then retries for seconds before its out-of-memory error, so
    the campaign draws few of these (they test the allocator, not the op)."""
    shapes = _result_shapes(p)
    return shapes is not None and any(np.prod(s, dtype=object) >= OOM_FROM for s in shapes)


def probe_name(p):
    return ("{path}/{layout}/{padding}/{mode}/x{batch}-{steps}-{cin}/w{kernel}-{cin}-{cout}"
            "/s{stride}-d{dilation}".format(**p))


def parse_name(name):
    path, layout, padding, mode, x, w, sd = name.split("/")
    batch, steps, cin = (int(v) for v in x[1:].split("-"))
    kernel, _, cout = (int(v) for v in w[1:].split("-"))
    stride, dilation = (int(v) for v in sd[1:].split("-d"))
    return dict(path=path, layout=layout, padding=padding, mode=mode, batch=batch, steps=steps,
                cin=cin, kernel=kernel, cout=cout, stride=stride, dilation=dilation)


# Corners every combination gets (the full campaign) or one of in turn (the
# sample): the largest dimensions TensorFlow can still build around a zero.
CORNERS = (
    # NCW output [2^62, 4, 0]: batch x filters overflows before the zero.
    dict(batch=2**62, steps=0, cin=1, kernel=3, cout=4, stride=1, dilation=1),
    # An empty filter declaring 2^36 dilated taps.
    dict(batch=1, steps=5, cin=0, kernel=2**36, cout=1, stride=1, dilation=2),
    # No batch, 2^62 steps (NWC: steps x filters overflows after the zero).
    dict(batch=0, steps=2**62, cin=3, kernel=3, cout=4, stride=1, dilation=1),
    # Everything huge around empty channels.
    dict(batch=2**31, steps=2**31, cin=0, kernel=INT64_MAX, cout=2**31, stride=2**40,
         dilation=1),
)


def probes(full=False, seed=0):
    """Every path x layout x padding x mode, with 1 (sample) or 12 random
    draws each and corners, plus the instances the adversarial run reported."""
    rng = random.Random(seed)
    draws = 12 if full else 1
    found = [
        dict(path="wrapper", layout="NCW", padding="SAME", mode="eager", batch=2**62, steps=0,
             cin=1, kernel=3, cout=4, stride=1, dilation=1),
        dict(path="wrapper", layout="NWC", padding="SAME", mode="eager", batch=1, steps=5,
             cin=0, kernel=2**36, cout=1, stride=1, dilation=2),
        dict(path="wrapper-grad", layout="NWC", padding="SAME", mode="graph-unknown", batch=1,
             steps=5, cin=0, kernel=2**36, cout=1, stride=1, dilation=2),
        dict(path="raw-filter-grad", layout="NCW", padding="CAUSAL", mode="eager", batch=2**62,
             steps=0, cin=1, kernel=3, cout=4, stride=1, dilation=1),
    ]
    result = {probe_name(p): p for p in found}
    big = []
    combos = itertools.product(PATHS, LAYOUTS, PADDINGS, MODES)
    for i, (path, layout, padding, mode) in enumerate(combos):
        for corner in CORNERS if full else CORNERS[i % len(CORNERS):][:1]:
            p = dict(corner, path=path, layout=layout, padding=padding, mode=mode)
            if not big_result(p):
                result.setdefault(probe_name(p), p)
        for _ in range(draws):
            p = draw_probe(rng, path, layout, padding, mode)
            while big_result(p):
                big.append(p)
                p = draw_probe(rng, path, layout, padding, mode)
            result.setdefault(probe_name(p), p)
    # One probe with a huge result per path in the full campaign.
    for path in PATHS if full else ():
        p = next((b for b in big if b["path"] == path), None)
        if p is not None:
            result.setdefault(probe_name(p), p)
    return list(result)


# ------------------------------------------------------------- running a probe

class Unbuildable(Exception):
    """TensorFlow itself cannot make one of the probe's tensors."""


def _inputs(p, x_shape, w_shape, out_shape):
    """The probe's tensors, or Unbuildable (TensorShape multiplies left to
    right, so tf.zeros([2**62, 4, 0]) fails where [2**62, 0, 4] works)."""
    import tensorflow as tf
    try:
        x, w = tf.zeros(x_shape), tf.zeros(w_shape)
    except (tf.errors.InvalidArgumentError, tf.errors.ResourceExhaustedError, ValueError) as e:
        raise Unbuildable(str(e)) from e
    # Upstream gradients: of the output's shape where it can exist, else a
    # small wrong one (which must be refused).
    dy = tf.ones([1, 1, 1])
    if out_shape is not None and np.prod(out_shape, dtype=object) < OOM_FROM:
        try:
            dy = tf.ones(out_shape)
        except (tf.errors.InvalidArgumentError, tf.errors.ResourceExhaustedError, ValueError):
            pass
    return x, w, dy


def _bias(cout):
    return np.arange(1, cout + 1, dtype=np.float32) if cout <= 3 else None


def _call(p, x, w, dy, x_shape, w_shape):
    """Runs the probe's path; returns a list of NumPy results."""
    import tensorflow as tf
    import tf_conv1d_op
    from tf_conv1d_op._library import ops

    attrs = dict(stride=p["stride"], padding=p["padding"], data_format=p["layout"])
    bias = _bias(p["cout"])
    raw_bias = tf.constant(bias) if bias is not None else tf.zeros([0])
    paths = {
        "raw-forward": (lambda x, w, b: ops.fused_conv1d(
            x, w, b, dilation=p["dilation"], activation="relu", **attrs)[0], (x, w, raw_bias)),
        "raw-input-grad": (lambda s, w, dy: ops.fused_conv1d_backprop_input(
            s, w, dy, dy, dilation=p["dilation"], **attrs),
            (tf.constant(x_shape, tf.int64), w, dy)),
        "raw-filter-grad": (lambda x, s, dy: ops.fused_conv1d_backprop_filter(
            x, s, dy, dy, dilation=p["dilation"], **attrs),
            (x, tf.constant(w_shape, tf.int64), dy)),
        "wrapper": (lambda x, w: tf_conv1d_op.fused_conv1d(
            x, w, bias, dilations=p["dilation"], activation="relu", **attrs), (x, w)),
        "wrapper-grad": (lambda x, w, dy: _wrapper_grads(x, w, dy, bias, p["dilation"], attrs),
                         (x, w, dy)),
    }
    fn, args = paths[p["path"]]
    if p["mode"] != "eager":
        known = p["mode"] == "graph-known"
        fn = tf.function(fn, input_signature=[
            tf.TensorSpec(a.shape if known else None, a.dtype) for a in args])
    result = fn(*args)
    return list(result) if isinstance(result, (list, tuple)) else [result]


def _wrapper_grads(x, w, dy, bias, dilation, attrs):
    import tensorflow as tf
    import tf_conv1d_op
    b = tf.constant(bias) if bias is not None else None
    with tf.GradientTape() as tape:
        tape.watch([x, w] + ([b] if b is not None else []))
        y = tf_conv1d_op.fused_conv1d(x, w, b, dilations=dilation, **attrs)
    # Upstream ones given (TensorFlow's own use int32 shapes: 2^40 steps
    # would wrap).
    return tape.gradient(y, [x, w] + ([b] if b is not None else []), output_gradients=dy)


def _expected(p, x_shape, w_shape, out_shape, out):
    """(shape, values) of each tensor the path must return, values a
    callable giving the small non-empty ones (all inputs are zeros)."""
    cout = p["cout"]
    bias = _bias(cout)
    positions = p["batch"] * out  # output rows per filter
    zeros = lambda shape: lambda: np.zeros(shape, np.float32)
    if p["path"] in ("raw-forward", "wrapper"):
        def forward():
            # Empty input or filter: the convolution is 0, relu(bias) remains.
            y = np.zeros(out_shape, np.float32)
            if bias is not None:
                axis = 2 if p["layout"] == "NWC" else 1
                y += np.maximum(bias, 0).reshape([-1 if i == axis else 1 for i in range(3)])
            return y
        return [(out_shape, forward)]
    grad_bias = ([cout], lambda: np.full([cout], positions, np.float32))
    if p["path"] == "raw-input-grad":
        return [(x_shape, zeros(x_shape))]
    if p["path"] == "raw-filter-grad":
        return [(w_shape, zeros(w_shape)), grad_bias]
    return [(x_shape, zeros(x_shape)), (w_shape, zeros(w_shape))] + (
        [grad_bias] if bias is not None else [])


def run_probe(name):
    """Raises AssertionError for a wrong result; returns what happened."""
    p = parse_name(name)
    x_shape = _layout_shape(p["layout"], p["batch"], p["steps"], p["cin"])
    w_shape = (p["kernel"], p["cin"], p["cout"])
    out, why = expected_geometry(p["batch"], p["steps"], p["cin"], p["kernel"], p["cout"],
                                 p["stride"], p["dilation"], p["padding"])
    out_shape = None if out is None else _layout_shape(p["layout"], p["batch"], out, p["cout"])
    big = out_shape is not None and np.prod(out_shape, dtype=object) >= OOM_FROM
    # A dy of the wrong shape is given where the output cannot be allocated,
    # so the input gradient and filter gradient must refuse those.
    grad_path = p["path"] in ("raw-input-grad", "raw-filter-grad", "wrapper-grad")
    must_refuse = out is None or (big and grad_path)
    try:
        x, w, dy = _inputs(p, x_shape, w_shape, out_shape)
    except Unbuildable:
        return "unbuildable"
    want = [] if out is None else _expected(p, x_shape, w_shape, out_shape, out)
    # A result no machine can hold may be refused for want of memory (the
    # filter gradient's grad_bias has `filters` elements even without a bias).
    big = big or big_result(p)
    try:
        results = _call(p, x, w, dy, x_shape, w_shape)
    except Exception as e:  # noqa: BLE001 - judged below
        kind = type(e).__name__
        message = str(e)
        if not OP_NAME.search(message):
            raise AssertionError(f"refusal does not name the op: {kind}: {message[:500]}")
        if must_refuse or (big and kind == "ResourceExhaustedError"):
            return "refused"
        raise AssertionError(f"refused a valid call: {kind}: {message[:500]}")
    if must_refuse:
        raise AssertionError(f"accepted a call the oracle refuses ({why or 'dy shape'})")
    assert len(results) == len(want), (len(results), len(want))
    for got, (shape, values) in zip(results, want):
        assert tuple(got.shape) == tuple(shape), f"shape {tuple(got.shape)}, expected {shape}"
        # Values of the non-empty results (a huge output that could be
        # allocated: its shape only).
        if 0 < np.prod(shape, dtype=object) < OOM_FROM:
            np.testing.assert_array_equal(got.numpy(), values())
    return "returned"


def _guarded(name):
    def run():
        signal.alarm(PROBE_SECONDS)  # SIGALRM's default action ends the child
        try:
            return run_probe(name)
        finally:
            signal.alarm(0)
    return run


def _limit_address_space():
    """Address space: what the child has mapped after importing TensorFlow
    and the op, plus a few GiB."""
    import tensorflow as tf
    import tf_conv1d_op
    # Thread pools and the runtime start before the limit, as on a server.
    tf_conv1d_op.fused_conv1d(tf.ones([1, 3, 1]), tf.ones([1, 1, 1]))
    tf.function(lambda x: x + 1)(tf.ones([1]))
    with open("/proc/self/status") as f:
        vm = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize"))
    limit = vm + ADDRESS_HEADROOM
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


if os.environ.get("TF_CONV1D_CAMPAIGN_CHILD") == "1":
    _limit_address_space()

_NAMES = probes(full=os.environ.get("TF_CONV1D_CAMPAIGN") == "full",
                seed=int(os.environ.get("TF_CONV1D_CAMPAIGN_SEED", "0")))
CASES = [Case(name, _guarded(name)) for name in _NAMES]


# ------------------------------------------------------------------ the runner

def classify(result):
    if "crashed" in result:
        return "hang" if "-14" in result["crashed"] or "timed out" in result["crashed"] else "crash"
    return "ok" if result["raised"] is None else "wrong"


def run_campaign(names, full=False, seed=0, library=None):
    """{name: outcome} and the raw results."""
    env = {"TF_CONV1D_CAMPAIGN_CHILD": "1", "TF_CONV1D_CAMPAIGN": "full" if full else "sample",
           "TF_CONV1D_CAMPAIGN_SEED": str(seed)}
    if library:
        env["TF_CONV1D_OP_LIBRARY"] = library
    results = run_cases("tests.op.campaign_empty_huge", names, timeout=3600, env=env)
    return {name: classify(results[name]) for name in names}, results


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--full", action="store_true", help="12 draws per combination")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--library", help="an op library to probe instead (TF_CONV1D_OP_LIBRARY)")
    parser.add_argument("--show", type=int, default=20, help="failures to print")
    args = parser.parse_args()
    names = probes(full=args.full, seed=args.seed)
    outcomes, results = run_campaign(names, args.full, args.seed, args.library)
    counts = collections.Counter(outcomes.values())
    by_path = collections.defaultdict(collections.Counter)
    for name, outcome in outcomes.items():
        by_path[name.split("/")[0]][outcome] += 1
    print(f"{len(names)} probes: " + ", ".join(f"{k} {counts.get(k, 0)}"
                                               for k in ("ok", "crash", "hang", "wrong")))
    for path, c in sorted(by_path.items()):
        print(f"  {path}: " + ", ".join(f"{k} {v}" for k, v in sorted(c.items())))
    shown = 0
    for name, outcome in outcomes.items():
        if outcome != "ok" and shown < args.show:
            shown += 1
            r = results[name]
            detail = r.get("crashed") or r.get("message", "")
            print(f"{outcome}: {name}: {detail[:300]}")


if __name__ == "__main__":
    main()
