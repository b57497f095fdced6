"""Every bad input of every command: exit 2, one or two plain ``error:`` lines, no traceback.

One table, so that a new command or option gets its bad inputs listed next to the others'. The
command-specific test files check the wording in more depth; this one holds the contract.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

TASKS = Path(__file__).parent / "tasks"
ECHO = TASKS / "echo.py"
TWO_TASKS = TASKS / "two_tasks.py"
PASSWORD = "s3cret-pw"
# Nothing listens on port 1: the server is unreachable, and the password must not be shown.
UNREACHABLE = f"postgresql://ws:{PASSWORD}@127.0.0.1:1/db"

RUN = ["--in-process", "--quiet"]

CASES: dict[str, list[str]] = {
    # Loading the task.
    "missing file": ["grid", "no/such/file.py"],
    "missing function": ["grid", f"{ECHO}:nope"],
    "missing module": ["grid", "no_such_module_xyz:train"],
    "file with two tasks, none named": ["grid", str(TWO_TASKS)],
    "syntax error": ["grid", "{syntax}"],
    # A trial meeting weightsearch's own error (an integration refusing the set-up) stops it all.
    "task refusing its set-up": ["grid", f"{TASKS / 'failing.py'}:refuses_its_setup"],
    "task refusing its set-up, in a worker": [
        "grid",
        f"{TASKS / 'failing.py'}:refuses_its_setup",
        "--n-jobs",
        "2",
        "--quiet",
    ],
    # Usage.
    "missing task argument": ["grid"],
    "unknown option": ["grid", str(ECHO), "--bogus"],
    "non-integer seeds": ["grid", str(ECHO), "--seeds", "many"],
    # Options shared by the running commands.
    "unknown objective": ["grid", str(ECHO), "--objective", "nope"],
    "objective twice": ["grid", str(ECHO), "--objective", "score", "--objective", "score"],
    "seeds below 1": ["grid", str(ECHO), "--seeds", "0"],
    "n-trials below 1": ["grid", str(ECHO), "--n-trials", "0"],
    "negative timeout": ["grid", str(ECHO), "--timeout", "-1"],
    "n-jobs below 1": ["grid", str(ECHO), "--n-jobs", "0"],
    "zero trial timeout": ["grid", str(ECHO), "--trial-timeout", "0"],
    "in-process with n-jobs": ["grid", str(ECHO), "--in-process", "--n-jobs", "2"],
    "unknown pruner": ["grid", str(ECHO), "--pruner", "sometimes"],
    "param without =": ["grid", str(ECHO), "--param", "lr"],
    "unreachable storage": ["grid", str(ECHO), "--storage", UNREACHABLE],
    "storage that is no URL": ["grid", str(ECHO), "--storage", "not-a-url"],
    # grid.
    "unknown loss in --vary": ["grid", str(ECHO), "--vary", "a,zz"],
    "unknown loss in --base": ["grid", str(ECHO), "--base", "zz=1"],
    "malformed --base": ["grid", str(ECHO), "--base", "a"],
    "negative multiplier": ["grid", str(ECHO), "--multipliers", "2,-4"],
    "zero multiplier": ["grid", str(ECHO), "--multipliers", "0,1"],
    "non-numeric multiplier": ["grid", str(ECHO), "--multipliers", "1,two"],
    # power-scale.
    "unknown anchor": ["power-scale", str(ECHO), "--anchor", "zz"],
    "base zero": ["power-scale", str(ECHO), "--base", "0"],
    "base one": ["power-scale", str(ECHO), "--base", "1"],
    "negative base": ["power-scale", str(ECHO), "--base", "-2"],
    "empty exponent range": ["power-scale", str(ECHO), "--exponents", "2:1"],
    "non-integer exponents": ["power-scale", str(ECHO), "--exponents", "0.5:2"],
    "malformed exponents": ["power-scale", str(ECHO), "--exponents", "a:b"],
    "unknown sampler": ["power-scale", str(ECHO), "--sampler", "annealing"],
    "continuous grid": ["power-scale", str(ECHO), "--sampler", "grid", "--continuous"],
    "sampler without budget": ["power-scale", str(ECHO), "--sampler", "tpe"],
    # compare.
    "unknown method": ["compare", str(ECHO), "--methods", "equal,magic"],
    "static as a method": ["compare", str(ECHO), "--methods", "equal,static"],
    "method twice": ["compare", str(ECHO), "--methods", "equal,equal"],
    "compare seeds below 1": ["compare", str(ECHO), "--seeds", "0"],
    "static study missing": ["compare", str(ECHO), "--static", "no-such-study"],
    "method-arg without dot": ["compare", str(ECHO), "--method-arg", "alpha=1"],
    "method-arg unknown key": ["compare", str(ECHO), "--method-arg", "gradnorm.beta=1"],
    "method-arg bad value": ["compare", str(ECHO), "--method-arg", "gradnorm.alpha=high"],
    "method-arg unknown choice": ["compare", str(ECHO), "--method-arg", "mgda.normalization=l7"],
    "method-arg for a method not run": [
        "compare",
        str(ECHO),
        "--methods",
        "equal",
        "--method-arg",
        "gradnorm.alpha=1",
    ],
    # probe.
    "probe unknown anchor": ["probe", str(ECHO), "--anchor", "zz"],
    "probe steps below 1": ["probe", str(ECHO), "--steps", "0"],
    # report and studies.
    "report of a missing study": ["report", "no-such-study"],
    "report in an unknown format": ["report", "no-such-study", "--format", "pdf"],
    "studies on an unreachable storage": ["studies", "--storage", UNREACHABLE],
    "report on an unreachable storage": ["report", "s", "--storage", UNREACHABLE],
}

RUNNING = {"grid", "power-scale", "compare"}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_plain_error(
    case: str, cli: Callable[..., object], sqlite_url: str, tmp_path: Path
) -> None:
    syntax = tmp_path / "broken.py"
    syntax.write_text("import weightsearch as ws\n\ndef train(run:\n")
    args = [a.replace("{syntax}", str(syntax)) for a in CASES[case]]
    if "--storage" not in args and args[0] not in ("probe",):
        args += ["--storage", sqlite_url]
    if args[0] in RUNNING and "--in-process" not in args and "--n-jobs" not in args:
        args += RUN
    result = cli(*args)
    message = result.assert_error(2)  # type: ignore[attr-defined]
    assert PASSWORD not in message + result.out  # type: ignore[attr-defined]
    assert result.out == ""  # type: ignore[attr-defined]
