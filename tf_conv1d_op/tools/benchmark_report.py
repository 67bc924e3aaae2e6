"""Tables, the markdown report and the chart of the benchmark's results."""
import math
import os

from tf_conv1d_op.tools import png_chart

COLUMNS = ("shape", "pass", "stock ms", "ours ms", "speed-up", "stock GFLOP/s",
           "ours GFLOP/s", "ours % of matmul peak", "stock GB/s", "ours GB/s",
           "ours % of bandwidth", "CPU-time speed-up", "runs", "stock under XLA",
           "ours under XLA")
# The targets (docs/benchmarks.md): per-pass floor and geometric mean of the speed-ups of the
# dense shapes, and the share of the matmul peak the large shapes reach in the forward pass.
# Grouped rows have targets of their own below: the stock grouped layer they race is tens of
# times slower, so counting them would lift the dense geometric mean past its target alone.
MIN_SPEEDUP, MEAN_SPEEDUP, LARGE_SHARE = 1.0, 1.3, 0.8
LARGE_SHAPES = ("text_cnn", "resnet_layer", "pointwise")
# Issue 17's targets for grouped and depthwise shapes (rows with groups > 1):
# both passes at least 2x the stock grouped layer, and the depthwise forward
# at 60% or more of the measured memory bandwidth.
GROUPED_SPEEDUP, DEPTHWISE_BANDWIDTH_SHARE = 2.0, 0.6
DEPTHWISE_SHAPES = ("mamba_depthwise", "conformer_depthwise")
BEGIN, END = "<!-- cpu-benchmark:begin -->", "<!-- cpu-benchmark:end -->"


def _cells(row, peak, bandwidth):
    nan = float("nan")
    return (row["shape"], row["which"], f"{row['stock_ms']:.2f}", f"{row['ours_ms']:.2f}",
            f"{row['speedup']:.2f}x", f"{row['stock_gflops']:.1f}",
            f"{row['ours_gflops']:.1f}", f"{100 * row['ours_gflops'] / peak:.0f}%",
            f"{row.get('stock_gbs', nan):.1f}", f"{row.get('ours_gbs', nan):.1f}",
            f"{100 * row.get('ours_gbs', nan) / bandwidth:.0f}%",
            f"{row.get('cpu_speedup', nan):.2f}x", str(row.get("runs", "")),
            _ratio(row.get("stock_xla_speedup")), _ratio(row.get("ours_xla_speedup")))


def _ratio(value):
    return "-" if value is None else f"{value:.2f}x"


def format_rows(rows, peak, bandwidth, header=True):
    """Fixed-width text rows for the terminal."""
    widths = (19, 9, 10, 10, 9, 14, 13, 22, 11, 10, 20, 18, 5, 15, 14)
    lines = []
    if header:
        lines.append("  ".join(c.rjust(w) for c, w in zip(COLUMNS, widths)))
    for row in rows:
        lines.append("  ".join(c.rjust(w) for c, w in zip(_cells(row, peak, bandwidth),
                                                            widths)))
    return "\n".join(lines)


def geometric_mean(values):
    values = list(values)
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")


def target_lines(rows, peak, bandwidth):
    """One line per target: the measured value and met / not met."""
    lines = []
    for which in ("forward", "training"):
        speedups = {r["shape"]: r["speedup"] for r in rows
                    if r["which"] == which and r.get("groups", 1) == 1}
        if not speedups:
            continue
        worst = min(speedups, key=speedups.get)
        mean = geometric_mean(speedups.values())
        lines.append(f"{which}, dense shapes: lowest speed-up {speedups[worst]:.2f}x "
                     f"({worst}), target >= {MIN_SPEEDUP:.1f}x: "
                     f"{_met(speedups[worst] >= MIN_SPEEDUP)}")
        lines.append(f"{which}, dense shapes: geometric mean {mean:.2f}x, target >= "
                     f"{MEAN_SPEEDUP:.1f}x: {_met(mean >= MEAN_SPEEDUP)}")
    for r in rows:
        if r["which"] == "forward" and r["shape"] in LARGE_SHAPES:
            share = r["ours_gflops"] / peak
            lines.append(f"forward {r['shape']}: {100 * share:.0f}% of the matmul peak, "
                         f"target >= {100 * LARGE_SHARE:.0f}%: {_met(share >= LARGE_SHARE)}")
    for r in rows:
        if r.get("groups", 1) > 1:
            lines.append(f"{r['which']} {r['shape']}: {r['speedup']:.2f}x the stock grouped "
                         f"layer, target >= {GROUPED_SPEEDUP:.0f}x: "
                         f"{_met(r['speedup'] >= GROUPED_SPEEDUP)}")
        if r["which"] == "forward" and r["shape"] in DEPTHWISE_SHAPES:
            share = r["ours_gbs"] / bandwidth
            lines.append(f"forward {r['shape']}: {100 * share:.0f}% of the measured memory "
                         f"bandwidth, target >= {100 * DEPTHWISE_BANDWIDTH_SHARE:.0f}%: "
                         f"{_met(share >= DEPTHWISE_BANDWIDTH_SHARE)}")
    return lines


def _met(ok):
    return "met" if ok else "NOT met"


def memory_lines(memory):
    if memory is None:
        return []
    shape, extra = memory
    mib = 1024 * 1024
    lines = []
    for which in ("forward", "training"):
        stock, ours = extra[("stock", which)], extra[("ours", which)]
        lines.append(f"{shape.name} {which}: peak extra memory stock {stock / mib:.1f} MiB, "
                     f"ours {ours / mib:.1f} MiB")
    return lines


def summary_text(rows, peak, memory, bandwidth):
    lines = ([f"matmul peak: {peak:.1f} GFLOP/s", f"memory bandwidth: {bandwidth:.1f} GB/s"]
             + target_lines(rows, peak, bandwidth) + memory_lines(memory))
    return "\n".join(lines)


def markdown_section(rows, peak, memory, context, chart_name):
    shapes = []
    for r in rows:
        if r["shape"] not in shapes:
            shapes.append(r["shape"])
    load_before, load_after = context["load"]
    dtype = context.get("dtype", "float32")
    lines = [
        BEGIN,
        "## CPU: fused_conv1d against tf.keras.layers.Conv1D",
        "",
        "Generated by `python -m tf_conv1d_op bench`"
        + (" --quick (tiny shapes, timings meaningless)" if context["quick"] else "") + ".",
        "",
        f"- Date: {context['date']}",
        f"- Machine: {context['machine']}; TensorFlow {context['tensorflow']}, "
        f"{context['intra_op_threads']} intra-op threads",
        f"- Method: one process, both layers in {dtype} (weights, inputs and compute) with "
        f"the same weights and inputs, tf.function, "
        f"{context['warmup']} warm-up calls, median of at least {context['repeats']} runs "
        "(short passes get as many as fit in about 1 s per side, at most 99: the runs "
        "column), stock and ours alternating. Training = forward + gradients for input, kernel and bias. "
        "GFLOP/s count 2 x multiply-adds of the convolution (3x forward for training; "
        f"a grouped filter reads in_channels / groups channels). GB/s count the {dtype} "
        "bytes a pass must move at least, each tensor once: input, filter and output "
        "for the forward pass, three times that for training (benchmark.pass_bytes). "
        "Grouped shapes (groups > 1): the stock layer with the same `groups`, as Keras "
        "runs it (compiled by XLA on the CPU). "
        "The speed-up is of wall-clock medians; the CPU-time speed-up compares the "
        "process's CPU time per call, which other processes on the machine disturb less. "
        "The XLA columns: the same two passes compiled by XLA (tf.function(jit_compile=True); "
        "ours then runs as the HLO of its XLA kernel, not as our kernel), timed alternately "
        "after the non-XLA pair, as speed-ups over the stock layer without XLA (- when not run).",
        f"- Practical peak: tf.matmul {context['matmul_size']}x{context['matmul_size']} {dtype} "
        f"= {peak:.1f} GFLOP/s in this run",
        f"- Memory bandwidth: tf.negative of a {context['copy_bytes'] // 2**20} MiB float32 "
        f"array (read + write) = {context['bandwidth']:.1f} GB/s in this run",
        f"- Load average (1 min) before / after: {load_before[0]:.2f} / {load_after[0]:.2f}"
        " (above 0 means other processes shared the CPUs and timings are noisier)",
    ]
    if context["note"]:
        lines.append(f"- Note: {context['note']}")
    lines += ["", "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    bandwidth = context["bandwidth"]
    lines += ["| " + " | ".join(_cells(r, peak, bandwidth)) + " |" for r in rows]
    lines += ["", "Targets:", ""] + [f"- {l}" for l in target_lines(rows, peak, bandwidth)]
    if memory is not None:
        lines += ["", "Peak extra resident memory of one call (rise of the process's peak RSS "
                  "across a full-size call, after a batch-1 warm-up, each variant in a fresh "
                  "process):", ""] + [f"- {l}" for l in memory_lines(memory)]
    lines += ["", f"![speed-ups]({chart_name})", "", END]
    return "\n".join(lines)


def write_markdown(path, rows, peak, memory, context, chart_name):
    """Writes the CPU section, replacing an earlier one and keeping anything else."""
    section = markdown_section(rows, peak, memory, context, chart_name)
    text = "# Benchmarks\n\n" + section + "\n"
    if os.path.exists(path):
        with open(path) as f:
            old = f.read()
        if BEGIN in old and END in old:
            head, rest = old.split(BEGIN, 1)
            text = head + section + rest.split(END, 1)[1]
        else:
            text = old.rstrip("\n") + "\n\n" + section + "\n"
    with open(path, "w") as f:
        f.write(text)


def write_chart(path, rows):
    shapes, forward, training = [], [], []
    for r in rows:
        if r["shape"] not in shapes:
            shapes.append(r["shape"])
    by_key = {(r["shape"], r["which"]): r["speedup"] for r in rows}
    forward = [by_key.get((s, "forward"), 0.0) for s in shapes]
    training = [by_key.get((s, "training"), 0.0) for s in shapes]
    png = png_chart.horizontal_bar_chart(
        "SPEED-UP OVER TF.KERAS.LAYERS.CONV1D (CPU)", shapes,
        [("FORWARD", forward, (52, 101, 164)), ("TRAINING STEP", training, (230, 140, 30))],
        reference=1.0)
    with open(path, "wb") as f:
        f.write(png)
