"""Runs test cases in a child process, so that a crash fails one case, not pytest.

A case module defines CASES, a list of Case. The child runs the named cases in
order and prints a marker line before and after each one; the parent
(run_cases) reads the markers. When the child dies inside a case (a signal, an
abort, a timeout) that case is recorded as crashed, and a new child runs the
cases left. Run as `python -m tests.support.subprocess_cases MODULE NAME...`.
"""
import dataclasses
import importlib
import json
import os
import re
import subprocess
import sys
import traceback
from typing import Callable

from tests.support import REPO

ROOT = REPO
MARKER = "@@case "


@dataclasses.dataclass(frozen=True)
class Case:
    """run() must raise one of `raises` (class names) with a message matching
    `match`; with raises=() it must return normally (it asserts what it checks)."""
    name: str
    run: Callable[[], object]
    raises: tuple = ()
    match: str = ""


def _child(module, names):
    cases = {case.name: case for case in importlib.import_module(module).CASES}
    for name in names:
        print(MARKER + json.dumps({"name": name, "event": "start"}), flush=True)
        try:
            cases[name].run()
            result = {"raised": None}
        except Exception as e:  # noqa: BLE001 - reported to the parent, which judges it
            result = {"raised": type(e).__name__, "message": str(e)[:4000],
                      "traceback": traceback.format_exc()[-4000:]}
        print(MARKER + json.dumps({"name": name, "event": "end", **result}), flush=True)


def _parse(stdout):
    """({name: result} of finished cases, the name of a case started but not finished)."""
    finished, running = {}, None
    for line in (stdout or "").splitlines():
        if line.startswith(MARKER):
            record = json.loads(line[len(MARKER):])
            if record.pop("event") == "start":
                running = record["name"]
            else:
                finished[record.pop("name")] = record
                running = None
    return finished, running


def run_cases(module, names, timeout=600, env=None):
    """{name: result} for every case; a result has 'raised' (a class name or
    None) and 'message', or 'crashed' (how the child ended) and 'stderr'."""
    child_env = dict(os.environ, **(env or {}))
    child_env["PYTHONPATH"] = os.pathsep.join([ROOT, child_env.get("PYTHONPATH", "")])
    results, pending = {}, list(names)
    while pending:
        command = [sys.executable, "-m", "tests.support.subprocess_cases", module] + pending
        try:
            proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                                  cwd=ROOT, env=child_env)
            stdout, stderr, ended = proc.stdout, proc.stderr, f"exit status {proc.returncode}"
        except subprocess.TimeoutExpired as e:
            stdout, stderr = _text(e.stdout), _text(e.stderr)
            ended = f"timed out after {timeout} s"
        finished, running = _parse(stdout)
        results.update(finished)
        if running is not None:
            results[running] = {"crashed": ended, "stderr": stderr[-4000:]}
        elif not finished:
            raise RuntimeError(f"the case runner died before any case ({ended}):\n{stderr[-4000:]}")
        pending = [name for name in pending if name not in results]
    return results


def _text(data):
    return data.decode(errors="replace") if isinstance(data, bytes) else (data or "")


def check(case, result):
    """Asserts that a case's result is what it expects."""
    assert "crashed" not in result, (
        f"{case.name} crashed the process ({result.get('crashed')}):\n{result.get('stderr')}")
    raised = result["raised"]
    if not case.raises:
        assert raised is None, (f"{case.name} raised {raised}: {result['message']}\n"
                                f"{result.get('traceback', '')}")
        return
    assert raised is not None, f"{case.name} raised nothing; expected one of {case.raises}"
    assert raised in case.raises, (f"{case.name} raised {raised}, expected one of "
                                   f"{case.raises}: {result['message']}")
    assert re.search(case.match, result["message"]), (
        f"{case.name}: message does not match {case.match!r}: {result['message']}")


if __name__ == "__main__":
    _child(sys.argv[1], sys.argv[2:])
