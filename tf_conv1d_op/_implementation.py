"""Which implementation fused_conv1d (and so the Conv1D layer) runs.

"plugin" (the default): the compiled op, loaded when the package is imported.
"composite": stock TensorFlow ops only (composite.py). Chosen for the whole
process by TF_CONV1D_OP_IMPLEMENTATION=composite, read once at import: the
package then never loads the compiled library, so it imports on a platform
without a build (a SavedModel that holds the op then cannot be loaded in that
process). `using("composite")` chooses it for the calling thread while
tracing, which is how portable exports are written.
"""
import contextlib
import os
import threading

ENVIRONMENT_VARIABLE = "TF_CONV1D_OP_IMPLEMENTATION"
PLUGIN, COMPOSITE = "plugin", "composite"
CHOICES = (PLUGIN, COMPOSITE)

# Appended to every error that says the compiled library cannot be loaded.
COMPOSITE_HINT = (f"To run without the compiled library (stock TensorFlow ops only, "
                  f"slower), set {ENVIRONMENT_VARIABLE}={COMPOSITE}.")


def _from_environment():
    value = os.environ.get(ENVIRONMENT_VARIABLE, PLUGIN)
    if value not in CHOICES:
        raise ImportError(f"tf_conv1d_op: {ENVIRONMENT_VARIABLE}={value!r} is not one of "
                          f"{list(CHOICES)}")
    return value


PROCESS_DEFAULT = _from_environment()
_thread = threading.local()


def current():
    """The implementation fused_conv1d runs now, in this thread."""
    return getattr(_thread, "override", None) or PROCESS_DEFAULT


def library_needed_at_import():
    return PROCESS_DEFAULT == PLUGIN


@contextlib.contextmanager
def using(implementation):
    """Runs fused_conv1d (and the layers) on `implementation` in this thread."""
    if implementation not in CHOICES:
        raise ValueError(f"tf_conv1d_op: implementation must be one of {list(CHOICES)}, "
                         f"got {implementation!r}")
    previous = getattr(_thread, "override", None)
    _thread.override = implementation
    try:
        yield
    finally:
        _thread.override = previous
