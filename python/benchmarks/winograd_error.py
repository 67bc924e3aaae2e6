"""Rounding error of Winograd F(6,3) and F(4,5) tiles (the CPU core's) and F(4,3)
tiles (its previous ones) in float32, and of the direct sum in float32, each
relative to the largest value of the float64 result: the error study behind
the choice of tiles (docs/performance.md).

The tiles are simulated in NumPy with the transforms written in
cc/kernels/core/winograd_tiles.h (inputs, filter and every product rounded to
float32), on random data of a layer's shape, one batch item.

  python -m python.benchmarks.winograd_error [--cases 64x64x3,300x128x5] [--steps 240]
"""
import argparse
import sys

import numpy as np

# (input transform B^T, filter transform G, output transform A^T) of F(m,r):
# m outputs from m + r - 1 input rows and r taps through m + r - 1 products.
# F(4,3): points 0, 1, -1, 2, -2 and infinity.
F43 = (np.array([[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
                 [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]]),
       np.array([[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
                 [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]]),
       np.array([[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0],
                 [0, 1, -1, 8, -8, 1]]))
# F(6,3): points 0, 1, -1, 2, -2, 1/2, -1/2 and infinity.
F63 = (np.array([[1, 0, -21 / 4, 0, 21 / 4, 0, -1, 0],
                 [0, 1, 1, -17 / 4, -17 / 4, 1, 1, 0],
                 [0, -1, 1, 17 / 4, -17 / 4, -1, 1, 0],
                 [0, 1 / 2, 1 / 4, -5 / 2, -5 / 4, 2, 1, 0],
                 [0, -1 / 2, 1 / 4, 5 / 2, -5 / 4, -2, 1, 0],
                 [0, 2, 4, -5 / 2, -5, 1 / 2, 1, 0],
                 [0, -2, 4, 5 / 2, -5, -1 / 2, 1, 0],
                 [0, -1, 0, 21 / 4, 0, -21 / 4, 0, 1]]),
       np.array([[1, 0, 0], [-2 / 9, -2 / 9, -2 / 9], [-2 / 9, 2 / 9, -2 / 9],
                 [1 / 90, 1 / 45, 2 / 45], [1 / 90, -1 / 45, 2 / 45],
                 [32 / 45, 16 / 45, 8 / 45], [32 / 45, -16 / 45, 8 / 45], [0, 0, 1]]),
       np.array([[1, 1, 1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 1 / 2, -1 / 2, 0],
                 [0, 1, 1, 4, 4, 1 / 4, 1 / 4, 0], [0, 1, -1, 8, -8, 1 / 8, -1 / 8, 0],
                 [0, 1, 1, 16, 16, 1 / 16, 1 / 16, 0],
                 [0, 1, -1, 32, -32, 1 / 32, -1 / 32, 1]]))
# F(4,5): the same points, so the same B^T; G's row i is c_i p_i^k (c_i as in
# F(6,3)'s, the infinity row the last tap), A^T F(6,3)'s first four rows with
# the infinity column in the last.
_POINTS = np.array([0, 1, -1, 2, -2, 1 / 2, -1 / 2])
_SCALES = np.array([1, -2 / 9, -2 / 9, 1 / 90, 1 / 90, 32 / 45, 32 / 45])
F45 = (F63[0],
       np.vstack([_SCALES[:, None] * _POINTS[:, None] ** np.arange(5), [0, 0, 0, 0, 1]]),
       np.hstack([_POINTS[None, :] ** np.arange(4)[:, None], [[0], [0], [0], [1]]]))
f32 = np.float32


def winograd(x, w, transforms):
    """y[t] = sum_k x[t + k] w[k] (valid), in float32 F(m,r) tiles."""
    input_t, filter_t, output_t = (t.astype(f32) for t in transforms)
    m, points = output_t.shape
    r = filter_t.shape[1]
    k, _, cout = w.shape
    steps = x.shape[0] - k + 1
    groups = -(-k // r)
    taps = np.zeros((r * groups,) + w.shape[1:], f32)
    taps[:k] = w
    padded = np.zeros((steps + r * groups + points + m, x.shape[1]), f32)
    padded[:x.shape[0]] = x
    u = [np.einsum("ij,jcd->icd", filter_t, taps[r * j:r * j + r]).astype(f32)
         for j in range(groups)]
    y = np.zeros((steps, cout), f32)
    for t0 in range(0, steps, m):
        products = np.zeros((points, cout), f32)
        for j in range(groups):
            v = (input_t @ padded[t0 + r * j:t0 + r * j + points]).astype(f32)
            for i in range(points):
                products[i] += (v[i] @ u[j][i]).astype(f32)
        y[t0:t0 + m] = (output_t @ products)[:min(m, steps - t0)]
    return y


def errors(cin, cout, k, steps, rng):
    """(F(6,3), F(4,5), F(4,3) and direct errors), each max |y - exact| / max |exact|."""
    x = rng.standard_normal((steps + k - 1, cin)).astype(f32)
    w = (rng.standard_normal((k, cin, cout)) / np.sqrt(k * cin)).astype(f32)
    exact = sum(x[j:j + steps].astype(np.float64) @ w[j].astype(np.float64) for j in range(k))
    direct = np.zeros((steps, cout), f32)
    for j in range(k):
        direct += x[j:j + steps] @ w[j]
    scale = np.abs(exact).max()
    return tuple(float(np.abs(y - exact).max() / scale)
                 for y in (winograd(x, w, F63), winograd(x, w, F45), winograd(x, w, F43), direct))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases",
                        default="64x64x3,128x128x3,300x128x5,256x256x3,1024x128x3,64x64x4,"
                                "64x64x10,1024x128x5",
                        help="comma-separated CINxCOUTxK")
    parser.add_argument("--steps", type=int, default=240)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    print(f"{'case':>12s} {'F(6,3)':>10s} {'F(4,5)':>10s} {'F(4,3)':>10s} {'direct':>10s}")
    for case in args.cases.split(","):
        cin, cout, k = (int(v) for v in case.split("x"))
        row = errors(cin, cout, k, args.steps, rng)
        print(f"{case:>12s} " + " ".join(f"{e:10.2e}" for e in row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
