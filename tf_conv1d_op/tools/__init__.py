"""Programs shipped with the package but apart from the library: the CPU
benchmark (`python -m tf_conv1d_op bench`), its report and chart, and the demo
(`python -m tf_conv1d_op demo`) with its data loader. The library never
imports them.

The chart is drawn by png_chart.py (a PNG with its own bitmap font) rather than
matplotlib: about 100 lines against a dependency of tens of megabytes for a
package that otherwise needs only TensorFlow and NumPy, for one bar chart.
"""
