"""Registers our tf2onnx handler (tf2onnx_handler.py) when the program
imports tf2onnx, so that tf2onnx converts graphs holding our op as it
converts a stock convolution: Keras 3's model.export(format="onnx"),
tf2onnx.convert.from_keras and from_function, with no import of ours.

tf2onnx is an optional extra: nothing here imports it. A finder placed first
on sys.meta_path sees the import of tf2onnx, lets the usual finders locate
it, and imports the handler right after tf2onnx's own module has run.
"""
import importlib
import importlib.abc
import importlib.util
import sys
import warnings

_PACKAGE = "tf2onnx"
_HANDLER = "tf_conv1d_op.tf2onnx_handler"


def _register_handler():
    try:
        importlib.import_module(_HANDLER)
    except Exception as error:  # noqa: BLE001  (tf2onnx must import regardless)
        warnings.warn(f"tf_conv1d_op: tf2onnx was imported, but registering the handler of "
                      f"our op with it failed ({error!r}); tf2onnx cannot convert graphs that "
                      f"hold the op (export with tf_conv1d_op.export(model, path, "
                      f"format='onnx') instead)", RuntimeWarning, stacklevel=2)


class _HandlerAfterTf2onnx(importlib.abc.MetaPathFinder):
    def __init__(self):
        self._searching = False

    def find_spec(self, name, path=None, target=None):
        if name != _PACKAGE or self._searching:
            return None
        # The usual finders' spec (this one passes while they search), whose
        # loader registers the handler once tf2onnx has run. The finder
        # stays until then: a program may look for tf2onnx without importing it.
        self._searching = True
        try:
            spec = importlib.util.find_spec(name)
        finally:
            self._searching = False
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        run_module = spec.loader.exec_module

        def exec_module(module):
            run_module(module)
            if self in sys.meta_path:
                sys.meta_path.remove(self)
            _register_handler()

        spec.loader.exec_module = exec_module
        return spec


def install():
    """Registers the handler now if tf2onnx is imported, else when it is."""
    if _PACKAGE in sys.modules:
        _register_handler()
    elif not any(isinstance(finder, _HandlerAfterTf2onnx) for finder in sys.meta_path):
        sys.meta_path.insert(0, _HandlerAfterTf2onnx())
