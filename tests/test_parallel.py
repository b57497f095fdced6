"""Parallel and crash-safe runs: workers, kill -9 and resume, Ctrl-C, timeouts, shared studies.

These run the real console command in subprocesses, as a user would, except the worker test that
changes this process's environment between two workers.
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
from weightsearch.jobs import Job
from weightsearch.lost_trials import process_owner, reap_lost_trials
from weightsearch.spaces import sum_to_one_grid
from weightsearch.storage import open_storage
from weightsearch.worker import ProcessWorker

pytestmark = pytest.mark.slow

SLEEPY = Path(__file__).parent / "tasks" / "parallel" / "sleepy.py"
ENVIRONMENT = Path(__file__).parent / "tasks" / "parallel" / "environment.py"
# Three losses, multipliers 1,2,3: 27 combinations, 25 distinct after normalisation.
GRID = ["grid", str(SLEEPY), "--multipliers", "1,2,3"]
N_POINTS = 25
# Multipliers 1,3: 7 distinct points, one of them (3,1,1)/5 with a weight of 0.6 on "a".
SMALL_GRID = ["grid", str(SLEEPY), "--multipliers", "1,3"]
N_SMALL = 7


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "weightsearch", *args]


def run(args: list[str], cwd: Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command(*args), cwd=cwd, capture_output=True, text=True, timeout=timeout, env=_env()
    )


def start(args: list[str], cwd: Path, quiet: bool = False) -> subprocess.Popen[str]:
    """Start the command in a session of its own (so its whole group can be signalled)."""
    stream = subprocess.DEVNULL if quiet else subprocess.PIPE
    return subprocess.Popen(
        command(*args),
        cwd=cwd,
        env=_env(),
        text=True,
        start_new_session=True,
        stdout=stream,
        stderr=stream,
    )


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("WEIGHTSEARCH_STORAGE", None)
    return env


def trials(url: str, study: str) -> list[optuna.trial.FrozenTrial]:
    """The study's trials, read through weightsearch's own URL handling (journal: URLs too)."""
    return optuna.load_study(study_name=study, storage=open_storage(url)).get_trials(deepcopy=False)


def assert_each_point_once(
    all_trials: list[optuna.trial.FrozenTrial], multipliers: tuple[float, ...] = (1, 2, 3)
) -> None:
    """Every grid point COMPLETE exactly once; nothing left RUNNING or WAITING."""
    expected = {
        json.dumps({k: round(v, 12) for k, v in w.items()}, sort_keys=True)
        for w in sum_to_one_grid(["a", "b", "c"], multipliers)
    }
    complete = [records.point_key(t) for t in all_trials if t.state == TrialState.COMPLETE]
    assert len(complete) == len(expected), Counter(t.state.name for t in all_trials)
    assert len(set(complete)) == len(expected), "a point completed twice"
    assert set(complete) == expected
    states = {t.state for t in all_trials}
    assert TrialState.RUNNING not in states
    assert TrialState.WAITING not in states


def wait_for_complete(
    url: str, study: str, count: int, process: subprocess.Popen[str], running: bool = False
) -> None:
    """Wait until ``count`` trials are COMPLETE (and, if asked, one is RUNNING right now)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert process.poll() is None, "the command ended before it could be stopped"
        try:
            states = [t.state for t in trials(url, study)]
        except KeyError:  # the study does not exist yet
            states = []
        if states.count(TrialState.COMPLETE) >= count and (
            not running or TrialState.RUNNING in states
        ):
            return
        time.sleep(0.05)
    pytest.fail("the command made no progress")


def test_kill_9_then_rerun_finishes_the_study(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    args = [*GRID, "--n-jobs", "2", "--param", "sleep=0.4", "--storage", url]
    process = start(args, tmp_path, quiet=True)
    try:
        # Killed while a trial runs: that trial must be found lost and run again.
        wait_for_complete(url, "sleepy-grid", 3, process, running=True)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    before = trials(url, "sleepy-grid")
    assert any(t.state == TrialState.RUNNING for t in before), "killed between trials; retry"
    done_before = {records.point_key(t) for t in before if t.state == TrialState.COMPLETE}

    again = run([*args, "--json"], tmp_path)
    assert again.returncode == 0, again.stderr
    assert "locked" not in again.stderr
    after = trials(url, "sleepy-grid")
    assert_each_point_once(after)
    # Completed points kept their trial; the lost ones were failed with a reason and rerun.
    kept = {
        records.point_key(t)
        for t in after
        if t.state == TrialState.COMPLETE and t.number < len(before)
    }
    assert done_before <= kept
    lost = [t for t in after if t.state == TrialState.FAIL]
    assert lost
    assert all("ended before it finished" in (records.error(t) or "") for t in lost)
    assert all(t.user_attrs.get(records.LOST) for t in lost)


def test_ctrl_c_fails_running_trials_prints_summary_and_exits_130(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    args = [*SMALL_GRID, "--n-jobs", "2", "--param", "sleep=0.5", "--storage", url]
    process = start(args, tmp_path)
    wait_for_complete(url, "sleepy-grid", 2, process)
    os.killpg(process.pid, signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "interrupted" in err
    assert "Traceback" not in err
    assert "sleepy-grid (grid)" in out  # the summary so far
    stopped = trials(url, "sleepy-grid")
    assert not [t for t in stopped if t.state == TrialState.RUNNING]
    interrupted = [t for t in stopped if t.state == TrialState.FAIL]
    assert interrupted
    assert all("interrupted" in (records.error(t) or "") for t in interrupted)

    again = run([*args, "--param", "sleep=0"], tmp_path)
    assert again.returncode == 0, again.stderr
    assert_each_point_once(trials(url, "sleepy-grid"), multipliers=(1, 3))


def test_a_new_worker_runs_in_the_environment_of_when_it_started(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Workers fork from a server process that outlives them; each must still see the
    # coordinator's environment as it is when that worker starts, not as it was for the first.
    job = Job(number=0, weights={"a": 1.0}, method="static", seeds=(0,), objectives=("value",))

    def run_one() -> dict[str, float]:
        worker = ProcessWorker(str(ENVIRONMENT), threads=1)
        try:
            result = worker.run(job, lambda seed_index, step, metrics: False)
        finally:
            worker.close()
        assert result.state == "COMPLETE", result.error
        return result.seed_values[0]

    monkeypatch.setenv("WSTEST_VALUE", "1")
    monkeypatch.setenv("WSTEST_GONE", "yes")
    assert run_one() == {"value": 1.0, "gone": 1.0}
    monkeypatch.setenv("WSTEST_VALUE", "2")
    monkeypatch.delenv("WSTEST_GONE")
    assert run_one() == {"value": 2.0, "gone": 0.0}


def test_crashed_worker_fails_its_trial_and_is_replaced(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    # Only (3,1,1)/5 has a > 0.55: one point crashes its worker, the rest complete.
    done = run(
        [*SMALL_GRID, "--n-jobs", "2", "--param", "crash_over=0.55", "--storage", url, "--json"],
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    failed = [t for t in report["trials"] if t["state"] == "FAIL"]
    assert len(failed) == 1
    assert failed[0]["weights"]["a"] == pytest.approx(0.6)
    assert "WorkerDied" in failed[0]["error"]
    assert "exited with code 3" in failed[0]["error"]
    assert sum(t["state"] == "COMPLETE" for t in report["trials"]) == N_SMALL - 1


def test_trial_timeout_stops_a_hanging_trial(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    args = [
        *SMALL_GRID,
        "--param",
        "hang_over=0.55",
        "--trial-timeout",
        "3",
        "--storage",
        url,
        "--json",
    ]
    done = run(args, tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    failed = [t for t in report["trials"] if t["state"] == "FAIL"]
    assert [t["weights"]["a"] for t in failed] == [pytest.approx(0.6)]
    assert "TrialTimeout" in failed[0]["error"]
    assert sum(t["state"] == "COMPLETE" for t in report["trials"]) == N_SMALL - 1


def test_lost_trial_of_another_machine_is_reaped_after_its_heartbeat_stops(tmp_path: Path) -> None:
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'db.sqlite'}", study_name="s")
    silent, beating = study.ask(), study.ask()
    for trial, beat in ((silent, time.time() - 300), (beating, time.time())):
        trial.set_user_attr(
            records.CLAIM, {"point": str(trial.number), "host": "elsewhere", "pid": 1}
        )
        trial.set_user_attr(records.HEARTBEAT, beat)
    mine = study.ask()  # this host, a live process (this one): never reaped
    mine.set_user_attr(records.CLAIM, {"point": "x", **process_owner()})

    assert reap_lost_trials(study, grace=120) == [silent.number]
    states = {t.number: t.state for t in study.get_trials()}
    assert states == {
        silent.number: TrialState.FAIL,
        beating.number: TrialState.RUNNING,
        mine.number: TrialState.RUNNING,
    }
    assert "no heartbeat" in (records.error(study.trials[silent.number]) or "")


def test_two_commands_share_one_study(storage_url: str, tmp_path: Path) -> None:
    """Two separate commands on one study (two machines in miniature): each point once."""
    args = [*GRID, "--param", "sleep=0.1", "--storage", storage_url, "--json"]
    first, second = start(args, tmp_path), start(args, tmp_path)
    outputs = [p.communicate(timeout=240) for p in (first, second)]
    for process, (out, err) in zip((first, second), outputs, strict=True):
        assert process.returncode == 0, err
        # Both end when the study is done, and both print the final result.
        assert len([t for t in json.loads(out)["trials"] if t["state"] == "COMPLETE"]) == N_POINTS
    assert_each_point_once(trials(storage_url, "sleepy-grid"))
    ran_by = Counter(records.owner(t)["pid"] for t in trials(storage_url, "sleepy-grid"))
    assert len(ran_by) == 2, "one command did all the work: the test shows no sharing"


def test_a_trial_nobody_claimed_is_reaped_after_the_grace_period(tmp_path: Path) -> None:
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'db.sqlite'}", study_name="s")
    orphan = study.ask()  # its creator died before writing the claim
    assert reap_lost_trials(study, grace=120) == []
    assert reap_lost_trials(study, grace=0) == [orphan.number]
    assert "never claimed" in (records.error(study.trials[0]) or "")
