"""Developer programs of the source tree, run from the repository root as
modules: `python -m python.benchmarks.run`, `python -m python.gpu_check.run`.
They are not part of the wheel."""
