"""Measuring programs (docs/performance.md says which figure each gives), run
from the repository root: `python -m python.benchmarks.NAME`."""
