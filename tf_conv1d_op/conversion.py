"""replace_conv1d: a trained Keras model with its Conv1D, DepthwiseConv1D and
SeparableConv1D layers swapped for ours."""
import warnings

from tf_conv1d_op.layers import Conv1D, DepthwiseConv1D, SeparableConv1D
from tf_conv1d_op.layers._keras import keras

# Each stock layer that has a fused counterpart, and the counterpart; the more
# derived first (tf-keras' DepthwiseConv1D and SeparableConv1D subclass its Conv1D).
OURS_FOR_STOCK = {keras.layers.DepthwiseConv1D: DepthwiseConv1D,
                  keras.layers.SeparableConv1D: SeparableConv1D, keras.layers.Conv1D: Conv1D}


def _stock_base(layer):
    """The stock class of OURS_FOR_STOCK that `layer` is an instance of, or None."""
    if type(layer) in OURS_FOR_STOCK:
        return type(layer)
    return next((stock for stock in OURS_FOR_STOCK if isinstance(layer, stock)), None)


def _replacement(layer, stock):
    """Our layer for the stock `layer` of class `stock`, or the reason there is none."""
    if type(layer) is not stock:
        return None, (f"a subclass of keras.layers.{stock.__name__} ({type(layer).__name__}), "
                      "whose behaviour may differ from the stock layer's")
    try:
        return OURS_FOR_STOCK[stock].from_config(layer.get_config()), None
    except ValueError as e:
        return None, str(e)


class _Cloner:
    """The clone_function for keras.models.clone_model, remembering what it did."""

    def __init__(self):
        self.skipped = []  # (layer name, reason)
        self.replaced = 0

    def __call__(self, layer):
        if isinstance(layer, keras.Model):
            return self._nested_model(layer)
        stock = _stock_base(layer)
        if stock is not None:
            new, reason = _replacement(layer, stock)
            if new is None:
                self.skipped.append((layer.name, reason))
            else:
                self.replaced += 1
        else:
            new = None
            held = [inner.name for inner in layer._flatten_layers(include_self=False)
                    if _stock_base(inner) is not None]
            if held:
                self.skipped.append((layer.name, (
                    f"holds {', '.join(held)}, out of reach inside a {type(layer).__name__} "
                    "(build it with tf_conv1d_op's layers)")))
        if new is None:
            new = type(layer).from_config(layer.get_config())
        return new

    def _nested_model(self, model):
        try:
            new, skipped, replaced = _replace(model)
        except TypeError as e:
            self.skipped.append((model.name, f"{e}; kept as is, shared with the original"))
            return model
        self.skipped.extend(skipped)
        self.replaced += replaced
        return new


def _rewrapped(layer, clone_layer):
    """A wrapper layer (TimeDistributed, ...) around clone_layer of the layer
    it wraps, made as its from_config makes it; None for other layers and for
    wrappers that hold more layers (Bidirectional's backward layer)."""
    if not isinstance(layer, keras.layers.Wrapper):
        return None
    config = layer.get_config()
    del config["layer"]
    if any(key.endswith("layer") for key in config):
        return None
    return type(layer)(clone_layer(layer.layer), **config)


def clone_with_weights(model, clone_layer, who, advice):
    """keras.models.clone_model(model) with each layer replaced by
    clone_layer(layer) and given the original's weights. A nested model that
    clone_layer returns has been cloned (and its weights copied) by it already.
    `who` and `advice` word the TypeError for a subclassed model, which cannot
    be rebuilt from its layers."""
    copies = []

    def clone(layer):
        new = _rewrapped(layer, clone_layer) or clone_layer(layer)
        if new is not layer and not isinstance(layer, keras.Model):
            copies.append((layer, new))
        return new

    try:
        new_model = keras.models.clone_model(model, clone_function=clone)
    except ValueError as e:  # a subclassed model
        raise TypeError(
            f"{who} handles Sequential and functional models; {model.name!r} "
            f"({type(model).__name__}) cannot be rebuilt from its layers ({e}). "
            f"{advice}") from e
    for old, new in copies:
        if old.weights:
            new.set_weights(old.get_weights())
    return new_model


def _replace(model):
    cloner = _Cloner()
    new_model = clone_with_weights(model, cloner, "replace_conv1d",
                                   "Build subclassed models with tf_conv1d_op.Conv1D directly.")
    return new_model, cloner.skipped, cloner.replaced


def replace_conv1d(model, *, return_report=False):
    """A copy of `model` in which each stock keras.layers.Conv1D,
    DepthwiseConv1D and SeparableConv1D is ours (tf_conv1d_op's of the same names).

    Works on Sequential and functional models, nested ones included. Every
    layer is cloned from its config and gets the original's weights, so the
    new model predicts what the old one did (within float rounding); the
    original is left untouched. Like keras.models.clone_model, the copy is not
    compiled.

    Grouped and depthwise layers (`groups`) and LoRA layers (with their
    factors) are replaced too, and so are the layers inside wrappers such as
    TimeDistributed. A layer that cannot be replaced (a subclass of the stock
    class, or a user layer that builds stock ones itself) is cloned unchanged
    and reported in a warning; so is a nested subclassed model, which is kept
    as is.

    Args:
      model: a built Sequential or functional Keras model.
      return_report: also return the list of (layer name, reason) left alone.

    Returns:
      The new model, or (new model, report) when return_report is True.

    Raises:
      TypeError: `model` is a subclassed model, which cannot be rebuilt.
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"replace_conv1d expects a keras.Model, got {type(model).__name__}")
    new_model, skipped, _ = _replace(model)
    if skipped:
        warnings.warn("replace_conv1d left these layers alone:\n" + "\n".join(
            f"  {name}: {reason}" for name, reason in skipped), stacklevel=2)
    return (new_model, skipped) if return_report else new_model
