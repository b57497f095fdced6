"""The runner: executing a job on the worker side, and the coordinator that records trials."""

from __future__ import annotations

import json
import math
import signal
import socket
import subprocess

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState

import weightsearch as ws
from weightsearch import cli, records
from weightsearch.jobs import Job, execute_job
from weightsearch.lost_trials import process_owner, reap_lost_trials
from weightsearch.points import FixedPoints, Point, create_running_trial
from weightsearch.runner import Interrupted, Runner, RunOptions, StopSignal
from weightsearch.storage import StorageHandle
from weightsearch.task import load_task


def never_prune(seed_index: int, step: int, metrics) -> bool:
    return False


def job(weights, seeds=(0,), objectives=("score",), params=None) -> Job:
    return Job(
        number=0,
        weights=dict(weights),
        method="static",
        seeds=tuple(seeds),
        objectives=tuple(objectives),
        params=dict(params or {}),
    )


def point(weights: dict[str, float]) -> Point:
    return Point(
        key=json.dumps(weights, sort_keys=True),
        weights=dict(weights),
        params={f"w_{k}": v for k, v in weights.items()},
        distributions={f"w_{k}": FloatDistribution(0.0, 1.0) for k in weights},
    )


EQUAL = {"a": 1 / 3, "b": 1 / 3, "c": 1 / 3}
C_HALF = {"a": 0.25, "b": 0.25, "c": 0.5}
A_HALF = {"a": 0.5, "b": 0.25, "c": 0.25}


@pytest.fixture
def echo(tasks_dir):
    return load_task(str(tasks_dir / "echo.py"))


@pytest.fixture
def study():
    return optuna.create_study(storage=optuna.storages.InMemoryStorage(), study_name="runner")


def make_runner(study, task, objectives=("score",), **options) -> Runner:
    return Runner(
        study,
        StorageHandle("memory", study._storage),
        "unused-reference",
        task,
        objectives,
        RunOptions(in_process=True, **options),
    )


# The worker side ---------------------------------------------------------------------------


def test_job_runs_every_seed_and_keeps_each_seeds_metrics(echo):
    result = execute_job(echo, job(C_HALF, seeds=(0, 1, 5)), never_prune)
    assert result.state == "COMPLETE"
    assert result.error is None
    assert {seed: v["score"] for seed, v in result.seed_values.items()} == {
        0: pytest.approx(0.25),
        1: pytest.approx(1.25),
        5: pytest.approx(5.25),
    }
    assert result.seed_values[0]["bonus"] == pytest.approx(0.25)


def test_exception_fails_the_job_with_its_last_line_and_traceback(tasks_dir):
    picky = load_task(f"{tasks_dir / 'failing.py'}:picky")
    result = execute_job(picky, job(C_HALF, seeds=(0, 1)), never_prune)
    assert result.state == "FAIL"
    assert result.error == "ValueError: c=0.500 > 0.45"
    assert result.traceback.startswith("Traceback (most recent call last):")
    assert "failing.py" in result.traceback
    assert result.traceback.rstrip().endswith("ValueError: weight c is too large:\nc=0.500 > 0.45")
    # The first seed failed: the second never ran.
    assert result.seed_values == {}
    assert list(result.curves) == [0]


def test_exception_without_message_is_named_by_its_type():
    @ws.task(losses=["a"], metrics={"m": "minimize"})
    def bare(run):
        raise KeyError

    assert execute_job(bare, job({"a": 1.0}, objectives=("m",)), never_prune).error == "KeyError"


@pytest.mark.parametrize(
    ("returned", "error"),
    [
        ({"score": math.nan}, "MetricError: metric 'score' is nan"),
        ({"score": 1.0, "other": math.inf}, "MetricError: metric 'other' is inf"),
        ({"score": -math.inf}, "MetricError: metric 'score' is -inf"),
        ({"score": "high"}, "MetricError: metric 'score' is not a number: 'high'"),
        ({"other": 1.0}, "MetricError: the task returned no 'score' (it returned: other)"),
        (0.5, "MetricError: the task must return a dict of metric -> number, but returned float"),
        (
            None,
            "MetricError: the task must return a dict of metric -> number, but returned NoneType",
        ),
    ],
)
def test_bad_metrics_fail_the_job(returned, error):
    @ws.task(losses=["a"], metrics={"score": "minimize"})
    def returns(run):
        return returned

    result = execute_job(returns, job({"a": 1.0}), never_prune)
    assert result.state == "FAIL"
    assert result.error == error


def test_nan_from_the_nan_task(tasks_dir):
    nan_task = load_task(str(tasks_dir / "nan_task.py"))
    result = execute_job(nan_task, job(A_HALF, objectives=("val_loss",)), never_prune)
    assert (result.state, result.error) == ("FAIL", "MetricError: metric 'val_loss' is nan")
    fine = execute_job(nan_task, job(C_HALF, objectives=("val_loss",)), never_prune)
    assert fine.seed_values == {0: {"val_loss": 0.25}}


def test_torch_metrics_are_accepted_as_numbers(tasks_dir):
    three = load_task(str(tasks_dir / "three_losses.py"))
    weights = {"cls": 0.5, "box": 0.25, "aux": 0.25}
    result = execute_job(three, job(weights, objectives=("val_loss",)), never_prune)
    assert result.state == "COMPLETE", result.error
    values = result.seed_values[0]
    assert set(values) == {"val_loss", "val_acc"}
    assert 0.0 <= values["val_acc"] <= 1.0
    # The learning curve holds one report per step.
    assert [step for step, _ in result.curves[0]] == [0, 1, 2, 3, 4]


def test_pruning_decision_stops_the_job(tasks_dir):
    three = load_task(str(tasks_dir / "three_losses.py"))
    seen = []

    def prune_at_step_2(seed_index, step, metrics):
        seen.append((seed_index, step))
        return step == 2

    weights = {"cls": 0.5, "box": 0.25, "aux": 0.25}
    result = execute_job(
        three, job(weights, seeds=(0, 1), objectives=("val_loss",)), prune_at_step_2
    )
    assert result.state == "PRUNED"
    assert result.error is None
    assert seen == [(0, 0), (0, 1), (0, 2)]
    assert result.seed_values == {}


def test_keyboard_interrupt_is_not_a_failed_job():
    @ws.task(losses=["a"], metrics={"score": "minimize"})
    def interrupted(run):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        execute_job(interrupted, job({"a": 1.0}), never_prune)


# The coordinator ---------------------------------------------------------------------------


def test_runner_runs_each_point_once_and_records_it(study, echo):
    points = [point(EQUAL), point(C_HALF), point(A_HALF)]

    assert make_runner(study, echo).run(FixedPoints(points)) == 3

    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3
    assert [records.weights(t) for t in trials] == [EQUAL, C_HALF, A_HALF]
    assert [t.value for t in trials] == pytest.approx([1 / 3, 0.25, 0.5])
    assert trials[1].params == {"w_a": 0.25, "w_b": 0.25, "w_c": 0.5}
    assert records.values(trials[1]) == {"score": 0.25, "bonus": 0.25, "weight_sum": 1.0}
    assert [records.point_key(t) for t in trials] == [p.key for p in points]

    assert make_runner(study, echo).run(FixedPoints(points)) == 0
    assert len(study.get_trials()) == 3


def test_trial_value_is_the_mean_over_seeds(study, echo):
    make_runner(study, echo, seeds=(0, 1, 2)).run(FixedPoints([point(C_HALF)]))
    (trial,) = study.get_trials()
    # score = 0.25 + seed: 0.25, 1.25, 2.25.
    assert trial.value == pytest.approx(1.25)
    assert {s: v["score"] for s, v in records.seed_values(trial).items()} == {
        0: pytest.approx(0.25),
        1: pytest.approx(1.25),
        2: pytest.approx(2.25),
    }
    assert records.values(trial)["bonus"] == pytest.approx(0.25)


def test_failed_points_run_once_per_command_and_again_in_the_next_when_asked(study, echo):
    points = [point(EQUAL), point(C_HALF)]
    assert make_runner(study, echo, params={"fail": True}).run(FixedPoints(points)) == 2
    failed = study.get_trials()
    assert [t.state for t in failed] == [TrialState.FAIL] * 2
    assert [records.error(t) for t in failed] == ["RuntimeError: asked to fail"] * 2
    assert "Traceback" in failed[0].user_attrs[records.TRACEBACK]

    assert make_runner(study, echo).run(FixedPoints(points)) == 0  # not retried unasked
    assert make_runner(study, echo).run(FixedPoints(points, retry_failed=True)) == 2
    states = [t.state for t in study.get_trials()]
    assert states == [TrialState.FAIL] * 2 + [TrialState.COMPLETE] * 2


def test_one_failing_point_does_not_stop_the_others(study, tasks_dir):
    picky = load_task(f"{tasks_dir / 'failing.py'}:picky")
    make_runner(study, picky).run(FixedPoints([point(C_HALF), point(EQUAL), point(A_HALF)]))
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.COMPLETE, TrialState.COMPLETE]
    assert records.error(trials[0]) == "ValueError: c=0.500 > 0.45"


def test_pruned_points_count_as_done(echo):
    @ws.task(losses=["a", "b", "c"], metrics={"score": "minimize"})
    def reports(run):
        for step in range(3):
            run.report(step, {"score": 1.0})
        return {"score": 1.0}

    study = optuna.create_study(
        storage=optuna.storages.InMemoryStorage(), pruner=optuna.pruners.ThresholdPruner(upper=0.5)
    )
    make_runner(study, reports).run(FixedPoints([point(EQUAL)]))
    (trial,) = study.get_trials()
    assert trial.state == TrialState.PRUNED
    assert trial.intermediate_values == {0: 1.0}
    assert make_runner(study, reports).run(FixedPoints([point(EQUAL)])) == 0


def test_ctrl_c_fails_the_running_trial_and_raises_interrupted(study):
    @ws.task(losses=["a", "b", "c"], metrics={"score": "minimize"})
    def interrupted(run):
        raise KeyboardInterrupt

    with pytest.raises(Interrupted):
        make_runner(study, interrupted).run(FixedPoints([point(EQUAL), point(C_HALF)]))
    (trial,) = study.get_trials()
    assert trial.state == TrialState.FAIL
    assert records.error(trial) == "interrupted by the user (Ctrl-C)"


def test_a_termination_signal_is_named_on_the_trial_it_stopped(study):
    @ws.task(losses=["a", "b", "c"], metrics={"score": "minimize"})
    def terminated(run):
        # What the CLI's SIGTERM handler raises in the coordinator.
        with pytest.raises(StopSignal) as raised:
            cli._interrupt(signal.SIGTERM, None)
        raise raised.value

    with pytest.raises(Interrupted):
        make_runner(study, terminated).run(FixedPoints([point(EQUAL)]))
    (trial,) = study.get_trials()
    assert records.error(trial) == "interrupted by SIGTERM"


def dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_trial_of_a_dead_process_is_failed_and_its_point_runs_again(study, echo):
    owner = {**process_owner(), "pid": dead_pid(), "process": "boot:1"}
    lost = create_running_trial(study, point(C_HALF), owner)

    assert reap_lost_trials(study) == [lost.number]

    trial = study.get_trials()[0]
    assert trial.state == TrialState.FAIL
    assert "ended before it finished" in records.error(trial)
    assert make_runner(study, echo).run(FixedPoints([point(C_HALF)])) == 1
    assert [t.state for t in study.get_trials()] == [TrialState.FAIL, TrialState.COMPLETE]


def test_trial_of_a_live_process_is_left_running(study):
    create_running_trial(study, point(C_HALF), process_owner())
    assert reap_lost_trials(study) == []
    assert study.get_trials()[0].state == TrialState.RUNNING


def test_trial_of_another_machine_is_reaped_only_after_the_grace_period(study):
    owner = {"host": socket.gethostname() + "-elsewhere", "pid": 1, "process": "x"}
    lost = create_running_trial(study, point(C_HALF), owner)
    assert reap_lost_trials(study, grace=3600) == []
    assert reap_lost_trials(study, grace=0) == [lost.number]
    assert study.get_trials()[0].state == TrialState.FAIL
