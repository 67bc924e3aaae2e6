"""Builds tf_conv1d_op against the TensorFlow installed in this environment.

    pip install --no-build-isolation .      # or -e . for development

The op library is compiled with g++ using tf.sysconfig's flags, its CPU
passes once per instruction-set level (chosen at load time, so the library
does not depend on the build machine's CPU); the CUDA kernels are added when
nvcc is found (see build_tools/cuda.py). Objects are cached in build/op_library,
so a rebuild compiles only what changed. Environment:
  TF_CONV1D_MARCH   expert override of the baseline -march (default x86-64-v2;
                    see build_tools/cpu_levels.py)
  TF_CONV1D_CUDA    "0" to skip the CUDA kernels even if nvcc is present
  TF_CONV1D_CUDA_ARCHS, TF_CONV1D_CUDA_RUNTIME, CUDA_HOME: see docs/cuda.md
A wheel (`pip wheel --no-build-isolation --no-deps .`) requires the TensorFlow
minor version it was built against (2.21.x); see docs/packaging.md.
"""
import os
import sys
from importlib import metadata

from setuptools import Extension, find_packages, setup
from setuptools.command.build_ext import build_ext

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from build_tools import op_library  # noqa: E402


def tensorflow_requirement():
    """The TensorFlow minor version this build compiles against: TensorFlow keeps
    its C++ ABI within a minor version, and the library refuses to load into
    another one (tf_conv1d_op/_library.py), so the wheel says so."""
    try:
        major, minor = (int(v) for v in metadata.version("tensorflow").split(".")[:2])
    except metadata.PackageNotFoundError:
        major, minor = 2, 21
    return f"tensorflow>={major}.{minor},<{major}.{minor + 1}"


class BuildOpLibrary(build_ext):
    """Compiles the op library with TF's flags instead of distutils' defaults."""

    def build_extension(self, ext):
        op_library.build(output_path=self.get_ext_fullpath(ext.name))


setup(
    name="tf_conv1d_op",
    version="0.1.0",
    description="Fused Conv1D (+ bias + activation) TensorFlow custom op and Keras layer",
    packages=find_packages(include=["tf_conv1d_op", "tf_conv1d_op.*"]),
    ext_modules=[Extension("tf_conv1d_op._fused_conv1d_ops", sources=[])],
    cmdclass={"build_ext": BuildOpLibrary},
    python_requires=">=3.9",
    install_requires=[tensorflow_requirement(), "numpy"],
    # Deployment without the plugin (docs/deployment.md): the LiteRT interpreter
    # (its converter is TensorFlow's own), and SavedModel -> ONNX with a runtime.
    extras_require={"litert": ["ai-edge-litert"], "onnx": ["tf2onnx", "onnxruntime"]},
    zip_safe=False,
)
