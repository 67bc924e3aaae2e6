"""Whether and how the XLA kernels (cc/kernels/xla/) are built.

They use TensorFlow's tf2xla and XLA builder headers, which the TensorFlow
wheel ships, two of them needing include folders that tf.sysconfig does not
name, and they link libtensorflow_cc.so.2, which exports XlaOpRegistrar and
XlaOpKernel (libtensorflow_framework.so.2 exports the XlaBuilder ops). A
TensorFlow without them gets the library without XLA kernels, which behaves
as before they existed (docs/layer.md, "XLA"). TF_CONV1D_XLA=0 leaves them
out on purpose (a shorter build: each of their objects takes about a minute).
"""
import dataclasses
import glob
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SOURCES = sorted(glob.glob(os.path.join(ROOT, "cc", "kernels", "xla", "*.cc")))

# Relative to TensorFlow's include folder: what the XLA headers include.
EXTRA_INCLUDE_DIRS = ("external/highwayhash", "external/farmhash_archive/src")
REQUIRED_HEADER = "tensorflow/compiler/tf2xla/xla_op_kernel.h"
LIBRARY = "libtensorflow_cc.so.2"


@dataclasses.dataclass(frozen=True)
class XlaBuild:
    compile_flags: tuple   # added to the baseline flags of SOURCES
    link_flags: tuple      # added to the library's link


def _include_dir(tf_compile):
    return next((f[2:] for f in tf_compile if f.startswith("-I")), None)


def _lib_dir(tf_link):
    return next((f[2:] for f in tf_link if f.startswith("-L")), None)


def find(tf_compile, tf_link, quiet=False):
    """The flags to build the XLA kernels with, or None (saying why unless quiet)."""
    def skip(reason):
        if not quiet:
            print(f"tf_conv1d_op: building without XLA kernels: {reason}", file=sys.stderr)
        return None

    if os.environ.get("TF_CONV1D_XLA", "1") == "0":
        return skip("TF_CONV1D_XLA=0")
    if not SOURCES:
        return None
    include, lib = _include_dir(tf_compile), _lib_dir(tf_link)
    if include is None or lib is None:
        return skip("TensorFlow's flags name no include or library folder")
    wanted = [os.path.join(include, REQUIRED_HEADER)]
    wanted += [os.path.join(include, d) for d in EXTRA_INCLUDE_DIRS]
    wanted.append(os.path.join(lib, LIBRARY))
    missing = [path for path in wanted if not os.path.exists(path)]
    if missing:
        return skip("this TensorFlow lacks " + ", ".join(missing))
    return XlaBuild(
        compile_flags=tuple("-I" + os.path.join(include, d) for d in EXTRA_INCLUDE_DIRS),
        link_flags=("-L" + lib, "-l:" + LIBRARY))
