"""Finds and loads the compiled op library that sits next to this package
(or the one TF_CONV1D_OP_LIBRARY names)."""
import ctypes
import glob
import json
import os
import types

import tensorflow as tf

from tf_conv1d_op import _build_info, _implementation

_HERE = os.path.dirname(os.path.abspath(__file__))
REBUILD_HINT = (
    "Rebuild it against the installed TensorFlow with "
    "`pip install --no-build-isolation --force-reinstall --no-deps .` "
    "(or `pip install --no-build-isolation -e .`) from the tf_conv1d_op source tree."
)


# Loads this library instead of the one in the package: how the tests run
# against a Bazel-built library (scripts/bazel_test.sh).
LIBRARY_OVERRIDE_ENV = "TF_CONV1D_OP_LIBRARY"


def library_path():
    override = os.environ.get(LIBRARY_OVERRIDE_ENV)
    if override:
        if not os.path.isfile(override):
            raise ImportError(f"tf_conv1d_op: {LIBRARY_OVERRIDE_ENV}={override} is not a file")
        return os.path.abspath(override)
    found = sorted(glob.glob(os.path.join(_HERE, "_fused_conv1d_ops*.so")))
    if not found:
        raise ImportError(
            "tf_conv1d_op: the compiled op library (_fused_conv1d_ops*.so) is missing "
            f"from {_HERE}. " + REBUILD_HINT)
    return found[-1]


def build_info():
    """What the library was built for: TF version, CUDA archs, ..."""
    path = library_path()
    try:
        return _build_info.read(path)
    except (OSError, ValueError) as e:
        raise ImportError(f"tf_conv1d_op: cannot read the build info of {path} ({e}). "
                          + REBUILD_HINT) from e


def minor_version(version):
    """"2.21" of "2.21.0" or "2.21.0rc1": TensorFlow keeps its C++ ABI within it."""
    return ".".join(version.split(".")[:2])


def cpu_levels(path=None):
    """The CPU instruction-set levels of the loaded library: those compiled in,
    those this CPU supports, the one selected (TF_CONV1D_ISA or the best) and
    why a forced one cannot be used ("error"), and whether the bfloat16
    products run on AVX512_BF16's dot products ("bf16_dot") and on AMX tiles
    ("bf16_amx", TF_CONV1D_AMX=0 keeps the dot products)."""
    report = ctypes.CDLL(path or library_path()).tf_conv1d_op_cpu_levels
    report.restype = ctypes.c_char_p
    return json.loads(report().decode())


def activation_table(path=None):
    """The library's activations in its table's order: [{"name", "operand"}],
    operand what the gradient reads ("output", "preactivation", or
    "preactivation_if_negative_slope")."""
    report = ctypes.CDLL(path or library_path()).tf_conv1d_op_activations
    report.restype = ctypes.c_char_p
    return json.loads(report().decode())


def check_tensorflow_version(info):
    built_for = info.get("tensorflow_version") or ""
    if minor_version(built_for) != minor_version(tf.__version__):
        raise ImportError(
            f"tf_conv1d_op was built for TensorFlow {built_for}, but TensorFlow "
            f"{tf.__version__} is installed. Install tensorflow=={minor_version(built_for)}.*, "
            "or " + REBUILD_HINT[0].lower() + REBUILD_HINT[1:])


def load():
    """Loads the op library, refusing one built for another TensorFlow minor
    version or a TF_CONV1D_ISA this CPU cannot run; every refusal also names
    the composite implementation as a way out."""
    try:
        return _load()
    except ImportError as e:
        raise ImportError(f"{e} {_implementation.COMPOSITE_HINT}") from e


def _load():
    path = library_path()
    check_tensorflow_version(build_info())
    try:
        library = tf.load_op_library(path)
    except (tf.errors.NotFoundError, tf.errors.AlreadyExistsError) as e:
        raise ImportError(f"tf_conv1d_op: cannot load {path}: {e}. " + REBUILD_HINT) from e
    levels = cpu_levels(path)
    if levels["error"]:
        raise ImportError(f"tf_conv1d_op: {levels['error']}. Unset TF_CONV1D_ISA to use the "
                          "best level this CPU supports.")
    return library


def generated_functions(library):
    """The ops' generated Python functions under short names
    (TensorFlow names them after the namespaced op: tf_conv1d_op_fused_conv1d)."""
    return types.SimpleNamespace(
        fused_conv1d=library.tf_conv1d_op_fused_conv1d,
        fused_conv1d_backprop_input=library.tf_conv1d_op_fused_conv1d_backprop_input,
        fused_conv1d_backprop_filter=library.tf_conv1d_op_fused_conv1d_backprop_filter,
        fused_conv1d_stream=library.tf_conv1d_op_fused_conv1d_stream)


class _Library:
    """generated_functions of the op library, loaded at first use, so that
    the composite implementation never needs the compiled library."""

    def __init__(self):
        self._functions = None

    def load(self):
        if self._functions is None:
            self._functions = generated_functions(load())
        return self._functions

    def __getattr__(self, name):
        return getattr(self.load(), name)


ops = _Library()
if _implementation.library_needed_at_import():
    ops.load()  # now, so that SavedModels holding the op load after the import
