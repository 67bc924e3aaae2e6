"""The activations the op fuses, and how names map onto them.

The kernels' table is cc/kernels/core/activation_table.h. Python keeps the
same rows here rather than reading them from the compiled library, because
the composite implementation (TF_CONV1D_OP_IMPLEMENTATION=composite) runs
where no library was built; tests/op/test_activation_table.py checks that
the library reports exactly these rows.
"""
import numpy as np

# (name the op's `activation` attribute accepts, what its gradient reads:
# "output", "preactivation", or "preactivation_if_negative_slope"), in the
# table's order. Keras 3 definitions.
TABLE = (
    ("linear", "output"),
    ("relu", "output"),
    ("relu6", "output"),
    ("leaky_relu", "preactivation_if_negative_slope"),
    ("elu", "output"),
    ("selu", "output"),
    ("gelu", "preactivation"),
    ("gelu_tanh", "preactivation"),
    ("silu", "preactivation"),
    ("sigmoid", "output"),
    ("hard_sigmoid", "output"),
    ("tanh", "output"),
    ("softplus", "output"),
)

FUSED_ACTIVATIONS = tuple(name for name, _ in TABLE)
_OPERAND = dict(TABLE)

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


def kernel_slope(negative_slope):
    """The slope as the kernels apply it: float32, subnormals read as zero
    (conv1d::CanonicalNegativeSlope)."""
    slope = float(np.float32(negative_slope))
    return 0.0 if abs(slope) < _FLT_MIN else slope


def needs_preactivation(activation, negative_slope):
    """Whether the gradient needs the pre-activation rather than the output
    (conv1d::NeedsPreactivation), on the slope the kernels see."""
    operand = _OPERAND[activation]
    if operand == "preactivation_if_negative_slope":
        return kernel_slope(negative_slope) < 0.0
    return operand == "preactivation"
