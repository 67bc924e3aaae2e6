"""Bad input gives a clear exception, never a crash.

Each case of tests/op/cases_bad_input.py (wrong ranks, channel and bias
mismatches, kernels longer than the input, bad stride, dilation, padding,
data_format and activation, integer and mixed dtypes, bad backprop sizes and
gradient shapes; through the wrapper and the raw ops, eagerly and in graphs
with unknown shapes) runs in a child process, so a crash fails that case only.
"""
import pytest

from tests.op import cases_bad_input
from tests.support.subprocess_cases import check, run_cases

CASES = cases_bad_input.CASES


@pytest.fixture(scope="module")
def results():
    return run_cases("tests.op.cases_bad_input", [case.name for case in CASES])


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_input_raises_clear_error(case, results):
    check(case, results[case.name])


def test_case_names_are_unique():
    assert len({case.name for case in CASES}) == len(CASES)
