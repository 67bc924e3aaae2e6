"""Autoregressive generation through a dilated causal stack, one step at a
time: tf_conv1d_op.streaming_model (each layer keeps its last inputs) vs the
stock keras.layers.Conv1D recomputing the whole receptive field every step.
Both in one process, same weights, batch 1; each step's output is the next
step's input. How the figures in docs/benchmarks.md ("Streaming") were taken.

  python -m python.benchmarks.streaming_generation [--steps 16000] [--layers 10]
      [--channels 64] [--latency-steps 2000]

Prints steps per second of each, their ratio, the streaming model's
per-step latency (median and 90th percentile of single timed steps) and that
of one layer alone (dilation 1 and the stack's largest), each run
both ways the op can carry a state: the streaming op, which reads the state
and the chunk in place, and the concat formulation it replaced (traced under
_causal_state.concat_formulation()), alternating so both see the same load.
"""
import argparse
import os
import statistics
import time

import numpy as np
import tensorflow as tf

import tf_conv1d_op
from tf_conv1d_op import _causal_state

keras = tf.keras


def dilated_stack(conv, layers, channels):
    """`layers` causal convolutions, kernel 2, dilations 1, 2, 4, ..."""
    return keras.Sequential(
        [keras.Input((None, channels))] +
        [conv(channels, 2, dilation_rate=2**i, padding="causal", activation="tanh")
         for i in range(layers)])


def receptive_field(layers):
    return 2**layers  # 1 + sum of the dilations


def recompute_step(model, window_steps, channels):
    """One generation step of the stock model: the last window_steps inputs
    through the whole model, the last output kept."""
    @tf.function(input_signature=[tf.TensorSpec([1, window_steps, channels])])
    def step(window):
        y = model(window)[:, -1:]
        return y, tf.concat([window[:, 1:], y], axis=1)
    return step


def streaming_step(streaming):
    specs = [tf.TensorSpec(t.shape, t.dtype) for t in streaming.inputs]
    specs = [tf.TensorSpec([1] + s.shape[1:].as_list(), s.dtype) for s in specs]

    @tf.function(input_signature=[specs])
    def step(inputs):
        y, *states = streaming(inputs)
        return y, states
    step.get_concrete_function()  # traced now, under the caller's formulation
    return step


def step_latencies(stream, streaming, first, count):
    """Seconds of each of `count` single steps (after one untimed step)."""
    x, states = stream([first] + tf_conv1d_op.initial_states(streaming, 1))
    latencies = []
    for _ in range(count):
        start = time.perf_counter()
        x, states = stream([x] + states)
        latencies.append(time.perf_counter() - start)
    return sorted(latencies)


def generate_with_recompute(step, first, steps, window_steps):
    window = tf.concat([tf.zeros([1, window_steps - 1, first.shape[-1]]), first], axis=1)
    outputs = []
    for _ in range(steps):
        y, window = step(window)
        outputs.append(y)
    return outputs


def generate_streaming(step, streaming, first, steps):
    x, states = first, tf_conv1d_op.initial_states(streaming, 1)
    outputs = []
    for _ in range(steps):
        x, states = step([x] + states)
        outputs.append(x)
    return outputs


# Latencies are timed in rounds alternating the formulations, so that a change
# of the machine's load hits both alike.
ROUNDS = 10


def steps_per_round(count):
    """At least one, so that every formulation has a median."""
    return max(1, count // ROUNDS)


def op_call_latencies(channels, dilation, count):
    """Seconds of single calls of one tf.function holding one causal
    convolution step (kernel 2, batch 1, one step, `dilation` steps of state),
    {formulation: sorted seconds}, the two formulations alternating."""
    rng = np.random.default_rng(1)
    w = tf.constant(rng.uniform(-0.2, 0.2, (2, channels, channels)).astype("float32"))
    b = tf.zeros([channels])
    x = tf.constant(rng.uniform(-1, 1, (1, 1, channels)).astype("float32"))
    state = tf.zeros([1, dilation, channels])

    def step(x, state):
        return tf_conv1d_op.fused_conv1d(x, w, b, padding="causal", dilations=dilation,
                                         activation="tanh", initial_state=state,
                                         return_final_state=True)
    steps = {"streaming op": tf.function(step)}
    with _causal_state.concat_formulation():
        steps["concat"] = tf.function(step)
        steps["concat"].get_concrete_function(x, state)
    latencies = {name: [] for name in steps}
    for _ in range(ROUNDS):
        for name, fn in steps.items():
            y, s = fn(x, state)
            for _ in range(steps_per_round(count)):
                start = time.perf_counter()
                y, s = fn(y, s)
                latencies[name].append(time.perf_counter() - start)
    return {name: sorted(values) for name, values in latencies.items()}


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=16000)
    parser.add_argument("--layers", type=int, default=10)
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--latency-steps", type=int, default=2000)
    args = parser.parse_args(argv)

    ours = dilated_stack(tf_conv1d_op.Conv1D, args.layers, args.channels)
    stock = dilated_stack(keras.layers.Conv1D, args.layers, args.channels)
    stock.set_weights(ours.get_weights())
    window = receptive_field(args.layers)
    recompute = recompute_step(stock, window, args.channels)
    streaming = tf_conv1d_op.streaming_model(ours)
    stream = streaming_step(streaming)
    with _causal_state.concat_formulation():
        stream_concat = streaming_step(streaming)
    first = tf.constant(np.random.default_rng(0).uniform(
        -1, 1, (1, 1, args.channels)).astype("float32"))

    # Same function: the first steps agree (tanh keeps the feedback bounded).
    check = 64
    a = generate_with_recompute(recompute, first, check, window)
    b = generate_streaming(stream, streaming, first, check)
    c = generate_streaming(stream_concat, streaming, first, check)
    difference = float(np.abs(np.concatenate(a, 1) - np.concatenate(b, 1)).max())
    formulations = float(np.abs(np.concatenate(b, 1) - np.concatenate(c, 1)).max())

    _, stock_s = timed(lambda: generate_with_recompute(recompute, first, args.steps, window))
    _, ours_s = timed(lambda: generate_streaming(stream, streaming, first, args.steps))
    _, concat_s = timed(lambda: generate_streaming(stream_concat, streaming, first,
                                                   args.steps))

    latencies = {"streaming op": [], "concat": []}
    for _ in range(ROUNDS):
        per_round = steps_per_round(args.latency_steps)
        latencies["streaming op"] += step_latencies(stream, streaming, first, per_round)
        latencies["concat"] += step_latencies(stream_concat, streaming, first, per_round)

    single = {dilation: op_call_latencies(args.channels, dilation, args.latency_steps)
              for dilation in (1, 2 ** (args.layers - 1))}

    def percentiles(values):
        values = sorted(values)
        return statistics.median(values) * 1e3, values[int(0.9 * len(values))] * 1e3

    print(f"dilated causal stack: {args.layers} layers, kernel 2, {args.channels} channels, "
          f"receptive field {window} steps; batch 1; {args.steps} steps generated; "
          f"TensorFlow {tf.__version__}, {os.cpu_count()} CPUs")
    print(f"  largest difference over the first {check} steps: {difference:.1e} "
          f"(streaming op vs concat: {formulations:.1e})")
    print(f"  stock Conv1D, recomputing {window} steps each step: "
          f"{args.steps / stock_s:9.1f} steps/s")
    print(f"  tf_conv1d_op.streaming_model, streaming op:     "
          f"{args.steps / ours_s:9.1f} steps/s")
    print(f"  tf_conv1d_op.streaming_model, concat:           "
          f"{args.steps / concat_s:9.1f} steps/s")
    print(f"  ratio (streaming op / recompute): {stock_s / ours_s:.1f}x; "
          f"(streaming op / concat): {concat_s / ours_s:.2f}x")
    for name, values in latencies.items():
        median, p90 = percentiles(values)
        print(f"  per-step latency at batch 1, {name}: median {median:.3f} ms, "
              f"90th percentile {p90:.3f} ms")
    for dilation, by_name in single.items():
        for name, values in by_name.items():
            median, p90 = percentiles(values)
            print(f"  one layer alone in a tf.function, state of {dilation} steps, {name}: "
                  f"median {median * 1e3:.0f} us, 90th percentile {p90 * 1e3:.0f} us")

if __name__ == "__main__":
    main()
