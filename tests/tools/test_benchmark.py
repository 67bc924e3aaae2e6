"""The benchmark's --quick mode runs end to end and writes a well-formed report.

Timings are not checked (CI machines vary); only that every piece is produced.
"""
import struct
import zlib

import numpy as np

import tf_conv1d_op
from tf_conv1d_op.tools import benchmark, benchmark_report, png_chart


def read_png(path):
    """(width, height, rows of RGB bytes) of an 8-bit RGB PNG, checking its chunks' CRCs."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, {}
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF, kind
        chunks[kind] = chunks.get(kind, b"") + body
        pos += 12 + length
    width, height, depth, color = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert (depth, color) == (8, 2) and b"IEND" in chunks
    raw = zlib.decompress(chunks[b"IDAT"])
    assert len(raw) == height * (1 + 3 * width)
    return width, height, raw


def test_quick_run_writes_table_markdown_and_chart(tmp_path, capsys):
    rows = benchmark.run(["--quick", "--shapes", "audio_frontend,sensor",
                           "--output-dir", str(tmp_path), "--note", "test run"])
    assert {(r["shape"], r["which"]) for r in rows} == {
        (s, p) for s in ("audio_frontend", "sensor") for p in ("forward", "training")}
    with_xla = bool(tf_conv1d_op.build_info().get("xla_kernels"))
    for r in rows:
        assert r["stock_ms"] > 0 and r["ours_ms"] > 0 and r["speedup"] > 0
        if with_xla:
            assert r["stock_xla_speedup"] > 0 and r["ours_xla_speedup"] > 0
    printed = capsys.readouterr().out
    assert "speed-up" in printed and "matmul peak" in printed and "ours under XLA" in printed
    assert "peak extra memory" in printed
    md = (tmp_path / "benchmarks.md").read_text()
    assert md.count("| audio_frontend |") == 2 and md.count("| sensor |") == 2
    assert "test run" in md and "benchmark_speedups.png" in md
    width, height, _ = read_png(tmp_path / "benchmark_speedups.png")
    assert width > 100 and height > 100


def test_quick_run_in_bfloat16(tmp_path, capsys):
    """--dtype runs both layers in it (as a mixed-precision policy's compute
    dtype), the memory probes' subprocesses too, and the report says so;
    GB/s count its two-byte values."""
    rows = benchmark.run(["--quick", "--shapes", "audio_frontend,downsampling", "--no-xla",
                           "--dtype", "bfloat16", "--output-dir", str(tmp_path)])
    assert {r["shape"] for r in rows} == {"audio_frontend", "downsampling"}
    for r in rows:
        assert r["stock_ms"] > 0 and r["ours_ms"] > 0
        shape = next(s for s in benchmark.SHAPES if s.name == r["shape"])
        moved = benchmark.pass_bytes(benchmark.quick_variant(shape), r["which"], 2)
        np.testing.assert_allclose(r["ours_gbs"], moved / r["ours_ms"] / 1e6)
    assert "peak extra memory" in capsys.readouterr().out
    md = (tmp_path / "benchmarks.md").read_text()
    assert "both layers in bfloat16" in md and "256x256 bfloat16" in md


def test_markdown_section_replaces_only_itself(tmp_path):
    path = tmp_path / "benchmarks.md"
    path.write_text("# Benchmarks\n\nGPU notes.\n")
    row = dict(shape="s", which="forward", stock_ms=2.0, ours_ms=1.0, speedup=2.0,
               stock_gflops=1.0, ours_gflops=2.0)
    context = dict(date="d", machine="m", tensorflow="t", intra_op_threads=2,
                   load=((0.0,) * 3, (0.0,) * 3), repeats=7, warmup=3, quick=False,
                   note="", matmul_size=4096, bandwidth=20.0, copy_bytes=2**29)
    for speedup in (2.0, 3.0):
        benchmark_report.write_markdown(str(path), [dict(row, speedup=speedup)], 10.0, None,
                                         context, "chart.png")
    text = path.read_text()
    assert "GPU notes." in text and text.count(benchmark_report.BEGIN) == 1
    assert "3.00x" in text and "2.00x" not in text


def test_quick_run_of_the_grouped_shapes(tmp_path, capsys):
    """The three grouped shapes run against the stock grouped layer (the
    guard in run_shape checks both compute the same), with their targets and
    the measured bandwidth reported."""
    rows = benchmark.run(["--quick", "--shapes", "depthwise,grouped", "--no-xla",
                           "--no-memory", "--output-dir", str(tmp_path)])
    assert {r["shape"] for r in rows} == {"mamba_depthwise", "conformer_depthwise",
                                          "grouped_tcn"}
    assert all(r["groups"] > 1 and r["ours_gbs"] > 0 and r["stock_gbs"] > 0 for r in rows)
    printed = capsys.readouterr().out
    assert "memory bandwidth:" in printed and "GB/s" in printed
    assert printed.count("the stock grouped layer") == 6
    assert printed.count("of the measured memory bandwidth") == 2


def test_grouped_shapes_count_their_work_and_traffic():
    by_name = {s.name: s for s in benchmark.SHAPES}
    mamba = by_name["mamba_depthwise"]
    assert benchmark.forward_flops(mamba) == 2 * 8 * 2048 * 4 * 1 * 1536
    x = y = 8 * 2048 * 1536
    assert benchmark.pass_bytes(mamba, "forward") == 4 * (x + y + 4 * 1536 + 1536)
    assert benchmark.pass_bytes(mamba, "training") == 3 * benchmark.pass_bytes(mamba, "forward")
    tcn = by_name["grouped_tcn"]
    assert benchmark.forward_flops(tcn) == 2 * 32 * 1024 * 3 * (256 // 8) * 256
    for shape in benchmark.SHAPES:
        quick = benchmark.quick_variant(shape)
        assert quick.in_channels % quick.groups == 0 and quick.filters % quick.groups == 0
        assert (quick.groups == quick.in_channels > 1) == (shape.groups == shape.in_channels > 1)


def test_dense_targets_ignore_the_grouped_rows():
    """A 50x depthwise row must not lift a dense mean of 0.9x past the 1.3x target."""
    def row(shape, speedup, groups):
        return dict(shape=shape, which="forward", speedup=speedup, groups=groups,
                    ours_gflops=1.0, ours_gbs=1.0)
    rows = [row("pointwise", 0.9, 1), row("sensor", 0.9, 1),
            row("conformer_depthwise", 50.0, 256)]
    lines = benchmark_report.target_lines(rows, peak=10.0, bandwidth=10.0)
    assert ("forward, dense shapes: lowest speed-up 0.90x (pointwise), target >= 1.0x: "
            "NOT met") in lines
    assert "forward, dense shapes: geometric mean 0.90x, target >= 1.3x: NOT met" in lines
    assert any(line.startswith("forward conformer_depthwise: 50.00x") for line in lines)


def test_chart_draws_bars_proportional_to_values(tmp_path):
    png = png_chart.horizontal_bar_chart("T", ["A", "B"], [("S", [1.0, 2.0], (255, 0, 0))])
    path = tmp_path / "c.png"
    path.write_bytes(png)
    width, height, raw = read_png(path)
    pixels = np.frombuffer(raw, np.uint8).reshape(height, 1 + 3 * width)[:, 1:]
    red = np.all(pixels.reshape(height, width, 3) == (255, 0, 0), axis=2)
    lengths = sorted(set(red.sum(axis=1)))  # legend swatch, bar A, bar B
    assert abs(lengths[-1] / lengths[-2] - 2.0) < 0.05


def test_training_step_computes_the_forward_output_and_all_gradients():
    # With a linear activation no gradient reads the output, so a step that
    # returned only gradients would let TensorFlow skip the stock forward.
    import tensorflow as tf

    shape = benchmark.quick_variant(next(s for s in benchmark.SHAPES if s.name == "pointwise"))
    assert shape.activation == "linear"
    x, w, b, dy = benchmark.make_data(shape)
    stock, ours, stock_vars, ours_vars = benchmark.build_models(shape, w, b)
    x = tf.constant(x)
    stock_y, stock_grads = benchmark.compiled_passes(stock, stock_vars, dy)["training"](x)
    ours_y, ours_grads = benchmark.compiled_passes(ours, ours_vars, dy)["training"](x)
    reference = np.einsum("btc,cf->btf", x.numpy().astype(np.float64), w[0].astype(np.float64)) + b
    np.testing.assert_allclose(stock_y.numpy(), reference, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(ours_y.numpy(), reference, rtol=1e-4, atol=1e-4)
    assert len(stock_grads) == len(ours_grads) == 3  # input, kernel, bias
    for s, o in zip(stock_grads, ours_grads):
        np.testing.assert_allclose(o.numpy(), s.numpy(), rtol=1e-3, atol=1e-3)


def test_short_passes_get_more_runs_up_to_the_cap():
    assert benchmark.runs_for(0.5, 9, 1.0) == 9          # long: the floor
    assert benchmark.runs_for(0.05, 9, 1.0) == 20        # 1 s of 50 ms calls
    assert benchmark.runs_for(0.001, 9, 1.0) == benchmark.MAX_REPEATS
    assert benchmark.runs_for(0.001, 9, 0.0) == 9        # quick mode: exactly as asked
    assert benchmark.runs_for(0.001, 150, 1.0) == 150    # never fewer than asked
