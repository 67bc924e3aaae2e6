"""Hostile input never crashes the op: each case of tests/op/cases_hostile.py
(sizes and attributes past 2^31, 2^32 and up to 2^63, empty tensors in every
position with huge other dimensions, degenerate leaky_relu slopes) runs in a
child process and either raises a clear error or matches the reference."""
import pytest

from tests.op import cases_hostile
from tests.support.subprocess_cases import check, run_cases

CASES = cases_hostile.CASES


@pytest.fixture(scope="module")
def results():
    return run_cases("tests.op.cases_hostile", [case.name for case in CASES])


@pytest.mark.main_run_only
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_hostile_input_is_handled_or_refused(case, results):
    check(case, results[case.name])
