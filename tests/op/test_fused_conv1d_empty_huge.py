"""Empty tensors with huge declared dimensions never crash, hang or give a
wrong answer (tests/op/campaign_empty_huge.py: every op path, layout, padding
and mode, in child processes under an address-space limit; a sample here,
TF_CONV1D_CAMPAIGN=full for the whole campaign), and a served SavedModel
keeps answering ordinary requests between hostile ones."""
import json
import os
import subprocess
import sys

import pytest

from tests.op import campaign_empty_huge as campaign
from tests.support import reference
from tests.support.subprocess_cases import ROOT, check, run_cases

CASES = campaign.CASES


@pytest.fixture(scope="module")
def results():
    env = {"TF_CONV1D_CAMPAIGN_CHILD": "1"}
    return run_cases("tests.op.campaign_empty_huge", [case.name for case in CASES], env=env)


@pytest.mark.main_run_only
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_empty_tensor_with_huge_dimensions(case, results):
    check(case, results[case.name])


def test_campaign_covers_every_path_layout_padding_and_mode():
    combos = {tuple(name.split("/")[:4]) for name in campaign.probes()}
    assert len(combos) == (len(campaign.PATHS) * len(campaign.LAYOUTS) *
                           len(campaign.PADDINGS) * len(campaign.MODES))


@pytest.mark.parametrize("padding", ["VALID", "SAME", "CAUSAL"])
def test_campaign_oracle_agrees_with_the_reference_geometry(padding):
    """The campaign's oracle is itself checked: output lengths as the float64
    reference computes them, on small sizes."""
    for steps in range(0, 12):
        for kernel in (1, 2, 3, 5):
            for stride in (1, 2, 3):
                for dilation in (1, 2, 3):
                    out, why = campaign.expected_geometry(2, steps, 3, kernel, 4, stride,
                                                          dilation, padding)
                    extent = (kernel - 1) * dilation + 1
                    if padding == "VALID" and steps < extent:
                        assert out is None and why
                        continue
                    want, _ = reference.output_length_and_left_pad(steps, kernel, stride,
                                                                   dilation, padding)
                    assert out == want, (steps, kernel, stride, dilation, out, want)


def test_campaign_oracle_refuses_products_past_int64_in_any_order():
    # NCW forms batch x channels first: [2^62, 4, 0] overflows there.
    assert campaign.expected_geometry(2**62, 0, 1, 3, 4, 1, 1, "SAME")[0] is None
    assert campaign.expected_geometry(0, 2**61, 3, 1, 1, 1, 1, "SAME")[0] == 2**61
    assert campaign.expected_geometry(0, 2**62, 3, 1, 1, 1, 1, "SAME")[0] is None


def _run(*args, timeout=600):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-m", "tests.op.serving_hostile", *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, (
        f"the server died ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}")
    return proc.stdout


@pytest.mark.main_run_only
def test_served_model_keeps_answering_after_hostile_requests(tmp_path):
    path = str(tmp_path / "model")
    _run("save", path)
    summary = json.loads(next(line for line in _run("serve", path).splitlines()
                              if line.startswith("@@summary "))[len("@@summary "):])
    assert summary["hostile"] >= 20
    assert summary["ordinary"] == summary["hostile"]
    assert summary["refused"] > 0
    unnamed = [r for r in summary["refusals"] if "UNNAMED" in r]
    assert not unnamed, "refusals that do not name the op:\n" + "\n".join(unnamed)
