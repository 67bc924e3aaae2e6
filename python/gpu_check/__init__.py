"""Standalone checks of the CUDA core without TensorFlow (see run.py).

reference and report import only NumPy, so the CPU test suite uses them.
"""
