"""Causal convolutions run chunk by chunk from a state (fused_conv1d's
initial_state / return_final_state, the layer's call arguments, and
tf_conv1d_op.streaming_model) give what the whole sequence gives."""
import zlib

import numpy as np
import pytest
import tensorflow as tf

import tf_conv1d_op
from tf_conv1d_op import _implementation
from tf_conv1d_op.layers._keras import IS_KERAS_3, keras
from tests.op.test_fused_conv1d_grid import DTYPES
from tests.support import reference

# (data_format, stride, dilation, kernel_size, activation, dtype): every
# layout, dtype and activation at least once, strides with dilation, a
# one-tap kernel (an empty state).
CASES = [
    ("NWC", 1, 1, 3, "relu", "float64"),
    ("NCW", 1, 2, 2, "gelu", "float32"),
    ("NWC", 2, 3, 4, "silu", "float32"),
    ("NCW", 3, 1, 2, "leaky_relu", "float64"),
    ("NWC", 1, 4, 1, "tanh", "float32"),
    ("NWC", 1, 2, 3, "elu", "float16"),
    ("NCW", 2, 2, 3, "sigmoid", "bfloat16"),
    ("NWC", 1, 1, 5, "gelu_tanh", "float64"),
    ("NCW", 1, 3, 2, "selu", "float32"),
    ("NWC", 2, 1, 3, "softplus", "float64"),
    ("NWC", 1, 1, 2, "relu6", "float32"),
    ("NCW", 1, 1, 3, "hard_sigmoid", "float32"),
    ("NWC", 1, 2, 2, "linear", "float64"),
]


def _rng(*key):
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def _chunk_lengths(rng, steps, stride):
    """Random lengths >= 1 that add up to `steps`, multiples of the stride
    but for the last (whose state is not needed); ones included."""
    lengths = []
    while steps > 0:
        n = min(steps, stride * int(rng.choice([1, 1, 2, 3, 5])))
        lengths.append(n)
        steps -= n
    return lengths


def _steps(array, data_format, begin, end):
    return array[:, begin:end] if data_format == "NWC" else array[:, :, begin:end]


@pytest.mark.parametrize("data_format,stride,dilation,kernel_size,activation,dtype", CASES)
def test_chunks_from_a_state_match_the_reference(data_format, stride, dilation,
                                                 kernel_size, activation, dtype):
    """Outputs, final state and the gradients of x, the initial state, filters and bias."""
    rng = _rng(data_format, stride, dilation, kernel_size, activation, dtype)
    batch, in_channels, out_channels = 2, int(rng.integers(1, 5)), int(rng.integers(1, 5))
    steps = stride * int(rng.integers(3, 9)) + int(rng.integers(0, stride))
    context = (kernel_size - 1) * dilation
    axis = 1 if data_format == "NWC" else 2

    def layout(*nwc):
        shape = list(nwc)
        return tuple(shape) if data_format == "NWC" else (shape[0], shape[2], shape[1])

    tf_dtype = tf.as_dtype(dtype)
    rounded = lambda a: tf.cast(tf.constant(a, tf_dtype), tf.float64).numpy()
    x = rounded(rng.standard_normal(layout(batch, steps, in_channels)))
    s0 = rounded(rng.standard_normal(layout(batch, context, in_channels)))
    w = rounded(rng.standard_normal((kernel_size, in_channels, out_channels)))
    b = rounded(rng.standard_normal(out_channels))
    lengths = _chunk_lengths(rng, steps, stride)
    # The last chunk may have any length: its state is not asked for.
    out_lengths = [-(-n // stride) for n in lengths]
    dy = rounded(rng.standard_normal(layout(batch, sum(out_lengths), out_channels)))

    variables = [tf.Variable(v, dtype=tf_dtype) for v in (x, s0, w, b)]
    with tf.GradientTape() as tape:
        state, outputs, begin = variables[1], [], 0
        for i, n in enumerate(lengths):
            last = i == len(lengths) - 1
            y = tf_conv1d_op.fused_conv1d(
                _steps(variables[0], data_format, begin, begin + n), variables[2],
                variables[3], stride=stride, dilations=dilation, padding="causal",
                activation=activation, data_format=data_format, initial_state=state,
                return_final_state=not last)
            y, state = (y, state) if last else y
            outputs.append(y)
            begin += n
        final_state = tf_conv1d_op.fused_conv1d(
            _steps(variables[0], data_format, steps - n, steps), variables[2], variables[3],
            stride=stride, dilations=dilation, padding="causal", activation=activation,
            data_format=data_format, initial_state=state, return_final_state=True)[1] \
            if n % stride == 0 else None
        y = tf.concat(outputs, axis=axis)
        loss = tf.reduce_sum(tf.cast(y, tf.float64) * dy)
    grads = tape.gradient(loss, variables)

    # The reference: VALID over (state, whole sequence), float64, stock ops.
    whole = np.concatenate([s0, x], axis=axis)
    with tf.GradientTape() as tape:
        ref_inputs = [tf.constant(v) for v in (whole, w, b)]
        tape.watch(ref_inputs)
        ref_y = reference.conv1d(*ref_inputs, stride=stride, dilation=dilation,
                                 padding="VALID", data_format=data_format,
                                 activation=activation)
        ref_loss = tf.reduce_sum(ref_y * dy)
    ref_whole, ref_w, ref_b = tape.gradient(ref_loss, ref_inputs)
    ref_s0, ref_x = (_steps(ref_whole.numpy(), data_format, 0, context),
                     _steps(ref_whole.numpy(), data_format, context, context + steps))

    forward_tol, grad_tol = DTYPES[dtype]
    assert reference.max_relative_error(y, ref_y) <= forward_tol
    if final_state is not None:
        np.testing.assert_array_equal(tf.cast(final_state, tf.float64),
                                      _steps(whole, data_format, steps, steps + context))
    for name, got, want in zip(("x", "initial_state", "filters", "bias"), grads,
                               (ref_x, ref_s0, ref_w, ref_b)):
        assert reference.max_relative_error(got, want) <= grad_tol, name


def test_zero_state_is_causal_padding():
    rng = _rng("zero")
    x = rng.standard_normal((3, 17, 4))
    w = rng.standard_normal((3, 4, 2))
    whole = tf_conv1d_op.fused_conv1d(x, w, padding="causal", dilations=2)
    first, state = tf_conv1d_op.fused_conv1d(x[:, :6], w, padding="causal", dilations=2,
                                             return_final_state=True)
    rest = tf_conv1d_op.fused_conv1d(x[:, 6:], w, padding="causal", dilations=2,
                                     initial_state=state)
    np.testing.assert_allclose(tf.concat([first, rest], 1), whole, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kwargs,error,message", [
    (dict(padding="same", initial_state=np.zeros((2, 4, 3))), ValueError,
     r"fused_conv1d: initial_state and return_final_state need padding='CAUSAL', "
     r"got padding='SAME'"),
    (dict(padding="valid", return_final_state=True), ValueError, r"got padding='VALID'"),
    (dict(padding="causal", initial_state=np.zeros((2, 3, 3))), ValueError,
     r"initial_state must have shape .*expected 4 in dimension 1, got shape \(2, 3, 3\)"),
    (dict(padding="causal", initial_state=np.zeros((2, 4, 5))), ValueError,
     r"expected 3 in dimension 2, got shape \(2, 4, 5\)"),
    (dict(padding="causal", initial_state=np.zeros((1, 4, 3))), ValueError,
     r"expected 2 in dimension 0"),
    (dict(padding="causal", initial_state=np.zeros((2, 4))), ValueError,
     r"initial_state must be rank 3 \(NWC\), got shape \(2, 4\)"),
    (dict(padding="causal", initial_state=tf.zeros((2, 4, 3), tf.float16)), TypeError,
     r"initial_state dtype float16 does not match input dtype float32"),
])
def test_bad_states_are_refused(kwargs, error, message):
    x = tf.zeros((2, 6, 3))
    w = tf.zeros((3, 3, 5))
    with pytest.raises(error, match=message):
        tf_conv1d_op.fused_conv1d(x, w, dilations=2, **kwargs)


def test_a_state_after_a_chunk_off_the_stride_is_refused():
    message = r"with return_final_state and stride 2, the chunk length must be a multiple"
    x, w = tf.zeros((1, 5, 3)), tf.zeros((3, 3, 1))
    with pytest.raises(ValueError, match=message):
        tf_conv1d_op.fused_conv1d(x, w, stride=2, padding="causal", return_final_state=True)
    run = tf.function(lambda x: tf_conv1d_op.fused_conv1d(
        x, w, stride=2, padding="causal", return_final_state=True),
        input_signature=[tf.TensorSpec([1, None, 3])])
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        run(x)
    assert run(tf.zeros((1, 6, 3)))[0].shape == (1, 3, 1)


@pytest.mark.parametrize("groups,data_format", [(1, "NWC"), (3, "NWC"), (3, "NCW")])
@pytest.mark.parametrize("implementation", [_implementation.PLUGIN, _implementation.COMPOSITE])
def test_a_chunk_off_the_stride_is_refused_under_xla(groups, data_format, implementation):
    """XLA compiles Assert ops away: the concat formulation (groups > 1, the
    composite) must still refuse a chunk off the stride, not return a state
    that makes the next chunk's outputs wrong."""
    shape = (1, 5, 3) if data_format == "NWC" else (1, 3, 5)
    spec = [None if d == 5 else d for d in shape]
    w = tf.zeros((3, 3 // groups, 3))
    with _implementation.using(implementation):
        run = tf.function(lambda x: tf_conv1d_op.fused_conv1d(
            x, w, stride=2, padding="causal", data_format=data_format, groups=groups,
            return_final_state=True), input_signature=[tf.TensorSpec(spec)], jit_compile=True)
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match="multiple of the stride|multiple_of_the_stride"):
            run(tf.zeros(shape))
        assert run(tf.zeros([6 if d == 5 else d for d in shape]))[0].shape[0] == 1


def test_empty_chunk_is_refused():
    with pytest.raises(ValueError, match=r"needs at least one step, got input shape "
                                         r"\(2, 0, 3\)"):
        tf_conv1d_op.fused_conv1d(tf.zeros((2, 0, 3)), tf.zeros((2, 3, 1)), padding="causal",
                                  return_final_state=True)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_layer_runs_chunks_from_its_initial_state(data_format):
    rng = _rng("layer", data_format)
    layer = tf_conv1d_op.Conv1D(5, 3, dilation_rate=2, padding="causal", activation="elu",
                                data_format=data_format)
    shape = (2, 19, 3) if data_format == "channels_last" else (2, 3, 19)
    x = rng.standard_normal(shape).astype("float32")
    whole = layer(x)
    axis = 1 if data_format == "channels_last" else 2
    state = layer.get_initial_state(2)
    assert tuple(state.shape) == ((2, 4, 3) if data_format == "channels_last" else (2, 3, 4))
    outputs = []
    for begin, end in ((0, 1), (1, 8), (8, 19)):
        y, state = layer(np.take(x, range(begin, end), axis=axis), initial_state=state,
                         return_state=True)
        outputs.append(y)
    np.testing.assert_allclose(tf.concat(outputs, axis), whole, rtol=1e-5, atol=1e-6)


def test_layer_without_causal_padding_refuses_a_state():
    layer = tf_conv1d_op.Conv1D(2, 3, padding="same", name="not_causal")
    with pytest.raises(ValueError, match=r"Conv1D 'not_causal': initial_state and "
                                         r"return_state need padding='causal'"):
        layer(tf.zeros((1, 5, 2)), return_state=True)


# --- streaming_model ---------------------------------------------------------

needs_keras_3 = pytest.mark.skipif(not IS_KERAS_3, reason="streaming_model needs Keras 3")


def wavenet(channels=8, dilations=(1, 2, 4, 8, 16, 32, 64), in_channels=3, outputs=2):
    """Gated residual blocks of dilated causal convolutions, WaveNet's shape."""
    inputs = keras.Input((None, in_channels))
    h = tf_conv1d_op.Conv1D(channels, 1, name="embed")(inputs)
    skips = []
    for d in dilations:
        f = tf_conv1d_op.Conv1D(channels, 2, dilation_rate=d, padding="causal",
                                activation="tanh", name=f"filter_{d}")(h)
        g = tf_conv1d_op.Conv1D(channels, 2, dilation_rate=d, padding="causal",
                                activation="sigmoid", name=f"gate_{d}")(h)
        z = keras.layers.Multiply()([f, g])
        skips.append(keras.layers.Dense(channels, name=f"skip_{d}")(z))
        h = keras.layers.Add()([h, keras.layers.Dense(channels, name=f"residual_{d}")(z)])
    out = keras.layers.Activation("relu")(keras.layers.Add()(skips))
    out = keras.layers.LayerNormalization()(out)
    return keras.Model(inputs, keras.layers.Dense(outputs)(out), name="wavenet")


def causal_demo_model():
    """The demo's network (tf_conv1d_op/tools/demo.py) made causal: every convolution
    causal, and per-step class scores in place of the pooling."""
    return keras.Sequential([
        keras.Input((None, 1)),
        tf_conv1d_op.Conv1D(16, 7, padding="causal", activation="relu", name="causal"),
        tf_conv1d_op.Conv1D(32, 5, strides=2, padding="causal", activation="relu",
                            name="strided"),
        tf_conv1d_op.Conv1D(32, 3, dilation_rate=2, padding="causal", activation="gelu",
                            name="dilated"),
        keras.layers.Dense(2, activation="softmax", name="classes"),
    ], name="gunpoint_causal")


def run_in_chunks(streaming, x, lengths):
    states = tf_conv1d_op.initial_states(streaming, x.shape[0])
    outputs, begin = [], 0
    for n in lengths:
        y, *states = streaming([tf.constant(x[:, begin:begin + n])] + states)
        outputs.append(y)
        begin += n
    return np.concatenate(outputs, axis=1), states


@needs_keras_3
@pytest.mark.parametrize("build,stride", [(wavenet, 1), (causal_demo_model, 2)])
def test_streaming_model_matches_the_whole_sequence(build, stride):
    rng = _rng("model", build.__name__)
    model = build()
    x = rng.standard_normal((3, 300, model.inputs[0].shape[-1])).astype("float32")
    whole = model(x).numpy()
    streaming = tf_conv1d_op.streaming_model(model)
    # 300 is a multiple of the stride, so every chunk's length is too.
    for lengths in ([stride] * 40 + [300 - 40 * stride], _chunk_lengths(rng, 300, stride)):
        got, states = run_in_chunks(streaming, x, lengths)
        np.testing.assert_allclose(got, whole, rtol=2e-4, atol=2e-5)
    assert len(states) == len(streaming.inputs) - 1


@needs_keras_3
def test_streaming_model_saves_exports_and_reloads(tmp_path):
    rng = _rng("save")
    streaming = tf_conv1d_op.streaming_model(wavenet(dilations=(1, 2, 4)))
    x = rng.standard_normal((2, 9, 3)).astype("float32")
    chunk, states = tf.constant(x), tf_conv1d_op.initial_states(streaming, 2)
    want = [t.numpy() for t in streaming([chunk] + states)]
    streaming.save(tmp_path / "s.keras")
    reloaded = keras.models.load_model(tmp_path / "s.keras")
    for got, expected in zip(reloaded([chunk] + states), want):
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)
    streaming.export(str(tmp_path / "export"))
    exported = tf.saved_model.load(str(tmp_path / "export"))  # kept: it owns the variables
    served = exported.serve([chunk] + states)
    for got, expected in zip(served, want):
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


@needs_keras_3
def test_streaming_model_runs_in_litert_from_the_portable_export(tmp_path):
    """Stock ops only (tf_conv1d_op.export refuses otherwise), converted to
    LiteRT builtins, run chunk by chunk with the states fed back."""
    litert = pytest.importorskip("ai_edge_litert.interpreter")
    rng = _rng("litert")
    model = wavenet(dilations=(1, 2, 4))
    x = rng.standard_normal((1, 20, 3)).astype("float32")
    whole = model(x).numpy()
    streaming = tf_conv1d_op.streaming_model(model)
    tf_conv1d_op.export(streaming, str(tmp_path / "portable"), portable=True)
    converter = tf.lite.TFLiteConverter.from_saved_model(str(tmp_path / "portable"))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]  # no Flex
    runner = litert.Interpreter(model_content=converter.convert()).get_signature_runner()
    # The signature names inputs after the model's Input layers; outputs are
    # output_0 (the model's) then the new states, in the model's input order.
    chunk_name, *state_names = [t.name for t in streaming.inputs]
    states = {name: np.zeros((1,) + tuple(t.shape[1:]), "float32")
              for name, t in zip(state_names, streaming.inputs[1:])}
    outputs, begin = [], 0
    for n in (1, 3, 1, 7, 8):
        result = runner(**{chunk_name: x[:, begin:begin + n]}, **states)
        outputs.append(result["output_0"])
        states = {name: result[f"output_{i + 1}"] for i, name in enumerate(state_names)}
        begin += n
    np.testing.assert_allclose(np.concatenate(outputs, 1), whole, rtol=1e-4, atol=1e-5)


@needs_keras_3
def test_mixed_precision_states_are_float16():
    policy = keras.mixed_precision.dtype_policy()
    keras.mixed_precision.set_dtype_policy("mixed_float16")
    try:
        model = wavenet(dilations=(1, 2))
    finally:
        keras.mixed_precision.set_dtype_policy(policy)
    streaming = tf_conv1d_op.streaming_model(model)
    states = tf_conv1d_op.initial_states(streaming, 4)
    assert {s.dtype for s in states} == {tf.float16}
    assert [tuple(s.shape) for s in states] == [(4, 1, 8)] * 2 + [(4, 2, 8)] * 2
    x = _rng("mixed").standard_normal((4, 12, 3)).astype("float32")
    got, new_states = run_in_chunks(streaming, x, [5, 7])
    np.testing.assert_allclose(got, model(x), rtol=1e-2, atol=1e-2)
    assert {s.dtype for s in new_states} == {tf.float16}


@needs_keras_3
@pytest.mark.parametrize("layer,reason", [
    (lambda: keras.layers.GlobalAveragePooling1D(name="pool"),
     r"layer 'pool' cannot stream: GlobalAveragePooling1D is not known to compute each "
     r"time step alone"),
    (lambda: tf_conv1d_op.Conv1D(4, 3, padding="same", name="same_conv"),
     r"layer 'same_conv' cannot stream: padding='same' with kernel_size 3: its output "
     r"steps read later inputs"),
    (lambda: keras.layers.LayerNormalization(axis=1, name="time_norm"),
     r"layer 'time_norm' cannot stream: it works over axis \[1\], which includes time"),
    (lambda: keras.layers.MultiHeadAttention(2, 4, name="attention"),
     r"layer 'attention' cannot stream"),
    (lambda: keras.layers.Conv1D(4, 1, strides=2, name="strided_pointwise"),
     r"layer 'strided_pointwise' cannot stream: padding='valid' with kernel_size 1 and "
     r"strides 2: it keeps one step in 2"),
    (lambda: keras.layers.EinsumDense("btc,ts->bsc", (12, 4), name="time_mixer"),
     r"layer 'time_mixer' cannot stream: its equation 'btc,ts->bsc' does not map each time "
     r"step"),
])
def test_layers_that_mix_time_are_refused_by_name(layer, reason):
    inputs = keras.Input((12, 4))  # a known length: normalization over time needs it
    h = tf_conv1d_op.Conv1D(4, 2, padding="causal")(inputs)
    made = layer()
    out = made(h, h) if isinstance(made, keras.layers.MultiHeadAttention) else made(h)
    with pytest.raises(ValueError, match="streaming_model: " + reason):
        tf_conv1d_op.streaming_model(keras.Model(inputs, out))


@needs_keras_3
def test_the_demo_model_itself_is_refused():
    from tf_conv1d_op.tools import demo

    with pytest.raises(ValueError, match=r"layer 'strided' cannot stream: padding='valid'"):
        tf_conv1d_op.streaming_model(demo.build_model(tf_conv1d_op.Conv1D))


@needs_keras_3
def test_stock_causal_convolutions_are_converted():
    rng = _rng("stock")
    inputs = keras.Input((None, 2))
    model = keras.Model(inputs, keras.layers.Conv1D(3, 4, dilation_rate=3, padding="causal",
                                                    activation="relu")(inputs))
    x = rng.standard_normal((2, 30, 2)).astype("float32")
    got, _ = run_in_chunks(tf_conv1d_op.streaming_model(model), x, [4, 1, 25])
    np.testing.assert_allclose(got, model(x), rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(IS_KERAS_3, reason="the tf-keras refusal")
def test_streaming_model_under_tf_keras_says_what_to_do():
    with pytest.raises(NotImplementedError, match="needs Keras 3"):
        tf_conv1d_op.streaming_model(keras.Sequential([keras.Input((None, 1))]))
