"""Rounding error of the CPU core's Winograd F(4,3) tiles in float32, against
the direct sum in float32, both relative to the largest value of the float64
result: the error study behind the choice of F(4,3) (docs/performance.md).

The tiles are simulated in NumPy with the transforms written in
cc/kernels/core/winograd_tiles.h (inputs, filter and every product rounded to
float32), on random data of a layer's shape, one batch item.

  python python/benchmarks/winograd_error.py [--cases 64x64x3,300x128x5] [--steps 256]
"""
import argparse
import sys

import numpy as np

# Input transform (rows d0..d5 -> V0..V5), filter transform (taps w0..w2 ->
# U0..U5) and output transform (M0..M5 -> y0..y3) of F(4,3), points 0, 1, -1,
# 2, -2 and infinity.
INPUT = np.array([[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
                  [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]])
FILTER = np.array([[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
                   [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]])
OUTPUT = np.array([[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0],
                   [0, 1, -1, 8, -8, 1]])
f32 = np.float32


def winograd(x, w):
    """y[t] = sum_k x[t + k] w[k] (valid), in float32 F(4,3) tiles."""
    k, _, cout = w.shape
    steps = x.shape[0] - k + 1
    groups = -(-k // 3)
    taps = np.zeros((3 * groups,) + w.shape[1:], f32)
    taps[:k] = w
    padded = np.zeros((steps + 3 * groups + 6, x.shape[1]), f32)
    padded[:x.shape[0]] = x
    u = [np.einsum("ij,jcd->icd", FILTER.astype(f32), taps[3 * j:3 * j + 3]).astype(f32)
         for j in range(groups)]
    y = np.zeros((steps, cout), f32)
    for t0 in range(0, steps, 4):
        m = np.zeros((6, cout), f32)
        for j in range(groups):
            v = (INPUT.astype(f32) @ padded[t0 + 3 * j:t0 + 3 * j + 6]).astype(f32)
            for i in range(6):
                m[i] += (v[i] @ u[j][i]).astype(f32)
        y[t0:t0 + 4] = (OUTPUT.astype(f32) @ m)[:min(4, steps - t0)]
    return y


def errors(cin, cout, k, steps, rng):
    """(Winograd error, direct error), each max |y - exact| / max |exact|."""
    x = rng.standard_normal((steps + k - 1, cin)).astype(f32)
    w = (rng.standard_normal((k, cin, cout)) / np.sqrt(k * cin)).astype(f32)
    exact = sum(x[j:j + steps].astype(np.float64) @ w[j].astype(np.float64) for j in range(k))
    direct = np.zeros((steps, cout), f32)
    for j in range(k):
        direct += x[j:j + steps] @ w[j]
    scale = np.abs(exact).max()
    return (float(np.abs(winograd(x, w) - exact).max() / scale),
            float(np.abs(direct - exact).max() / scale))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="64x64x3,128x128x3,300x128x5,256x256x3,64x128x9",
                        help="comma-separated CINxCOUTxK")
    parser.add_argument("--steps", type=int, default=256)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    print(f"{'case':>12s} {'winograd':>10s} {'direct':>10s}")
    for case in args.cases.split(","):
        cin, cout, k = (int(v) for v in case.split("x"))
        wino, direct = errors(cin, cout, k, args.steps, rng)
        print(f"{case:>12s} {wino:10.2e} {direct:10.2e}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
