"""The attributes the three ops share, read from an op (or a pfor input)."""

ATTR_NAMES = ("stride", "dilation", "padding", "data_format", "activation",
              "negative_slope", "groups")


def _text(value):
    return value.decode() if isinstance(value, bytes) else value


def attrs_of(op):
    """{attribute: value}, as keyword arguments of the generated op wrappers."""
    return {name: _text(op.get_attr(name)) for name in ATTR_NAMES}


def activation_of(attrs):
    return attrs["activation"]


def linear(attrs):
    """The same attributes with no activation."""
    return dict(attrs, activation="linear")
