"""``--pruner halving`` end to end: which point reached which rung, once each, resume, bad input.

The task (tests/tasks/rungs.py) reports ``|n - 0.8| + 1/step`` for 6 steps, so on the base-2
grid n = -4..4 the points rank 1, 0, 2, -1, 3, -2, 4, -3, -4 at every rung.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from weightsearch import records

GRID = ["--base", "2", "--exponents=-4:4", "--sampler", "grid"]
# (n, rung) of eta 3, rungs (2, 6) on this grid: see test_rungs_by_hand_on_a_nine_point_grid.
HAND_WORKED = Counter(
    [(-4, 1), (-3, 0), (-2, 0), (-1, 0), (-1, 1), (0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (3, 0),
     (4, 0)]
)  # fmt: skip


def power_scale_args(tasks_dir: Path, storage: str, *extra: str) -> list[str]:
    task = str(tasks_dir / "rungs.py")
    return ["power-scale", task, *GRID, "--pruner", "halving", "--storage", storage, *extra]


def rung_trials(report: dict) -> list[tuple[int, int | None, str]]:
    """(exponent of b, rung, state) of every trial, in trial order."""
    return [(int(t["exponents"]["b"]), t["rung"], t["state"]) for t in report["trials"]]


def finished_pairs(report: dict) -> Counter:
    return Counter(
        (n, rung) for n, rung, state in rung_trials(report) if state in ("COMPLETE", "PRUNED")
    )


def test_rungs_by_hand_on_a_nine_point_grid(cli, sqlite_url, tasks_dir):
    """eta 3, rungs (2, 6). Worked by hand, one trial at a time in grid order n = -4..4:
    n=-4 runs to full length first (it teaches the full length: 6 reports); then -3, -2, -1 at
    rung 0; with 3 results the best third (-1) goes up; 0 starts and, best of rung 0, goes up;
    1 likewise; 2, 3, 4 never enter rung 0's top 8 // 3 = 2 (1 and 0)."""
    result = cli(
        *power_scale_args(tasks_dir, sqlite_url, "--halving-min-steps", "2"), "--in-process",
        "--json",
    )  # fmt: skip

    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert report["halving"] == {"factor": 3, "rungs": [2, 6]}
    assert rung_trials(report) == [
        (-4, 1, "COMPLETE"), (-3, 0, "PRUNED"), (-2, 0, "PRUNED"), (-1, 0, "PRUNED"),
        (-1, 1, "COMPLETE"), (0, 0, "PRUNED"), (0, 1, "COMPLETE"), (1, 0, "PRUNED"),
        (1, 1, "COMPLETE"), (2, 0, "PRUNED"), (3, 0, "PRUNED"), (4, 0, "PRUNED"),
    ]  # fmt: skip
    assert finished_pairs(report) == HAND_WORKED
    best = report["best"][0]
    assert best["values"]["loss"] == pytest.approx(0.2 + 1 / 6)  # n = 1 at full length


def test_factor_2_and_the_table_line(cli, sqlite_url, tasks_dir):
    """eta 2, min steps 2: rungs (2, 4, 6). By hand: -4 learns (full); -3, -2 at rung 0; then
    -2 (better of two) to rung 1; -1 at rung 0 and up (best); rung 1 has -2, -1: -1 to rung 2;
    0 at rung 0, up to rung 1 (rung 0's top 4 // 2 = 2 are 0, -1); rung 1's top 3 // 2 = 1 is 0:
    to rung 2; 1 likewise all the way; 2 at rung 0 enters its top 6 // 2 = 3 (1, 0, 2): up to
    rung 1, whose top 5 // 2 = 2 are 1 and 0, so 2 stops there; 3 and 4 stay at rung 0."""
    result = cli(
        *power_scale_args(tasks_dir, sqlite_url, "--halving-factor", "2",
                          "--halving-min-steps", "2"), "--in-process",
    )  # fmt: skip
    assert result.code == 0, result.err
    line = "halving (factor 2): rung 0 (2 steps) 8 points, rung 1 (4 steps) 5 points, rung 2 "
    line += "(6 steps) 4 points; the best is chosen at full length"
    assert line in " ".join(result.out.split())

    report = json.loads(cli("report", "rungs-power-scale", "--storage", sqlite_url,
                            "--format", "json").out)  # fmt: skip
    assert rung_trials(report) == [
        (-4, 2, "COMPLETE"), (-3, 0, "PRUNED"), (-2, 0, "PRUNED"), (-2, 1, "PRUNED"),
        (-1, 0, "PRUNED"), (-1, 1, "PRUNED"), (-1, 2, "COMPLETE"), (0, 0, "PRUNED"),
        (0, 1, "PRUNED"), (0, 2, "COMPLETE"), (1, 0, "PRUNED"), (1, 1, "PRUNED"),
        (1, 2, "COMPLETE"), (2, 0, "PRUNED"), (2, 1, "PRUNED"), (3, 0, "PRUNED"),
        (4, 0, "PRUNED"),
    ]  # fmt: skip


def test_the_grid_never_skips_a_point(cli, sqlite_url, tasks_dir):
    """With the default min steps (half of 6 = 3) and eta 3 every point still gets a rung."""
    result = cli(*power_scale_args(tasks_dir, sqlite_url), "--in-process", "--json")

    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert report["halving"]["rungs"] == [3, 6]
    reached = {n for n, _, state in rung_trials(report) if state in ("COMPLETE", "PRUNED")}
    assert reached == set(range(-4, 5))
    assert max(finished_pairs(report).values()) == 1


def check_once_per_rung(report: dict) -> None:
    pairs = finished_pairs(report)
    assert max(pairs.values()) == 1, pairs  # no point trained twice at one rung
    assert {n for n, _ in pairs} == set(range(-4, 5))  # every grid point got a rung
    assert (1, 1) in pairs  # the best point reached the full length ...
    assert report["best"][0]["weights"]["b"] == pytest.approx(2 / 3)  # ... and was chosen


@pytest.mark.slow
def test_promotion_exactly_once_across_two_workers(cli, sqlite_url, tasks_dir):
    args = power_scale_args(tasks_dir, sqlite_url, "--halving-min-steps", "2", "--json")
    result = cli(*args, "--n-jobs", "2", "--param", "sleep=0.05")

    assert result.code == 0, result.err
    check_once_per_rung(json.loads(result.out))
    storage = optuna.storages.RDBStorage(sqlite_url)
    trials = optuna.load_study(study_name="rungs-power-scale", storage=storage).get_trials()
    storage.engine.dispose()
    spans = [(t.datetime_start, t.datetime_complete) for t in trials]
    overlapping = [(a, b) for a in spans for b in spans if a[0] < b[0] < a[1]]
    assert overlapping  # the two workers did run trials at once


def start_command(workdir: Path, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "WEIGHTSEARCH_STORAGE"}
    command = [sys.executable, "-m", "weightsearch", *args]
    return subprocess.Popen(command, cwd=workdir, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip


def wait_for(condition, command: subprocess.Popen[str], what: str) -> None:
    deadline = time.monotonic() + 90
    while not condition():
        assert command.poll() is None, f"the command ended before {what}: {command.communicate()}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.mark.slow
def test_promotion_exactly_once_across_two_commands(cli, workdir, sqlite_url, tasks_dir):
    """The first command holds n = -1's promotion open while the second runs the rest."""
    args = power_scale_args(tasks_dir, sqlite_url, "--halving-min-steps", "2", "--in-process")
    first = start_command(workdir, *args, "--param", f"block={workdir}")
    wait_for((workdir / "blocked").exists, first, "the promotion of n = -1 started")
    second = start_command(workdir, *args)
    storage = optuna.storages.RDBStorage(sqlite_url)

    def second_is_done() -> bool:
        study = optuna.load_study(study_name="rungs-power-scale", storage=storage)
        return len(study.get_trials(states=(TrialState.PRUNED, TrialState.COMPLETE))) >= 11

    wait_for(second_is_done, second, "the second command ran the other rungs")
    (workdir / "go").touch()
    for command in (first, second):
        _, err = command.communicate(timeout=120)
        assert command.returncode == 0, err

    report = json.loads(cli("report", "rungs-power-scale", "--storage", sqlite_url,
                            "--format", "json").out)  # fmt: skip
    check_once_per_rung(report)
    assert finished_pairs(report) == HAND_WORKED  # the same ladder as one command's
    study = optuna.load_study(study_name="rungs-power-scale", storage=storage)
    owners = {records.owner(t)["pid"]: t.number for t in study.get_trials()}
    assert set(owners) == {first.pid, second.pid}
    storage.engine.dispose()


@pytest.mark.slow
def test_resume_after_kill_9_mid_rung_repeats_no_rung(cli, workdir, sqlite_url, tasks_dir):
    """Killed while n = -1 trains at rung 1; the rerun redoes that rung once, nothing else."""
    args = power_scale_args(tasks_dir, sqlite_url, "--halving-min-steps", "2", "--in-process")
    command = start_command(workdir, *args, "--param", f"block={workdir}")
    wait_for((workdir / "blocked").exists, command, "the promotion of n = -1 started")
    os.kill(command.pid, signal.SIGKILL)
    command.wait(10)

    result = cli(*args, "--json")

    assert result.code == 0, result.err
    report = json.loads(result.out)
    trials = rung_trials(report)
    # Rung 0 of -4..-1 and -4's full run were done before the kill, and are not repeated.
    assert trials[:5] == [
        (-4, 1, "COMPLETE"), (-3, 0, "PRUNED"), (-2, 0, "PRUNED"), (-1, 0, "PRUNED"),
        (-1, 1, "FAIL"),
    ]  # fmt: skip
    assert "ended before it finished" in report["trials"][4]["error"]
    assert trials[5] == (-1, 1, "COMPLETE")  # the lost rung, run again once
    assert finished_pairs(report) == HAND_WORKED


def test_sampled_points_start_at_rung_0_and_repeats_cost_no_training(cli, sqlite_url, tasks_dir):
    args = power_scale_args(tasks_dir, sqlite_url, "--halving-min-steps", "2", "--json")
    args[args.index("grid")] = "random"
    result = cli(*args, "--n-trials", "6", "--sampler-seed", "3", "--in-process")

    assert result.code == 0, result.err
    report = json.loads(result.out)
    pairs = finished_pairs(report)
    assert max(pairs.values()) == 1
    assert len({n for n, _ in pairs}) == 6  # --n-trials counts points started
    assert any(rung == 1 for _, rung in pairs)  # and some were promoted
    # Proposals of started points trained nothing: listed apart, each naming its point's trial.
    assert all(t["rung"] is not None for t in report["trials"])
    trained = {t["number"] for t in report["trials"]}
    assert all(r["repeat_of"] in trained for r in report["repeats"])


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--halving-factor", "1"], "--halving-factor must be an integer of at least 2, but got 1"),
        (["--halving-min-steps", "0"], "--halving-min-steps must be an integer of at least 1"),
        (["--halving-min-steps", "6"], "--halving-min-steps must be below the task's full length"),
    ],
)
def test_bad_halving_options(cli, sqlite_url, tasks_dir, extra, message):
    result = cli(*power_scale_args(tasks_dir, sqlite_url, *extra), "--in-process")

    assert result.code == 2
    assert f"error: {message}" in result.err
    assert "Traceback" not in result.err


def test_a_task_that_never_reports_stops_the_command(cli, sqlite_url, tasks_dir):
    args = ["grid", str(tasks_dir / "echo.py"), "--multipliers", "1,2", "--pruner", "halving"]
    result = cli(*args, "--storage", sqlite_url, "--in-process")

    assert result.code == 2
    assert "error: --pruner halving trains points for a number of run.report steps" in result.err
    assert "The command stopped." in result.err
    assert "Traceback" not in result.err


def test_halving_needs_one_objective(cli, sqlite_url, tasks_dir):
    args = ["grid", str(tasks_dir / "echo.py"), "--pruner", "halving", "--objective", "score"]
    result = cli(*args, "--objective", "bonus", "--storage", sqlite_url, "--in-process")

    assert result.code == 2
    assert "error: --pruner halving ranks points by one objective" in result.err
