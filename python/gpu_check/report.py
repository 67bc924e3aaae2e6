"""Error metric, tolerances and the printed tables of the GPU harness.

NumPy only at import time (no torch, no TensorFlow).
"""
import numpy as np

from python.gpu_check.grids import HARNESS_TOLERANCES as TOLERANCES


def max_relative_error(actual, expected, magnitude=None):
    """max |actual - expected| / scale, where scale is the largest of
    |expected| and of `magnitude`: the same sums taken over absolute values,
    sum |a_i b_i|, which is what rounding errors of a sum scale with (so
    cancellation in a single element does not count as an error). 0 for
    empty tensors; inf for NaNs or a wrong shape."""
    actual = np.asarray(actual, np.float64)
    expected = np.asarray(expected, np.float64)
    if actual.shape != expected.shape:
        return float("inf")
    if expected.size == 0:
        return 0.0
    if not np.all(np.isfinite(actual)):
        return float("inf")
    scale = float(np.max(np.abs(expected)))
    if magnitude is not None:
        scale = max(scale, float(np.max(np.abs(magnitude))))
    scale = max(scale, np.finfo(np.float64).tiny)
    return float(np.max(np.abs(actual - expected)) / scale)


def within_tolerance(error, dtype):
    return error <= TOLERANCES[dtype]


def format_number(value, digits=2):
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    if value == 0:
        return "0"
    if value == float("inf"):
        return "inf"
    if abs(value) >= 1e-2 and abs(value) < 1e4:
        return f"{value:.{digits}f}"
    return f"{value:.{digits}e}"


def format_table(headers, rows):
    """A plain-text table with aligned columns: a header line, a rule, rows.
    Numbers are formatted by format_number, text left as is."""
    cells = [[format_number(v) if not isinstance(v, str) else v for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        if len(row) != len(headers):
            raise ValueError(f"row {row} has {len(row)} cells, expected {len(headers)}")
        widths = [max(w, len(c)) for w, c in zip(widths, row)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    return "\n".join(lines)


def summarize_errors(results):
    """Rows (dtype, configs, max error per output, worst config, verdict) from
    sweep results: dicts with keys dtype, config (text) and errors ({output:
    max relative error})."""
    outputs = ("output", "preactivation", "grad_input", "grad_filter", "grad_bias")
    rows = []
    for dtype in sorted({r["dtype"] for r in results}, key=lambda d: list(TOLERANCES).index(d)):
        mine = [r for r in results if r["dtype"] == dtype]
        worst = max(mine, key=lambda r: max(r["errors"].values()))
        worst_error = max(worst["errors"].values())
        per_output = [max((r["errors"][o] for r in mine if o in r["errors"]), default=None)
                      for o in outputs]
        verdict = "ok" if within_tolerance(worst_error, dtype) else "FAIL"
        rows.append([dtype, str(len(mine))] + per_output + [worst["config"], verdict])
    return ["dtype", "configs"] + list(outputs) + ["worst config", "verdict"], rows
