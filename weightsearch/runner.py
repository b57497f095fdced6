"""Executing trials: one coordinator owns the storage, a worker runs the user's function.

The coordinator claims a point under a study-wide lock (so no point is handed out twice, on this
machine or another), creates its trial directly in the RUNNING state with the point's parameters,
hands a picklable :class:`Job` to a worker, answers the worker's intermediate reports with pruning
decisions, and records the outcome. Trials left RUNNING by a coordinator that died on this machine
are found by their owner's process identity and failed, and their points run again.

The worker side (:func:`execute_job`) only runs the user's function, once per seed, and turns
what happens (metrics, an exception, a non-finite value, a prune) into a :class:`JobResult`.
"""

from __future__ import annotations

import datetime
import math
import os
import socket
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import optuna
from optuna.distributions import BaseDistribution
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState

from weightsearch.storage import study_lock
from weightsearch.task import Pruned, Run, Task, default_device

# User attrs written on every trial (optuna-dashboard shows them; reports read them).
POINT_ATTR = "point"
OWNER_ATTR = "owner"
ERROR_ATTR = "error"
LOST_ATTR = "lost"
# The weights of a trial scaled to sum to 1, where they differ from those it trained with.
NORMALIZED_ATTR = "normalized_weights"
TRACEBACK_ATTR = "traceback"
# Long learning curves are thinned to this many points per seed before they are stored.
_MAX_CURVE_POINTS = 200
_MAX_TRACEBACK_CHARS = 8000


@dataclass(frozen=True)
class Point:
    """One point of a search space, as a trial will hold it.

    Attributes:
        key: identity of the point within its study; a point whose key has a COMPLETE, PRUNED or
            RUNNING trial is not claimed again.
        weights: the static weights the task trains with.
        method: the balancing method.
        params: the trial's Optuna parameters (what optuna-dashboard plots).
        distributions: one distribution per parameter.
        attrs: extra user attrs to store on the trial.
    """

    key: str
    weights: dict[str, float]
    params: dict[str, Any]
    distributions: dict[str, BaseDistribution]
    method: str = "static"
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Job:
    """Everything a worker needs to run one trial; picklable, so it can cross a process boundary."""

    number: int
    weights: dict[str, float]
    method: str
    seeds: tuple[int, ...]
    objectives: tuple[str, ...]
    params: dict[str, Any] = field(default_factory=dict)
    method_args: dict[str, Any] = field(default_factory=dict)
    device: str = "cpu"


@dataclass
class JobResult:
    """What came of a job: metrics per seed, or the error or prune that stopped it."""

    state: Literal["COMPLETE", "FAIL", "PRUNED"]
    seed_values: dict[int, dict[str, float]] = field(default_factory=dict)
    error: str | None = None
    traceback: str | None = None
    curves: dict[int, list[tuple[int, dict[str, float]]]] = field(default_factory=dict)
    weight_trajectories: dict[int, list[tuple[int, dict[str, float]]]] = field(default_factory=dict)
    final_weights: dict[int, dict[str, float]] = field(default_factory=dict)
    seconds: float = 0.0


class Reporter(Protocol):
    def __call__(self, seed_index: int, step: int, metrics: Mapping[str, float]) -> bool: ...


def execute_job(task: Task, job: Job, report: Reporter) -> JobResult:
    """Run the user's function once per seed of ``job``; never raises for the user's errors.

    Only the first seed's reports reach the pruner: later seeds repeat the same steps.
    ``KeyboardInterrupt`` propagates, so that Ctrl-C stops the command.
    """
    started = time.perf_counter()
    result = JobResult(state="COMPLETE")
    for index, seed in enumerate(job.seeds):
        run = Run(
            weights=dict(job.weights),
            method=job.method,
            seed=seed,
            device=job.device,
            params=dict(job.params),
            losses=task.losses,
            method_args=dict(job.method_args),
            reporter=lambda step, metrics, _i=index: report(_i, step, metrics),
        )
        try:
            returned = task(run)
            values = _check_metrics(returned, job.objectives)
        except Pruned:
            result.state = "PRUNED"
        except Exception as exc:
            result.state = "FAIL"
            result.error = _one_line(exc)
            result.traceback = traceback.format_exc()[-_MAX_TRACEBACK_CHARS:]
        else:
            result.seed_values[seed] = values
        result.curves[seed] = _thin(run.curve)
        result.weight_trajectories[seed] = _thin(run.weight_trajectory)
        result.final_weights[seed] = run.current_weights
        if result.state != "COMPLETE":
            break
    result.seconds = time.perf_counter() - started
    return result


class MetricError(Exception):
    """The function returned something other than finite numbers for its metrics."""


def _check_metrics(returned: Any, objectives: Sequence[str]) -> dict[str, float]:
    if not isinstance(returned, Mapping):
        raise MetricError(
            f"the task must return a dict of metric -> number, but returned "
            f"{type(returned).__name__}"
        )
    missing = [name for name in objectives if name not in returned]
    if missing:
        raise MetricError(
            f"the task returned no {', '.join(map(repr, missing))} "
            f"(it returned: {', '.join(map(str, returned)) or 'nothing'})"
        )
    values: dict[str, float] = {}
    for name, value in returned.items():
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise MetricError(f"metric {name!r} is not a number: {value!r}") from None
        if not math.isfinite(number):
            raise MetricError(f"metric {name!r} is {number}")
        values[str(name)] = number
    return values


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[-1]}" if text else type(exc).__name__


def _thin(points: list[tuple[int, dict[str, float]]]) -> list[tuple[int, dict[str, float]]]:
    if len(points) <= _MAX_CURVE_POINTS:
        return list(points)
    stride = len(points) / _MAX_CURVE_POINTS
    kept = [points[int(i * stride)] for i in range(_MAX_CURVE_POINTS - 1)]
    return [*kept, points[-1]]


class Worker(Protocol):
    """Runs jobs for the coordinator: in this process, or in a process of its own."""

    def run(self, job: Job, report: Reporter) -> JobResult: ...

    def close(self) -> None: ...


class InProcessWorker:
    """Runs jobs in the coordinator's own process (``--n-jobs 1``)."""

    def __init__(self, task: Task) -> None:
        self.task = task

    def run(self, job: Job, report: Reporter) -> JobResult:
        return execute_job(self.task, job, report)

    def close(self) -> None:
        pass


class PointSource(Protocol):
    """Hands out the next point to run; called under the study lock."""

    def claim(
        self, study: optuna.Study, owner: dict[str, Any]
    ) -> tuple[optuna.Trial, Point] | None: ...

    def total(self, study: optuna.Study) -> int: ...


def spent_trials(study: optuna.Study) -> int:
    """Trials that count against ``--n-trials``: all but those lost to a crash or Ctrl-C."""
    return sum(1 for t in study.get_trials(deepcopy=False) if not t.user_attrs.get(LOST_ATTR))


class FixedPoints:
    """A known list of points (a grid, or compare's method x seed pairs): each runs once.

    A point counts as taken when a trial with its key is COMPLETE, PRUNED or RUNNING. A point whose
    earlier trials all failed is run again by a later command, but only once per command.

    Args:
        points: the points, in the order they run.
        budget: at most this many trials in the whole study (``--n-trials``); None: no limit.
    """

    def __init__(self, points: Sequence[Point], budget: int | None = None) -> None:
        self.points = list(points)
        self.budget = budget
        self._tried: set[str] = set()

    def total(self, study: optuna.Study) -> int:
        return len(self.points) if self.budget is None else min(self.budget, len(self.points))

    def claim(
        self, study: optuna.Study, owner: dict[str, Any]
    ) -> tuple[optuna.Trial, Point] | None:
        if self.budget is not None and spent_trials(study) >= self.budget:
            return None
        taken = set(self._tried)
        states = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
        for trial in study.get_trials(deepcopy=False, states=states):
            taken.add(trial.user_attrs.get(POINT_ATTR))
        for point in self.points:
            if point.key not in taken:
                self._tried.add(point.key)
                return create_running_trial(study, point, owner), point
        return None


class SampledPoints:
    """Points proposed by the study's sampler (TPE, CMA-ES, GP, random), up to a trial budget.

    Args:
        suggest: turns a new trial into a point by calling its ``suggest_*`` methods.
        budget: at most this many trials in the whole study; None: until the timeout.
    """

    def __init__(self, suggest: Callable[[optuna.Trial], Point], budget: int | None) -> None:
        self.suggest = suggest
        self.budget = budget

    def total(self, study: optuna.Study) -> int:
        return self.budget if self.budget is not None else 0

    def claim(
        self, study: optuna.Study, owner: dict[str, Any]
    ) -> tuple[optuna.Trial, Point] | None:
        if self.budget is not None and spent_trials(study) >= self.budget:
            return None
        trial = study.ask()
        trial.set_user_attr(OWNER_ATTR, owner)
        point = self.suggest(trial)
        for key, value in _point_attrs(point).items():
            trial.set_user_attr(key, value)
        return trial, point


def create_running_trial(study: optuna.Study, point: Point, owner: dict[str, Any]) -> optuna.Trial:
    """Create a trial that is RUNNING from the start and already holds the point's parameters.

    Going through Optuna's WAITING queue instead would let two SQLite processes pop one trial.
    """
    template = FrozenTrial(
        number=-1,
        state=TrialState.RUNNING,
        value=None,
        datetime_start=datetime.datetime.now(),
        datetime_complete=None,
        params=dict(point.params),
        distributions=dict(point.distributions),
        user_attrs={OWNER_ATTR: owner, **_point_attrs(point)},
        system_attrs={},
        intermediate_values={},
        trial_id=-1,
    )
    trial_id = study._storage.create_new_trial(study._study_id, template_trial=template)
    return optuna.Trial(study, trial_id)


def _point_attrs(point: Point) -> dict[str, Any]:
    return {
        POINT_ATTR: point.key,
        "weights": dict(point.weights),
        "method": point.method,
        **point.attrs,
    }


class Progress(Protocol):
    """Receives the runner's progress; the CLI draws it."""

    def start(self, total: int, finished: Sequence[FrozenTrial]) -> None: ...

    def trial_finished(self, trial: FrozenTrial) -> None: ...

    def stop(self) -> None: ...


class Interrupted(Exception):
    """The user pressed Ctrl-C; running trials were failed as interrupted.

    Attributes:
        outcome: what the caller ran, filled in on the way up so the summary can be printed.
    """

    outcome: Any = None


@dataclass
class RunOptions:
    """How to run a study's trials.

    Attributes:
        seeds: seeds each point runs with (a trial's value is the mean over them).
        params: ``--param`` values handed to the task as ``run.params``.
        method_args: ``--method-arg`` values per method, handed to ``run.balancer``.
        timeout: no new trial starts after this many seconds (None: no limit).
    """

    seeds: tuple[int, ...] = (0,)
    params: dict[str, Any] = field(default_factory=dict)
    method_args: dict[str, dict[str, Any]] = field(default_factory=dict)
    timeout: float | None = None


class Runner:
    """Claims points, runs them on a worker, records results: the one process owning the storage."""

    def __init__(
        self,
        study: optuna.Study,
        storage_url: str,
        storage: BaseStorage,
        task: Task,
        objectives: Sequence[str],
        options: RunOptions,
        progress: Progress | None = None,
        worker: Worker | None = None,
    ) -> None:
        self.study = study
        self.storage_url = storage_url
        self.storage = storage
        self.task = task
        self.objectives = tuple(objectives)
        self.options = options
        self.progress = progress
        self.worker = worker or InProcessWorker(task)
        self.owner = process_owner()

    def run(self, source: PointSource) -> int:
        """Run points from ``source`` until it has none left or ``timeout`` has passed.

        Returns:
            The number of trials this command finished.

        Raises:
            Interrupted: on Ctrl-C, after failing the running trial as interrupted.
        """
        with self._lock():
            reap_dead_trials(self.study)
        if self.progress:
            finished = self.study.get_trials(deepcopy=False, states=_FINISHED)
            self.progress.start(source.total(self.study), finished)
        started = time.monotonic()
        count = 0
        try:
            while True:
                if (
                    self.options.timeout is not None
                    and time.monotonic() - started > self.options.timeout
                ):
                    break
                with self._lock():
                    claimed = source.claim(self.study, self.owner)
                if claimed is None:
                    break
                self._run_trial(*claimed)
                count += 1
        finally:
            self.worker.close()
            if self.progress:
                self.progress.stop()
        return count

    def _lock(self):  # type: ignore[no-untyped-def]
        return study_lock(self.storage_url, self.study.study_name, self.storage)

    def _run_trial(self, trial: optuna.Trial, point: Point) -> None:
        job = Job(
            number=trial.number,
            weights=point.weights,
            method=point.method,
            seeds=self.options.seeds,
            objectives=self.objectives,
            params=self.options.params,
            method_args=self.options.method_args.get(point.method, {}),
            device=default_device(),
        )
        prunable = len(self.objectives) == 1

        def report(seed_index: int, step: int, metrics: Mapping[str, float]) -> bool:
            value = metrics.get(self.objectives[0])
            if not prunable or seed_index != 0 or value is None or not math.isfinite(value):
                return False
            trial.report(float(value), step)
            return trial.should_prune()

        try:
            result = self.worker.run(job, report)
        except KeyboardInterrupt:
            fail_trial(self.study, trial._trial_id, "interrupted by the user (Ctrl-C)")
            raise Interrupted() from None
        frozen = self._record(trial, result)
        if self.progress:
            self.progress.trial_finished(frozen)

    def _record(self, trial: optuna.Trial, result: JobResult) -> FrozenTrial:
        attrs: dict[str, Any] = {
            "seed_values": {str(s): v for s, v in result.seed_values.items()},
            "seconds": round(result.seconds, 4),
            "final_weights": {str(s): w for s, w in result.final_weights.items()},
        }
        if any(result.curves.values()):
            attrs["curves"] = {str(s): c for s, c in result.curves.items()}
        if any(result.weight_trajectories.values()):
            attrs["weight_trajectories"] = {
                str(s): t for s, t in result.weight_trajectories.items()
            }
        if result.state == "COMPLETE":
            means = _mean_metrics(result.seed_values.values())
            attrs["values"] = means
            for key, value in attrs.items():
                trial.set_user_attr(key, value)
            return self.study.tell(trial, [means[name] for name in self.objectives])
        if result.error is not None:
            attrs[ERROR_ATTR] = result.error
            attrs[TRACEBACK_ATTR] = result.traceback
        for key, value in attrs.items():
            trial.set_user_attr(key, value)
        state = TrialState.PRUNED if result.state == "PRUNED" else TrialState.FAIL
        return self.study.tell(trial, state=state)


_FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


def _mean_metrics(per_seed: Iterable[Mapping[str, float]]) -> dict[str, float]:
    rows = list(per_seed)
    names = [name for name in rows[0] if all(name in row for row in rows)]
    return {name: sum(row[name] for row in rows) / len(rows) for name in names}


def fail_trial(study: optuna.Study, trial_id: int, reason: str) -> bool:
    """Fail a RUNNING trial that was lost (crash, Ctrl-C): its point runs again later.

    Returns:
        False when the trial had already finished (another process got there first).
    """
    storage = study._storage
    try:
        storage.set_trial_user_attr(trial_id, ERROR_ATTR, reason)
        storage.set_trial_user_attr(trial_id, LOST_ATTR, True)
        return storage.set_trial_state_values(trial_id, TrialState.FAIL)
    except (RuntimeError, optuna.exceptions.UpdateFinishedTrialError):
        return False


def process_owner() -> dict[str, Any]:
    """Who runs a trial: host, process id and the process's identity (boot + start time)."""
    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "process": _process_identity(os.getpid()),
    }


def reap_dead_trials(study: optuna.Study) -> list[int]:
    """Fail RUNNING trials whose coordinator on this host is gone (killed, crashed, rebooted).

    Returns:
        The numbers of the trials failed.
    """
    host = socket.gethostname()
    reaped = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        owner = trial.user_attrs.get(OWNER_ATTR)
        if not isinstance(owner, dict) or owner.get("host") != host:
            continue
        if _process_identity(int(owner.get("pid", -1))) == owner.get("process"):
            continue
        reason = f"its process (pid {owner.get('pid')} on {host}) ended before the trial finished"
        if fail_trial(study, trial._trial_id, reason):
            reaped.append(trial.number)
    return reaped


def _process_identity(pid: int) -> str | None:
    """Boot id plus the process's start time: a pid reused by another process differs."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        if pid <= 0:
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return f"pid:{pid}"
    # Field 22 (starttime) counts from the end of the command name, which may hold spaces.
    fields = stat.rsplit(")", 1)[1].split()
    return f"{boot}:{fields[19]}"
