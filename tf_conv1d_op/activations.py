"""The activations the op fuses, and how names map onto them."""
import numpy as np

# Names the op's `activation` attribute accepts (Keras 3 definitions).
FUSED_ACTIVATIONS = (
    "linear", "relu", "relu6", "leaky_relu", "elu", "selu", "gelu", "gelu_tanh",
    "silu", "sigmoid", "hard_sigmoid", "tanh", "softplus",
)

# Other spellings users write for the same functions.
ALIASES = {None: "linear", "swish": "silu", "gelu_approximate": "gelu_tanh"}

DEFAULT_NEGATIVE_SLOPE = 0.2  # keras.activations.leaky_relu's default

_FLT_MIN = 2.0**-126  # the smallest normal float32


def canonical_activation(activation):
    """The op attribute for `activation` (a name or None), or a clear error."""
    if activation is not None and not isinstance(activation, str):
        raise TypeError(
            "fused_conv1d: activation must be None or one of the names "
            f"{sorted(FUSED_ACTIVATIONS + ('swish',))}, got {activation!r} "
            "(the Conv1D layer also accepts callables)")
    name = ALIASES.get(activation, activation)
    if name not in FUSED_ACTIVATIONS:
        raise ValueError(
            f"fused_conv1d: unknown activation {activation!r}; expected one of "
            f"{sorted(FUSED_ACTIVATIONS + ('swish',))} or None")
    return name


def needs_preactivation(activation, negative_slope):
    """Whether the gradient needs the pre-activation rather than the output.

    Mirrors conv1d::NeedsPreactivation in cc/kernels/core/activations.h, on
    the slope the kernels see: float32, with subnormal slopes read as zero
    (conv1d::CanonicalNegativeSlope).
    """
    if activation in ("gelu", "gelu_tanh", "silu"):
        return True
    return activation == "leaky_relu" and negative_slope <= -_FLT_MIN


def canonical_negative_slope(negative_slope):
    """The slope the kernels apply: the float32 attribute, subnormals read as
    zero (conv1d::CanonicalNegativeSlope)."""
    slope = float(np.float32(negative_slope))
    return 0.0 if abs(slope) < _FLT_MIN else slope
