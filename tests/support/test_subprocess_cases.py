"""The child-process case runner reports crashes per case and judges results."""
import pytest

from tests.support import cases_selftest
from tests.support.subprocess_cases import check, run_cases

CASES = {case.name: case for case in cases_selftest.CASES}


@pytest.fixture(scope="module")
def results():
    return run_cases("tests.support.cases_selftest", list(CASES), timeout=120)


def test_a_crash_fails_only_its_case(results):
    assert "SIGABRT" in results["aborts"]["crashed"] or "-6" in results["aborts"]["crashed"]
    assert results["runs-after-the-abort"] == {"raised": None}
    with pytest.raises(AssertionError, match="crashed the process"):
        check(CASES["aborts"], results["aborts"])


@pytest.mark.parametrize("name", ["returns", "raises-as-expected", "runs-after-the-abort"])
def test_expected_outcomes_pass(results, name):
    check(CASES[name], results[name])


@pytest.mark.parametrize("name", ["raises-another-type", "raises-another-message",
                                  "raises-unexpectedly", "raises-nothing"])
def test_unexpected_outcomes_fail(results, name):
    with pytest.raises(AssertionError):
        check(CASES[name], results[name])
