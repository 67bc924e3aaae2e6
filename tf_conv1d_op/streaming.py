"""streaming_model: a trained model of causal convolutions, run a chunk at a time.

The new model takes (chunk, *states) and returns (*outputs, *new_states),
one state per causal convolution: the last (kernel_size - 1) * dilation_rate
inputs it saw (tf_conv1d_op/_causal_state.py). Feeding a sequence in chunks
of any lengths (multiples of the product of the strides)
gives the outputs of the whole sequence. Layers that read other time steps
any other way cannot run on a chunk alone and are refused by name.
"""
from tf_conv1d_op.conversion import replace_conv1d
from tf_conv1d_op.layers.base_conv import FusedConvBase
from tf_conv1d_op.layers._keras import IS_KERAS_3, keras

# Layers that compute each time step from that step alone (in inference:
# dropout and noise are off, batch normalization uses its moving statistics).
_PER_STEP = tuple(getattr(keras.layers, name) for name in (
    "InputLayer", "Dense", "EinsumDense", "Activation", "ReLU", "LeakyReLU", "ELU",
    "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Dropout",
    "SpatialDropout1D", "GaussianNoise", "GaussianDropout", "AlphaDropout", "Rescaling",
    "Identity", "Embedding", "BatchNormalization", "LayerNormalization",
    "Concatenate", "Softmax") if hasattr(keras.layers, name))


def _axes(layer):
    for name in ("axis", "axes"):
        value = getattr(layer, name, None)
        if value is not None:
            return value if isinstance(value, (list, tuple)) else [value]
    return None


def _einsum_keeps_steps(equation):
    """Whether an EinsumDense equation passes batch and time (the input's first
    two axes) through to the output's first two, untouched by the kernel: an
    ellipsis leading both sides, or the same two letters, absent from the kernel."""
    inputs, _, output = equation.replace(" ", "").partition("->")
    x, _, kernel = inputs.partition(",")
    if x.startswith("...") and output.startswith("..."):
        return True
    return (len(x) >= 2 and "." not in x[:2] and x[:2] == output[:2]
            and not set(x[:2]) & set(kernel))


def _time_mixing_reason(layer):
    """Why `layer` cannot run on a chunk alone, or None if it can."""
    if isinstance(layer, keras.Model):
        return "a nested model; call streaming_model on a model whose layers are not nested"
    if isinstance(layer, FusedConvBase):
        if layer.data_format != "channels_last":
            return "data_format='channels_first'; streaming_model handles channels_last models"
        if layer.padding == "causal":
            return None
        if layer.kernel_size[0] == 1:
            if layer.strides[0] == 1:
                return None
            return (f"padding={layer.padding!r} with kernel_size 1 and strides "
                    f"{layer.strides[0]}: it keeps one step in {layer.strides[0]}, a phase that a "
                    "chunk off it would miss unchecked; with padding='causal' (the "
                    "same outputs for one tap) its chunk lengths are checked")
        return (f"padding={layer.padding!r} with kernel_size {layer.kernel_size[0]}: its "
                "output steps read later inputs (only causal convolutions stream)")
    if isinstance(layer, keras.layers.Conv1D):
        return ("a stock Conv1D that replace_conv1d could not convert (see its warning); "
                "only tf_conv1d_op.Conv1D layers carry a state")
    if isinstance(layer, _PER_STEP):
        axes = _axes(layer)
        if axes is not None and not all(a in (-1, 2) for a in axes):
            return (f"it works over axis {axes}, which includes time (axis 1); only the "
                    "channel axis (-1) is per step")
        equation = getattr(layer, "equation", None)  # EinsumDense
        if equation is not None and not _einsum_keeps_steps(equation):
            return (f"its equation {equation!r} does not map each time step (the input's "
                    "second axis) to the same output step alone")
        return None
    return (f"{type(layer).__name__} is not known to compute each time step alone "
            "(pooling, attention, recurrent and time-reshaping layers mix steps)")


def _run_layers(model, inputs, call):
    """Runs `model`'s layers on `inputs`, each through call(layer, *args, **kwargs)."""
    if isinstance(model, keras.Sequential):
        outputs = inputs
        for layer in model.layers:
            outputs = call(layer, outputs)
        return outputs
    # Keras 3's graph walk, which keras.models.clone_model's call_function
    # uses too; clone_model itself cannot be used, since its result may take
    # only the model's own inputs, not the states.
    return model._run_through_graph(inputs, operation_fn=lambda layer: layer, call_fn=call)


class _Streamer:
    """clone_model's call_function: runs causal convolutions with a state."""

    def __init__(self):
        self.state_inputs = []
        self.state_outputs = []

    def __call__(self, layer, *args, **kwargs):
        reason = _time_mixing_reason(layer)
        if reason is not None:
            raise ValueError(f"streaming_model: layer {layer.name!r} cannot stream: {reason}.")
        if not isinstance(layer, FusedConvBase) or layer.padding != "causal":
            return layer(*args, **kwargs)
        shape = layer.state_shape()[1:]
        state = keras.Input(shape=shape, dtype=layer.compute_dtype,
                            name=f"{layer.name}_state")
        # A copy of the layer, called with the state first: a Keras 3
        # functional model takes as many outputs from each layer as its first
        # call returned, and the original's first call returned one.
        copy = type(layer).from_config(layer.get_config())
        outputs, new_state = copy(*args, initial_state=state, return_state=True, **kwargs)
        copy.set_weights(layer.get_weights())
        self.state_inputs.append(state)
        self.state_outputs.append(new_state)
        return outputs


def streaming_model(model):
    """A model that runs `model` on a stream, one chunk at a time.

    Args:
      model: a built Sequential or functional Keras 3 model, channels_last,
        made of causal convolutions (ours: Conv1D and SeparableConv1D; stock
        ones are converted with replace_conv1d) and per-step layers: Dense, activations, merges
        (Add, Multiply, Concatenate over channels, ...), normalization over
        channels, dropout and noise (off in inference), Embedding, and
        convolutions with kernel_size 1.

    Returns:
      A functional model with inputs [chunk, *states] and outputs
      [*outputs, *new_states], with copies of `model`'s weights (the
      original is left untouched). initial_states(streaming, batch_size) gives the states a
      stream starts from. Chunks may have any number of steps >= 1 when every
      stride is 1; otherwise a multiple of the product of the strides (pad the
      last chunk at its end and drop the extra outputs: they are causal).

    Raises:
      ValueError: a layer mixes time steps in a way that cannot stream
        (pooling, 'same' or 'valid' convolutions, attention, ...); the message
        names the layer and why.
      NotImplementedError: under tf-keras (Keras 2), whose clone_model cannot
        walk its graph the same way.
    """
    if not IS_KERAS_3:
        raise NotImplementedError("streaming_model needs Keras 3 (keras.models.clone_model's "
                                  "graph walk); under tf-keras call the layers with "
                                  "initial_state= and return_state=True yourself")
    if not isinstance(model, keras.Model):
        raise TypeError(f"streaming_model expects a keras.Model, got {type(model).__name__}")
    if len(model.inputs) != 1:
        raise ValueError(f"streaming_model handles models with one input (the stream); "
                         f"{model.name!r} has {len(model.inputs)}")
    converted = replace_conv1d(model)
    (template,) = converted.inputs
    # Any chunk length: the time dimension of the input is left open.
    chunk = keras.Input(shape=(None,) + tuple(template.shape[2:]), dtype=template.dtype,
                        name=f"{model.name}_chunk")
    streamer = _Streamer()
    outputs = _run_layers(converted, chunk, streamer)
    outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
    return keras.Model(inputs=[chunk] + streamer.state_inputs,
                       outputs=outputs + streamer.state_outputs,
                       name=f"{model.name}_streaming")


def initial_states(streaming, batch_size):
    """The zero states a stream starts from, for the model streaming_model made."""
    import tensorflow as tf

    return [tf.zeros((batch_size,) + tuple(t.shape[1:]), dtype=t.dtype)
            for t in streaming.inputs[1:]]  # inputs[0] is the chunk
