"""Cases for testing tests/support/subprocess_cases.py itself (no TensorFlow)."""
import os

from tests.support.subprocess_cases import Case


def _raise_value_error():
    raise ValueError("fused_conv1d: stride must be >= 1")


CASES = [
    Case("returns", lambda: None),
    Case("raises-as-expected", _raise_value_error, ("ValueError",), "stride"),
    Case("aborts", os.abort),
    Case("runs-after-the-abort", lambda: None),
    Case("raises-another-type", _raise_value_error, ("TypeError",), "stride"),
    Case("raises-another-message", _raise_value_error, ("ValueError",), "dilation"),
    Case("raises-unexpectedly", _raise_value_error),
    Case("raises-nothing", lambda: None, ("ValueError",)),
]
