"""Grouped and depthwise convolution (`groups`) in the layer and the composite
implementation.

References: the float64 reference applied group by group (a per-group split,
which shares nothing with either implementation) for the composite, and the
stock keras.layers.Conv1D with the same `groups` in float64 for the layer
(Keras runs stock grouped convolutions on the CPU under XLA). Then what the
dense layer does too: config, stock weights, saving and exports,
replace_conv1d / to_stock, streaming; and hostile `groups` values.

Runs under Keras 3 and tf-keras (scripts/test.sh runs tests/layer/test_layer*.py
both ways). Grid: a sample in CI, every case with TF_CONV1D_FULL_GRID=1.
"""
import itertools
import os
import zlib

import numpy as np
import pytest
import tensorflow as tf

import tf_conv1d_op
from python.gpu_check.grids import OP_TOLERANCES
from tf_conv1d_op import _implementation, composite, ops, portable
from tests.support import reference
from tests.support.layer_support import IS_KERAS_3, keras, outputs_and_grads, rng_for

FULL_GRID = os.environ.get("TF_CONV1D_FULL_GRID") == "1"
IMPLEMENTATIONS = (_implementation.PLUGIN, _implementation.COMPOSITE)

# Kinds of grouping: (groups, input channels per group, filters per group);
# groups None stands for depthwise, groups = input channels drawn per case.
GROUPINGS = {"groups2": (2, None, None), "groups4": (4, None, None),
             "depthwise": (None, 1, 1), "depthwise_x2": (None, 1, 2),
             "depthwise_x3": (None, 1, 3)}
STRIDE_DILATIONS = [(1, 1), (2, 1), (1, 2), (3, 2)]
ACTIVATIONS = ["linear", "relu", "silu", "gelu", "leaky_relu", "tanh", "elu"]
GRID = list(itertools.product(GROUPINGS, ("VALID", "SAME", "CAUSAL"), ("NWC", "NCW"),
                              STRIDE_DILATIONS, (True, False)))
# Every 7th case: 7 is prime to the factors (5 groupings, 3 paddings, 2
# layouts, 4 geometries, 2 bias choices), so the sample holds every value of
# each; activations and dtypes are drawn per case.
CASES = GRID if FULL_GRID else GRID[::7]
DTYPES = list(OP_TOLERANCES)


def draw_case(grouping, padding, data_format, stride, dilation, use_bias):
    """Random sizes and data for one case: (x, w, b, dy, groups, activation, dtype)."""
    seed = zlib.crc32(repr((grouping, padding, data_format, stride, dilation,
                            use_bias)).encode())
    rng = np.random.default_rng(seed)
    groups, per_group_in, per_group_out = GROUPINGS[grouping]
    groups = groups or int(rng.integers(2, 7))
    per_group_in = per_group_in or int(rng.integers(1, 4))
    per_group_out = per_group_out or int(rng.integers(1, 4))
    channels, filters = groups * per_group_in, groups * per_group_out
    kernel_size = int(rng.integers(1, 6))
    extent = (kernel_size - 1) * dilation + 1
    steps = extent + int(rng.integers(0, 14)) if padding == "VALID" else int(
        rng.integers(1, 24))
    batch = int(rng.integers(1, 4))
    dtype = DTYPES[seed % len(DTYPES)]
    activation = ACTIVATIONS[seed % len(ACTIVATIONS)]
    as_dtype = tf.as_dtype(dtype).as_numpy_dtype

    def draw(*shape, scale=1.0):
        # Rounded through the test dtype, so the reference sees what runs.
        return (rng.standard_normal(shape) * scale).astype(as_dtype).astype(np.float64)

    x = draw(*((batch, steps, channels) if data_format == "NWC" else
               (batch, channels, steps)))
    w = draw(kernel_size, per_group_in, filters, scale=1 / np.sqrt(kernel_size * per_group_in))
    b = draw(filters) if use_bias else None
    out_steps = reference.output_length_and_left_pad(steps, kernel_size, stride, dilation,
                                                     padding)[0]
    dy = rng.standard_normal((batch, out_steps, filters) if data_format == "NWC" else
                             (batch, filters, out_steps))
    return x, w, b, dy, groups, activation, dtype


def split_reference(x, w, b, dy, groups, data_format, **geometry):
    """reference.conv1d_and_grads group by group, the pieces side by side:
    group g is input channels g*C/G.., filters g*F/G.. (Keras' order)."""
    channel_axis = 2 if data_format == "NWC" else 1
    xs = np.split(x, groups, axis=channel_axis)
    ws, dys = np.split(w, groups, axis=2), np.split(dy, groups, axis=channel_axis)
    bs = [None] * groups if b is None else np.split(b, groups)
    pieces = [reference.conv1d_and_grads(xg, wg, bg, dyg, data_format=data_format, **geometry)
              for xg, wg, bg, dyg in zip(xs, ws, bs, dys)]
    values = [np.concatenate([p[0][i] for p in pieces], axis=axis) if pieces[0][0][i]
              is not None else None for i, axis in enumerate((channel_axis, channel_axis, 2, 0))]
    magnitudes = [np.concatenate([p[1][i] for p in pieces], axis=axis)
                  for i, axis in enumerate((channel_axis, 2, 0))]
    return values, magnitudes


def composite_outputs_and_grads(x, w, b, dy, dtype, **attrs):
    tensors = [tf.constant(v, dtype) for v in (x, w) + (() if b is None else (b,))]
    with _implementation.using(_implementation.COMPOSITE), tf.GradientTape() as tape:
        tape.watch(tensors)
        y = ops.fused_conv1d(tensors[0], tensors[1], None if b is None else tensors[2], **attrs)
        loss = tf.reduce_sum(tf.cast(y, tf.float64) * dy)
    grads = [g.numpy().astype(np.float64) for g in tape.gradient(loss, tensors)]
    return [y.numpy().astype(np.float64)] + grads + ([None] if b is None else [])


@pytest.mark.parametrize("case", CASES, ids=["-".join(map(str, c)) for c in CASES])
def test_composite_matches_the_per_group_reference(case):
    grouping, padding, data_format, (stride, dilation), use_bias = case
    x, w, b, dy, groups, activation, dtype = draw_case(*case[:3], stride, dilation, use_bias)
    geometry = dict(stride=stride, dilation=dilation, padding=padding, activation=activation)
    expected, magnitudes = split_reference(x, w, b, dy, groups, data_format, **geometry)
    got = composite_outputs_and_grads(x, w, b, dy, dtype, stride=stride, dilations=dilation,
                                      padding=padding, data_format=data_format,
                                      activation=activation, groups=groups)
    reference.assert_matches(got, expected, magnitudes, OP_TOLERANCES[dtype],
                             f"(groups {groups}, {activation}, {dtype}, x {x.shape}, "
                             f"w {w.shape})")


def test_the_sample_covers_every_value_of_every_factor():
    for position in range(5):
        assert {case[position] for case in CASES} == {case[position] for case in GRID}


@pytest.mark.parametrize("padding", ["SAME", "CAUSAL"])
@pytest.mark.parametrize("groups,filters", [(2, 4), (4, 8)])  # grouped; depthwise x2
def test_composite_with_unknown_shapes(padding, groups, filters):
    """Traced for any batch and length, as in an export with a None length:
    the padding is then computed in the graph."""
    rng = rng_for("unknown", padding, groups)
    w = tf.constant(rng.standard_normal((3, 4 // groups, filters)))
    b = tf.constant(rng.standard_normal(filters))
    attrs = dict(stride=2, dilations=2, padding=padding, activation="silu", groups=groups)
    with _implementation.using(_implementation.COMPOSITE):
        traced = tf.function(lambda x: ops.fused_conv1d(x, w, b, **attrs)).get_concrete_function(
            tf.TensorSpec([None, None, 4], tf.float64))
    for shape in [(2, 17, 4), (1, 18, 4), (0, 9, 4)]:
        x = rng.standard_normal(shape)
        want = split_reference(x, w.numpy(), b.numpy(), np.zeros((shape[0], -(-shape[1] // 2),
                                                                    filters)),
                               groups, "NWC", stride=2, dilation=2, padding=padding,
                               activation="silu")[0][0]
        np.testing.assert_allclose(traced(tf.constant(x)).numpy(), want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("groups", [3, 6])
def test_composite_with_empty_inputs(groups):
    """No batch, or no steps: empty outputs of the op's shape, and gradients
    (zeros) for the input and filter."""
    w = tf.ones([2, 6 // groups, 6])
    for shape, padding in [((0, 5, 6), "VALID"), ((2, 0, 6), "SAME"), ((2, 0, 6), "CAUSAL")]:
        x = tf.zeros(shape)
        with tf.GradientTape() as tape:
            tape.watch([x, w])
            y = composite.fused_conv1d(x, w, None, stride=1, dilation=1, padding=padding,
                                       data_format="NWC", activation="relu",
                                       negative_slope=0.2, groups=groups)
        assert y.shape == (shape[0], 0 if shape[1] == 0 else 4, 6)
        dx, dw = tape.gradient(y, [x, w])
        assert dx.shape == x.shape and dw.shape == w.shape
        assert not np.any(dw.numpy())


def test_composite_depthwise_is_one_depthwise_convolution():
    """Depthwise convolutions become tf.nn.depthwise_conv2d (one op, which
    LiteRT and ONNX know), other groupings one convolution per group."""
    def op_types(groups, filters):
        with _implementation.using(_implementation.COMPOSITE):
            graph = tf.function(lambda x: ops.fused_conv1d(
                x, tf.ones([3, 4 // groups, filters]), groups=groups)).get_concrete_function(
                    tf.TensorSpec([1, 9, 4])).graph
        return [op.type for op in graph.get_operations()]

    depthwise = op_types(4, 8)
    assert depthwise.count("DepthwiseConv2dNative") == 1 and "Conv2D" not in depthwise
    assert op_types(2, 6).count("Conv2D") == 2


# The layer.

def _stock_and_ours(groups, filters, input_shape, dtype="float64", **kwargs):
    stock = keras.layers.Conv1D(filters, groups=groups, dtype=dtype, **kwargs)
    ours = tf_conv1d_op.Conv1D(filters, groups=groups, dtype=dtype, **kwargs)
    stock.build(input_shape)
    ours.build(input_shape)
    ours.set_weights(stock.get_weights())
    return stock, ours


def stock_output_steps(steps, kernel_size, padding, stride, dilation):
    return reference.output_length_and_left_pad(steps, kernel_size, stride, dilation,
                                                padding.upper())[0]


LAYER_CASES = [
    # groups, filters, channels, kernel_size, padding, strides, dilation, data_format, activation
    (2, 4, 6, 3, "causal", 1, 2, "channels_last", "silu"),
    (3, 6, 3, 4, "same", 2, 1, "channels_last", "gelu"),  # depthwise x2
    (5, 5, 5, 31, "same", 1, 1, "channels_last", "linear"),  # Conformer's, small
    (4, 8, 8, 3, "valid", 1, 3, "channels_first", "relu"),
    (4, 4, 4, 4, "causal", 1, 1, "channels_first", "tanh"),  # depthwise
    # Channel counts past one vector of every width (Mamba's block, small).
    (96, 96, 96, 4, "causal", 1, 1, "channels_last", "silu"),
    (72, 144, 72, 3, "same", 1, 2, "channels_last", "relu"),  # depthwise x2
]


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("case", LAYER_CASES, ids=[f"g{c[0]}-{c[4]}-{c[7]}" for c in LAYER_CASES])
def test_layer_matches_the_stock_grouped_layer(case, implementation):
    """Outputs and gradients (input, kernel, bias) in float64, the stock layer
    with the same weights as the reference."""
    groups, filters, channels, kernel_size, padding, strides, dilation, data_format, act = case
    rng = rng_for("stock", case)
    steps = int(rng.integers(kernel_size * dilation, 40))
    if stock_output_steps(steps, kernel_size, padding, strides, dilation) == filters:
        # Keras 3.15's stock layer, channels_first and grouped, adds the bias
        # along the steps when there are as many output steps as filters.
        steps += 1
    shape = (2, steps, channels) if data_format == "channels_last" else (2, channels, steps)
    stock, ours = _stock_and_ours(groups, filters, shape, kernel_size=kernel_size,
                                  padding=padding, strides=strides, dilation_rate=dilation,
                                  data_format=data_format, activation=act,
                                  bias_initializer="glorot_uniform")
    assert ours.kernel.shape == (kernel_size, channels // groups, filters)
    x = rng.standard_normal(shape)
    cotangent = rng.standard_normal(stock.compute_output_shape(shape))
    want = outputs_and_grads(stock, x, cotangent)
    with _implementation.using(implementation):
        got = outputs_and_grads(ours, x, cotangent)
    for name, g, w in zip(("output", "grad_input", "grad_kernel", "grad_bias"), got, want):
        error = reference.max_relative_error(g, w)
        # Keras' gelu rounds its constants to float32 precision (errors near
        # 1e-8, tests/support/reference.py); a wrong group gives errors near 1.
        assert error < 1e-7, f"{name}: relative error {error:.2e}"


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_layer_trains_like_the_stock_layer(implementation):
    """A few optimizer steps: the same weights after as the stock layer's."""
    shape = (4, 20, 6)
    stock, ours = _stock_and_ours(3, 6, shape, dtype="float32", kernel_size=3,
                                  padding="causal", activation="relu")
    rng = rng_for("fit")
    x, y = rng.standard_normal(shape), rng.standard_normal((4, 20, 6))
    for layer in (stock, ours):
        model = keras.Sequential([keras.Input(shape[1:]), layer])
        model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
        with _implementation.using(implementation):
            model.fit(x, y, batch_size=2, epochs=2, shuffle=False, verbose=0)
    for s, o in zip(stock.get_weights(), ours.get_weights()):
        np.testing.assert_allclose(o, s, rtol=1e-4, atol=1e-5)


# Hostile values. Keras 3 refuses groups <= 0 with a ValueError (None and
# strings with a TypeError from a comparison); ours refuses every one of them
# with a ValueError that names `groups` and what it received. (tf-keras reads
# None and 0 as 1: test_tf_keras_reads_a_falsy_groups_as_one.)
HOSTILE = [-2, 2.5, "2", True, 2**70, float("nan")] + ([0, None] if IS_KERAS_3 else [])


@pytest.mark.parametrize("groups", HOSTILE, ids=repr)
def test_hostile_groups_are_refused_by_name(groups):
    with pytest.raises(ValueError, match="groups") as error:
        tf_conv1d_op.Conv1D(4, 3, groups=groups)
    assert f"groups={groups!r}" in str(error.value) and "Conv1D" in str(error.value)
    if IS_KERAS_3 and isinstance(groups, int) and not isinstance(groups, bool) and groups <= 0:
        with pytest.raises(ValueError, match="groups"):
            keras.layers.Conv1D(4, 3, groups=groups)


def test_groups_not_dividing_the_filters_or_the_channels_like_stock():
    for conv in (keras.layers.Conv1D, tf_conv1d_op.Conv1D):
        with pytest.raises(ValueError, match="filters must be evenly divisible.*groups=3"):
            conv(4, 3, groups=3)
        with pytest.raises(ValueError, match="input channels must be evenly divisible"):
            conv(4, 3, groups=2).build((1, 10, 5))
    with pytest.raises(ValueError, match="groups=4"):  # from a config, still a ValueError
        tf_conv1d_op.Conv1D.from_config(dict(tf_conv1d_op.Conv1D(4, 3).get_config(), groups=4,
                                             filters=6))


def test_a_kernel_whose_group_width_disagrees_is_refused():
    """Weights of another grouping (a stock dense kernel into a grouped layer)."""
    ours = tf_conv1d_op.Conv1D(4, 3, groups=2)
    ours.build((1, 10, 4))
    with pytest.raises(ValueError):
        ours.set_weights([np.zeros((3, 4, 4), np.float32), np.zeros(4, np.float32)])
    with pytest.raises(ValueError, match="groups"):
        ops.fused_conv1d(tf.zeros([1, 10, 4]), tf.zeros([3, 4, 4]), groups=2)


@pytest.mark.skipif(IS_KERAS_3, reason="tf-keras' rule")
@pytest.mark.parametrize("groups", [0, None])
def test_tf_keras_reads_a_falsy_groups_as_one(groups):
    stock, ours = (conv(4, 3, groups=groups) for conv in (keras.layers.Conv1D,
                                                          tf_conv1d_op.Conv1D))
    assert ours.groups == stock.groups == 1
    assert ours.get_config()["groups"] == stock.get_config()["groups"] == 1


def test_config_carries_groups_and_loads_stock_grouped_configs():
    stock = keras.layers.Conv1D(6, 3, groups=3, padding="causal", name="grouped")
    ours = tf_conv1d_op.Conv1D.from_config(stock.get_config())
    assert ours.groups == 3 and ours.get_config() == stock.get_config()
    assert list(ours.get_config()) == list(stock.get_config())
    assert tf_conv1d_op.Conv1D(4, 3).get_config()["groups"] == 1  # always present
    stock.build((1, 10, 6))
    ours.build((1, 10, 6))
    assert [w.shape for w in ours.weights] == [w.shape for w in stock.weights]
    ours.set_weights(stock.get_weights())
    x = rng_for("config").standard_normal((2, 10, 6)).astype(np.float32)
    np.testing.assert_allclose(ours(x), stock(x), rtol=1e-5, atol=1e-5)


def grouped_model(conv, steps=24):
    """A grouped causal layer (dilated), a depthwise causal one with a channel
    multiplier, a grouped 'same' one."""
    return keras.Sequential([
        keras.Input((steps, 6)),
        conv(6, 3, groups=2, padding="causal", dilation_rate=2, activation="relu",
             name="grouped"),
        conv(12, 4, groups=6, padding="causal", activation="silu", name="depthwise"),
        conv(4, 5, groups=4, padding="same", name="grouped_same"),
    ], name="grouped_model")


def randomized(model, key):
    rng = rng_for(key)
    model.set_weights([rng.standard_normal(w.shape) * 0.4 for w in model.get_weights()])
    return model


def test_replace_conv1d_and_to_stock_convert_grouped_layers():
    old = randomized(grouped_model(keras.layers.Conv1D), "replace")
    new, skipped = tf_conv1d_op.replace_conv1d(old, return_report=True)
    assert skipped == []
    assert [type(l) for l in new.layers] == [tf_conv1d_op.Conv1D] * 3
    assert [l.groups for l in new.layers] == [2, 6, 4]
    x = rng_for("replace x").standard_normal((3, 24, 6)).astype(np.float32)
    np.testing.assert_allclose(new(x), old(x), rtol=1e-5, atol=1e-5)
    back = tf_conv1d_op.to_stock(new)
    assert [type(l) for l in back.layers] == [keras.layers.Conv1D] * 3
    assert [l.groups for l in back.layers] == [2, 6, 4]
    np.testing.assert_allclose(back(x), old(x), rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(not IS_KERAS_3, reason="streaming_model needs Keras 3")
def test_streaming_a_grouped_causal_model():
    model = randomized(grouped_model(tf_conv1d_op.Conv1D), "stream")
    causal = keras.Sequential([keras.Input((24, 6))] + model.layers[:2])  # 'same' cannot stream
    streaming = tf_conv1d_op.streaming_model(causal)
    x = rng_for("stream x").standard_normal((2, 24, 6)).astype(np.float32)
    states = tf_conv1d_op.initial_states(streaming, 2)
    assert [tuple(s.shape) for s in states] == [(2, 4, 6), (2, 3, 6)]
    chunks = []
    for start, stop in [(0, 5), (5, 6), (6, 24)]:
        y, *states = streaming([tf.constant(x[:, start:stop])] + states)
        chunks.append(y)
    np.testing.assert_allclose(np.concatenate(chunks, axis=1), causal(x), rtol=1e-5, atol=1e-5)


def test_save_load_and_exports_of_a_grouped_model(tmp_path):
    """.keras reloads; the plugin export and the portable one (stock ops
    only) serve the same outputs after reloading."""
    model = randomized(grouped_model(tf_conv1d_op.Conv1D, steps=None), "save")
    x = rng_for("save x").standard_normal((2, 19, 6)).astype(np.float32)
    want = model(x).numpy()
    path = str(tmp_path / ("m.keras" if IS_KERAS_3 else "m.h5"))
    model.save(path)
    loaded = keras.models.load_model(path)
    assert [l.groups for l in loaded.layers] == [2, 6, 4]
    np.testing.assert_allclose(loaded(x), want, rtol=1e-6, atol=1e-6)
    for portable_export in (False, True):
        export = tf_conv1d_op.export(model, str(tmp_path / f"export_{portable_export}"),
                                     portable=portable_export)
        served = tf.saved_model.load(export).signatures["serving_default"](tf.constant(x))
        (served,) = served.values()
        np.testing.assert_allclose(served.numpy(), want, rtol=1e-5, atol=1e-5)
        assert (portable.plugin_ops_in(export) == []) == portable_export
