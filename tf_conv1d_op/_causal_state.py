"""A causal convolution that starts from a state and returns the next one.

A causal output step t reads input steps up to t * stride, reaching
(kernel_size - 1) * dilation steps back. Running a sequence chunk by chunk
therefore needs only those last input steps of the previous chunks: the
state. The convolution of a chunk is the VALID convolution of
concat(state, chunk), which is exactly what CAUSAL padding computes for the
whole sequence when the state holds the steps before the chunk (zeros
before the first one). Gradients flow into the state through the concat, so
truncated backpropagation through time works.

Where the final state is asked for and the compiled library runs, the
FusedConv1DStream op computes the same without building the concat: it reads
the state and the chunk in place, and its output and new state are the only
memory a step takes (docs/layer.md, "Streaming"). Its gradient is the concat
formulation's. The composite implementation, and so portable exports, keep
the concat of stock ops.

Chunk boundaries must fall on multiples of the stride (a chunk whose final
state is asked for must have a length divisible by it): the state carries
input steps, not the phase of the stride.
"""
import contextlib
import threading

import tensorflow as tf

_thread = threading.local()


@contextlib.contextmanager
def concat_formulation():
    """Traces the concat formulation even where the streaming op could run,
    in this thread: how the benchmark and the tests compare the two."""
    previous = getattr(_thread, "concat", False)
    _thread.concat = True
    try:
        yield
    finally:
        _thread.concat = previous


def state_steps(kernel_size, dilation):
    """How many past input steps the state holds."""
    return (kernel_size - 1) * dilation


def _steps_axis(data_format):
    return 1 if data_format == "NWC" else 2


def zero_state(x, kernel_size, in_channels, dilation, data_format):
    """The state before the first chunk: zeros, as CAUSAL padding uses."""
    batch = tf.shape(x)[0]
    steps = state_steps(kernel_size, dilation)
    shape = ([batch, steps, in_channels] if data_format == "NWC"
             else [batch, in_channels, steps])
    return tf.zeros(tf.stack(shape), dtype=x.dtype)


def check_state(state, x, kernel_size, in_channels, dilation, data_format):
    """Refuses a state whose known shape or dtype disagrees with the input."""
    if state.dtype != x.dtype:
        raise TypeError(f"fused_conv1d: initial_state dtype {state.dtype.name} does not "
                        f"match input dtype {x.dtype.name}")
    if state.shape.rank is not None and state.shape.rank != 3:
        raise ValueError(f"fused_conv1d: initial_state must be rank 3 ({data_format}), got "
                         f"shape {state.shape}")
    if state.shape.rank != 3:
        return
    axis = _steps_axis(data_format)
    channel_axis = 3 - axis
    want = {0: x.shape[0] if x.shape.rank == 3 else None, channel_axis: in_channels}
    if isinstance(kernel_size, int) and isinstance(dilation, int):
        want[axis] = state_steps(kernel_size, dilation)
    for dim, expected in want.items():
        got = state.shape[dim]
        if None not in (expected, got) and expected != got:
            raise ValueError(
                f"fused_conv1d: initial_state must have shape [batch, (kernel_size - 1) * "
                f"dilation, in_channels] in the input's layout ({data_format}); expected "
                f"{expected} in dimension {dim}, got shape {state.shape} (input shape "
                f"{x.shape}, kernel_size {kernel_size}, dilation {dilation})")


def run(convolve_valid, x, state, kernel_size, dilation, data_format, stream=None):
    """(output, final state) of a causal convolution of `x` after `state`.

    convolve_valid: the op with VALID padding and every other attribute bound.
    stream: None, or the streaming op with every attribute bound,
      (state, x) -> (output, final state), run instead of the concat.
    """
    if stream is not None and not getattr(_thread, "concat", False):
        return stream(state, x)
    axis = _steps_axis(data_format)
    padded = tf.concat([state, x], axis=axis)
    output = convolve_valid(padded)
    # The last state_steps() steps: a slice from the end, since [-0:] would
    # keep everything when the kernel has one tap. With static lengths (a
    # traced step of fixed size) the bounds are constants, not shape ops.
    steps = state_steps(kernel_size, dilation)
    length = padded.shape[axis]
    start = (length - steps if length is not None and isinstance(steps, int)
             else tf.shape(padded)[axis] - steps)
    window = slice(start, None) if isinstance(start, int) else slice(start, start + steps)
    final_state = padded[:, window] if axis == 1 else padded[:, :, window]
    return output, final_state
