"""Side-by-side CPU benchmark: fused_conv1d against tf.keras.layers.Conv1D.

One process times both on identical weights and inputs, under tf.function,
after warm-up, alternating stock and ours so that both see the same machine
load; it reports medians. The machine's practical peak is the tf.matmul of
two 4096 x 4096 matrices in the benchmark's dtype, and its memory bandwidth a
large float32 elementwise copy, both timed in the same run. Peak extra memory
is measured in fresh subprocesses (see memory_probe).

  python -m tf_conv1d_op bench [--quick] [--shapes audio,resnet] [--output-dir docs]
  python -m tf_conv1d_op bench --dtype bfloat16   # both layers as under mixed_bfloat16
"""
import argparse
import collections
import datetime
import gc
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np

from tf_conv1d_op._geometry import output_steps

Shape = collections.namedtuple(
    "Shape", "name batch steps in_channels filters kernel stride dilation padding activation "
    "groups", defaults=(1,))

# Real-world shapes: text, audio, WaveNet, sensor and ResNet-style layers.
SHAPES = (
    Shape("text_cnn", 64, 256, 300, 128, 5, 1, 1, "same", "relu"),
    Shape("audio_frontend", 8, 16000, 1, 64, 80, 4, 1, "valid", "relu"),
    Shape("wavenet_layer", 4, 4096, 64, 64, 2, 1, 8, "causal", "tanh"),
    Shape("sensor", 256, 128, 9, 64, 3, 1, 1, "valid", "relu"),
    Shape("resnet_layer", 32, 1024, 128, 128, 3, 1, 1, "same", "relu"),
    Shape("pointwise", 32, 1024, 256, 256, 1, 1, 1, "valid", "linear"),
    Shape("downsampling", 32, 1024, 64, 128, 3, 2, 1, "same", "relu"),
    Shape("batch1_inference", 1, 1024, 128, 128, 3, 1, 1, "same", "relu"),
    # Grouped and depthwise (issue 17): Mamba's causal depthwise convolution,
    # Conformer's depthwise module, a grouped TCN layer.
    Shape("mamba_depthwise", 8, 2048, 1536, 1536, 4, 1, 1, "causal", "silu", 1536),
    Shape("conformer_depthwise", 16, 512, 256, 256, 31, 1, 1, "same", "linear", 256),
    Shape("grouped_tcn", 32, 1024, 256, 256, 3, 1, 4, "causal", "relu", 8),
)
MEMORY_SHAPE = "audio_frontend"
PASSES = ("forward", "training")
MATMUL_SIZE = 4096
# The dtypes both layers can run in (float32 by default): weights, inputs and
# compute, as a Keras mixed-precision policy's compute dtype does; each with
# the relative error the guard that both compute the same function allows.
SAME_OUTPUT_TOLERANCE = {"float32": 1e-4, "bfloat16": 5e-2, "float16": 1e-2, "float64": 1e-4}
DTYPES = tuple(SAME_OUTPUT_TOLERANCE)
COPY_BYTES = 512 * 2**20  # the bandwidth probe's array: far beyond any cache
# Short passes get more timed runs than --repeats asks, up to about this much
# time per side (and at most MAX_REPEATS runs): a median of 9 runs of a 2 ms
# pass moved by 2x between runs on a shared VM.
SECONDS_PER_SIDE = 1.0
MAX_REPEATS = 99


def quick_variant(shape):
    """The same configuration at a size that runs in milliseconds (for CI):
    depthwise stays depthwise (with its channel multiplier), grouped keeps
    two groups."""
    extent = (shape.kernel - 1) * shape.dilation + 1
    channels, filters, groups = min(shape.in_channels, 8), min(shape.filters, 8), 1
    if shape.groups == shape.in_channels and shape.groups > 1:
        groups, filters = channels, channels * (shape.filters // shape.in_channels)
    elif shape.groups > 1:
        groups = 2
    return shape._replace(batch=min(shape.batch, 2), steps=max(4 * extent, 32),
                          in_channels=channels, filters=filters, groups=groups)


def out_steps(shape):
    return output_steps(shape.steps, shape.kernel, shape.stride, shape.dilation, shape.padding)


def forward_flops(shape):
    """Multiply-adds x 2 of the convolution itself (each filter reads its
    group's in_channels / groups channels)."""
    return (2 * shape.batch * out_steps(shape) * shape.kernel *
            (shape.in_channels // shape.groups) * shape.filters)


def pass_flops(shape, which):
    # A training step adds the input and the filter gradient, each as large as the forward.
    return forward_flops(shape) * (1 if which == "forward" else 3)


def pass_bytes(shape, which, itemsize=4):
    """The bytes (itemsize each value) a pass must at least read or write, each tensor once:
    the forward pass reads the input and filter (and bias) and writes the
    output; the input gradient reads the output gradient and filter and
    writes an input-sized tensor; the filter gradient reads the input and
    output gradient and writes a filter-sized one. A training step is the
    three. GB/s divides this: the measure of memory-bound passes (depthwise),
    as GFLOP/s is of the others."""
    x = shape.batch * shape.steps * shape.in_channels
    y = shape.batch * out_steps(shape) * shape.filters
    w = shape.kernel * (shape.in_channels // shape.groups) * shape.filters + shape.filters
    return itemsize * (x + w + y) * (1 if which == "forward" else 3)


def make_data(shape, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((shape.batch, shape.steps, shape.in_channels)).astype(np.float32)
    group_width = shape.in_channels // shape.groups
    w = (rng.standard_normal((shape.kernel, group_width, shape.filters)) /
         math.sqrt(shape.kernel * group_width)).astype(np.float32)
    b = (0.1 * rng.standard_normal(shape.filters)).astype(np.float32)
    dy = rng.standard_normal((shape.batch, out_steps(shape), shape.filters)).astype(np.float32)
    return x, w, b, dy


def build_models(shape, w, b, dtype="float32"):
    """(stock forward, ours forward, stock variables, ours variables), same
    weights, in `dtype`. The stock layer runs groups as Keras does (Keras 3
    compiles a grouped convolution with XLA on the CPU, where TensorFlow has no
    grouped kernel)."""
    import tensorflow as tf
    import tf_conv1d_op

    stock = tf.keras.layers.Conv1D(
        shape.filters, shape.kernel, strides=shape.stride, padding=shape.padding,
        dilation_rate=shape.dilation, activation=shape.activation, groups=shape.groups,
        dtype=dtype)
    stock.build((None, shape.steps, shape.in_channels))
    stock.set_weights([w, b])
    kernel, bias = tf.Variable(tf.cast(w, dtype)), tf.Variable(tf.cast(b, dtype))

    def ours(x):
        return tf_conv1d_op.fused_conv1d(
            x, kernel, bias, stride=shape.stride, padding=shape.padding.upper(),
            dilations=shape.dilation, activation=shape.activation, groups=shape.groups)

    return stock, ours, list(stock.trainable_variables), [kernel, bias]


def compiled_passes(forward, variables, dy, jit_compile=False):
    """tf.functions of the forward pass and of a training step (all gradients),
    compiled by XLA when jit_compile.

    The step returns the output with the gradients, as a real step does (its
    loss reads the output). Returning only the gradients would let TensorFlow
    prune the forward convolution wherever the gradients do not read its
    output (a linear activation), and time less work than a training step.
    """
    import tensorflow as tf

    dy = tf.constant(dy)

    @tf.function(jit_compile=jit_compile)
    def inference(x):
        return forward(x)

    @tf.function(jit_compile=jit_compile)
    def training(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = forward(x)
        return y, tape.gradient(y, [x] + variables, output_gradients=dy)

    return {"forward": inference, "training": training}


def runs_for(seconds_per_call, repeats, seconds_per_side):
    """At least `repeats` runs; more where they fit in seconds_per_side, up to MAX_REPEATS."""
    if seconds_per_side <= 0:
        return repeats
    fit = int(seconds_per_side / max(seconds_per_call, 1e-6))
    return max(repeats, min(MAX_REPEATS, fit))


def time_side_by_side(fn_a, fn_b, arg, repeats, warmup, seconds_per_side=0.0):
    """Median wall and process-CPU milliseconds of fn_a(arg) and fn_b(arg), run alternately.

    Returns ((wall_a, wall_b), (cpu_a, cpu_b), runs). CPU time (all threads of
    this process) is much less sensitive than wall time to other processes
    sharing the cores, so it helps to read a noisy run. `runs` is `repeats`,
    or more for passes short enough (see runs_for).
    """
    fastest = [float("inf"), float("inf")]  # per side, over the warm-up calls
    for _ in range(warmup):
        for i, fn in enumerate((fn_a, fn_b)):
            start = time.perf_counter()
            fn(arg)
            fastest[i] = min(fastest[i], time.perf_counter() - start)
    repeats = runs_for(max(fastest), repeats, seconds_per_side)
    wall, cpu = ([], []), ([], [])
    # As timeit does: a garbage collection of TensorFlow's many Python objects
    # takes milliseconds and would land in whichever call it interrupts.
    gc.collect()
    gc.disable()
    try:
        _timed_runs(fn_a, fn_b, arg, repeats, wall, cpu)
    finally:
        gc.enable()
    median = statistics.median
    return (median(wall[0]), median(wall[1])), (median(cpu[0]), median(cpu[1])), repeats


def _timed_runs(fn_a, fn_b, arg, repeats, wall, cpu):
    for r in range(repeats):
        order = (0, 1) if r % 2 == 0 else (1, 0)
        for i in order:
            fn = (fn_a, fn_b)[i]
            start_cpu, start = time.process_time(), time.perf_counter()
            fn(arg)
            wall[i].append(1e3 * (time.perf_counter() - start))
            cpu[i].append(1e3 * (time.process_time() - start_cpu))


def matmul_peak_gflops(repeats, size=MATMUL_SIZE, dtype="float32"):
    import tensorflow as tf

    a = tf.cast(tf.random.normal([size, size], seed=1), dtype)
    b = tf.cast(tf.random.normal([size, size], seed=2), dtype)
    matmul = tf.function(lambda: tf.matmul(a, b))
    matmul()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        matmul()
        times.append(time.perf_counter() - start)
    return 2 * size**3 / statistics.median(times) / 1e9


def copy_bandwidth_gbs(repeats, size_bytes=COPY_BYTES):
    """The machine's practical memory bandwidth: bytes read and written per
    second by an elementwise negation of a float32 array far larger than the
    caches (TensorFlow's threads, as the convolutions use)."""
    import tensorflow as tf

    a = tf.random.normal([size_bytes // 4], seed=3)
    copy = tf.function(lambda: tf.negative(a))
    copy()
    times = []
    for _ in range(max(repeats, 5)):
        start = time.perf_counter()
        copy()
        times.append(time.perf_counter() - start)
    return 2 * size_bytes / statistics.median(times) / 1e9


def check_same_output(stock, ours, x):
    """Guards the comparison: both sides must compute the same function (to
    within their roundings in x's dtype)."""
    import tensorflow as tf

    a, b = (tf.cast(f(x), tf.float64).numpy() for f in (stock, ours))
    scale = max(float(np.abs(a).max()), 1e-30)
    error = float(np.abs(a - b).max()) / scale
    if error > SAME_OUTPUT_TOLERANCE[x.dtype.name]:
        raise RuntimeError(f"stock and ours differ (relative error {error:.3g})")


def run_shape(shape, repeats, warmup, seconds_per_side=0.0, xla=True, dtype="float32"):
    """The rows of one shape: stock against ours, then, when xla, the same two
    compiled by XLA (their speed-ups are over the stock layer without XLA)."""
    import tensorflow as tf

    x, w, b, dy = make_data(shape)
    stock, ours, stock_vars, ours_vars = build_models(shape, w, b, dtype)
    x, dy = tf.cast(x, dtype), tf.cast(dy, dtype)
    check_same_output(stock, ours, x)
    stock_fns = compiled_passes(stock, stock_vars, dy)
    ours_fns = compiled_passes(ours, ours_vars, dy)
    if xla:
        stock_xla = compiled_passes(stock, stock_vars, dy, jit_compile=True)
        ours_xla = compiled_passes(ours, ours_vars, dy, jit_compile=True)
    rows = []
    for which in PASSES:
        (stock_ms, ours_ms), (stock_cpu, ours_cpu), runs = time_side_by_side(
            stock_fns[which], ours_fns[which], x, repeats, warmup, seconds_per_side)
        flops, moved = pass_flops(shape, which), pass_bytes(shape, which, x.dtype.size)
        rows.append(dict(shape=shape.name, which=which, runs=runs, groups=shape.groups,
                         stock_ms=stock_ms, ours_ms=ours_ms,
                         speedup=stock_ms / ours_ms, stock_gflops=flops / stock_ms / 1e6,
                         ours_gflops=flops / ours_ms / 1e6,
                         stock_gbs=moved / stock_ms / 1e6, ours_gbs=moved / ours_ms / 1e6,
                         cpu_speedup=stock_cpu / max(ours_cpu, 1e-9)))
        if xla:
            (stock_xla_ms, ours_xla_ms), _, _ = time_side_by_side(
                stock_xla[which], ours_xla[which], x, repeats, warmup, seconds_per_side)
            rows[-1].update(stock_xla_speedup=stock_ms / stock_xla_ms,
                            ours_xla_speedup=stock_ms / ours_xla_ms)
    return rows


def _proc_status_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise OSError(f"no {field} in /proc/self/status")


def _reset_peak_rss():
    """Sets the kernel's peak-RSS mark (VmHWM) to the current RSS; False if impossible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def memory_probe(variant, shape, which, dtype="float32"):
    """Peak resident memory (bytes) one full-size call adds, in this process.

    Everything but the call is done first: inputs, weights, tracing, and a
    warm-up call on a batch-1 input (kernels created, libraries and thread
    pools started). Then Linux's peak-RSS mark is reset to the current RSS
    and read again after the call: the difference is what the call needed
    beyond what the process already held (its output included). Without
    /proc/self/clear_refs it falls back to the rise of ru_maxrss, which
    under-reports when an earlier peak was higher.
    """
    import resource

    import tensorflow as tf

    x, w, b, dy = make_data(shape)
    stock, ours, stock_vars, ours_vars = build_models(shape, w, b, dtype)
    forward, variables = (stock, stock_vars) if variant == "stock" else (ours, ours_vars)
    small_x, _, _, small_dy = make_data(shape._replace(batch=1))
    compiled_passes(forward, variables, tf.cast(small_dy, dtype))[which](tf.cast(small_x, dtype))
    fn = compiled_passes(forward, variables, tf.cast(dy, dtype))[which]
    x = tf.cast(x, dtype)
    fn.get_concrete_function(x)
    if _reset_peak_rss():
        before = _proc_status_kib("VmRSS")
        fn(x)
        after = _proc_status_kib("VmHWM")
    else:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        fn(x)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return max(0, after - before) * 1024


def measure_memory(shape, dtype="float32"):
    """{(variant, pass): peak extra bytes}, each from a fresh subprocess."""
    results = {}
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [package_root] + [p for p in [os.environ.get("PYTHONPATH")] if p]),
        TF_CPP_MIN_LOG_LEVEL="3")
    for variant in ("stock", "ours"):
        for which in PASSES:
            code = ("import json, sys; from tf_conv1d_op.tools import benchmark as b; "
                    "s = b.Shape(*json.loads(sys.argv[1])); "
                    "print('RESULT', b.memory_probe(sys.argv[2], s, *sys.argv[3:5]))")
            out = subprocess.run([sys.executable, "-c", code, json.dumps(list(shape)),
                                  variant, which, dtype], capture_output=True, text=True,
                                 env=env, check=True).stdout
            line = [l for l in out.splitlines() if l.startswith("RESULT ")][-1]
            results[(variant, which)] = int(line.split()[1])
    return results


def machine_description():
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            names = [l.split(":", 1)[1].strip() for l in f if l.startswith("model name")]
        if names:
            model = names[0]
    except OSError:
        pass
    from tf_conv1d_op import _library

    level = _library.cpu_levels()["selected"]
    return (f"{model}, {os.cpu_count()} logical CPUs, {platform.system()} {platform.release()}; "
            f"our CPU level {level}")


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="tf_conv1d_op bench",
        description="Time fused_conv1d against tf.keras.layers.Conv1D on real-world shapes.")
    parser.add_argument("--quick", action="store_true",
                        help="tiny shapes, 1 repetition: proves the benchmark runs (CI)")
    parser.add_argument("--shapes", default="",
                        help="comma-separated substrings of shape names to run (default: all)")
    parser.add_argument("--output-dir", default="docs",
                        help="where benchmarks.md and benchmark_speedups.png go (default: docs)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="timed runs per pass and side, at least (default 9; short "
                             "passes get more, up to about 1 s per side; quick: exactly 1)")
    parser.add_argument("--no-xla", action="store_true",
                        help="skip the columns of both sides compiled by XLA (jit_compile)")
    parser.add_argument("--no-memory", action="store_true",
                        help="skip the peak-memory subprocesses")
    parser.add_argument("--dtype", default="float32", choices=DTYPES,
                        help="both layers' weights, inputs and compute, as a Keras "
                             "mixed-precision policy's compute dtype (default float32); the "
                             "matmul peak is taken in it too")
    parser.add_argument("--note", default="",
                        help="free text recorded in the report (e.g. machine load)")
    return parser.parse_args(argv)


def select_shapes(args):
    shapes = [quick_variant(s) for s in SHAPES] if args.quick else list(SHAPES)
    if args.shapes:
        wanted = [w.strip() for w in args.shapes.split(",") if w.strip()]
        shapes = [s for s in shapes if any(w in s.name for w in wanted)]
        if not shapes:
            raise SystemExit(f"no shape matches {args.shapes!r}; names: "
                             f"{', '.join(s.name for s in SHAPES)}")
    return shapes


def main(argv=None):
    """The command line: runs the suite and writes the report; exit status 0."""
    run(argv)
    return 0


def run(argv=None):
    """Runs the suite as main() does and returns its rows (dicts)."""
    from tf_conv1d_op.tools import benchmark_report as report

    args = parse_args(argv)
    repeats = args.repeats or (1 if args.quick else 9)
    if repeats < 1:
        raise SystemExit("--repeats must be >= 1")
    warmup = 1 if args.quick else 3
    shapes = select_shapes(args)
    import tf_conv1d_op

    # A library built without XLA kernels cannot be compiled by XLA.
    with_xla = not args.no_xla and bool(tf_conv1d_op.build_info().get("xla_kernels"))

    import tensorflow as tf

    # A call then returns when its outputs are computed, so the timings need
    # no .numpy() (which would copy the output and add milliseconds to both
    # sides).
    tf.config.experimental.set_synchronous_execution(True)
    load_before = os.getloadavg()
    started = datetime.datetime.now(datetime.timezone.utc)
    peak = matmul_peak_gflops(repeats, 256 if args.quick else MATMUL_SIZE, args.dtype)
    copy_bytes = 2**20 if args.quick else COPY_BYTES
    bandwidth = copy_bandwidth_gbs(repeats, copy_bytes)
    rows = []
    for shape in shapes:
        rows.extend(run_shape(shape, repeats, warmup, 0.0 if args.quick else SECONDS_PER_SIDE,
                              xla=with_xla, dtype=args.dtype))
        print(report.format_rows(rows[-2:], peak, bandwidth, header=len(rows) == 2),
              flush=True)
    memory = None
    memory_shape = [s for s in shapes if s.name == MEMORY_SHAPE]
    if memory_shape and not args.no_memory:
        memory = (memory_shape[0], measure_memory(memory_shape[0], args.dtype))
    context = dict(
        date=started.strftime("%Y-%m-%d %H:%M UTC"), machine=machine_description(),
        tensorflow=tf.__version__, intra_op_threads=_intra_op_threads(),
        load=(load_before, os.getloadavg()), repeats=repeats, warmup=warmup,
        quick=args.quick, note=args.note, matmul_size=256 if args.quick else MATMUL_SIZE,
        dtype=args.dtype,
        bandwidth=bandwidth, copy_bytes=copy_bytes)
    print()
    print(report.summary_text(rows, peak, memory, bandwidth))
    os.makedirs(args.output_dir, exist_ok=True)
    md_path = os.path.join(args.output_dir, "benchmarks.md")
    png_path = os.path.join(args.output_dir, "benchmark_speedups.png")
    report.write_markdown(md_path, rows, peak, memory, context, os.path.basename(png_path))
    report.write_chart(png_path, rows)
    print(f"wrote {md_path} and {png_path}")
    return rows


def _intra_op_threads():
    import tensorflow as tf

    configured = tf.config.threading.get_intra_op_parallelism_threads()
    return configured or os.cpu_count()


if __name__ == "__main__":
    main()
