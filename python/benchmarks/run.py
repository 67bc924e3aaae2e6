"""Runs the CPU benchmark of fused_conv1d against tf.keras.layers.Conv1D.

  python -m python.benchmarks.run [--quick] [--shapes text_cnn,audio] [--note "..."]

Prints the table and writes docs/benchmarks.md and docs/benchmark_speedups.png
of this source tree (see tf_conv1d_op/tools/benchmark.py for the options; the same
suite is `python -m tf_conv1d_op bench`).
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tf_conv1d_op.tools import benchmark

if __name__ == "__main__":
    args = sys.argv[1:]
    if not any(a == "--output-dir" or a.startswith("--output-dir=") for a in args):
        args += ["--output-dir", os.path.join(ROOT, "docs")]
    benchmark.main(args)
