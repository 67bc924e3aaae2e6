"""Builds tf_conv1d_op against the TensorFlow installed in this environment.

    pip install --no-build-isolation .      # or -e . for development

The op library is compiled with g++ using tf.sysconfig's flags; the CUDA
kernels are added when nvcc is found (see build_tools/cuda.py). Environment:
  TF_CONV1D_MARCH   -march value for the CPU code (default "native"; use e.g.
                    "x86-64-v3" for a wheel that runs on other machines)
  TF_CONV1D_CUDA    "0" to skip the CUDA kernels even if nvcc is present
  TF_CONV1D_CUDA_ARCHS, TF_CONV1D_CUDA_RUNTIME, CUDA_HOME: see docs/cuda.md
A wheel (`pip wheel --no-build-isolation --no-deps .`) requires exactly the
TensorFlow it was built against; see docs/packaging.md.
"""
import os
import sys
from importlib import metadata

from setuptools import Extension, find_packages, setup
from setuptools.command.build_ext import build_ext

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from build_tools import op_library  # noqa: E402


def tensorflow_requirement():
    """The TensorFlow this build compiles against, exactly: the library refuses
    to load into any other (tf_conv1d_op/_library.py), so the wheel says so."""
    try:
        return "tensorflow==" + metadata.version("tensorflow")
    except metadata.PackageNotFoundError:
        return "tensorflow==2.21.*"


class BuildOpLibrary(build_ext):
    """Compiles the op library with TF's flags instead of distutils' defaults."""

    def build_extension(self, ext):
        op_library.build(
            output_path=self.get_ext_fullpath(ext.name),
            temp_dir=os.path.join(self.build_temp, "op_library"),
        )


setup(
    name="tf_conv1d_op",
    version="0.1.0",
    description="Fused Conv1D (+ bias + activation) TensorFlow custom op and Keras layer",
    packages=find_packages(include=["tf_conv1d_op", "tf_conv1d_op.*"]),
    ext_modules=[Extension("tf_conv1d_op._fused_conv1d_ops", sources=[])],
    cmdclass={"build_ext": BuildOpLibrary},
    python_requires=">=3.9",
    install_requires=[tensorflow_requirement(), "numpy"],
    zip_safe=False,
)
