"""Executing trials: one coordinator owns the storage, a worker runs the user's function.

The coordinator claims a point under a study-wide lock (so no point is handed out twice, on this
machine or another), creates its trial directly in the RUNNING state with the point's parameters,
hands a picklable :class:`Job` to a worker, answers the worker's intermediate reports with pruning
decisions, and records the outcome. Trials left RUNNING by a coordinator that died on this machine
are found by their owner's process identity and failed, and their points run again.

On another machine, a coordinator that stops refreshing its trials' heartbeat is taken as gone.
The worker side is in :mod:`weightsearch.worker`.
"""

from __future__ import annotations

import contextlib
import datetime
import math
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import optuna
from optuna.distributions import BaseDistribution
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState

from weightsearch import records
from weightsearch.storage import study_lock
from weightsearch.task import Task, default_device
from weightsearch.worker import (
    InProcessWorker,
    Job,
    JobResult,
    ProcessWorker,
    Worker,
    worker_threads,
)


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
        seeds: the seeds this point runs with (None: the study's seeds).
    """

    key: str
    weights: dict[str, float]
    params: dict[str, Any]
    distributions: dict[str, BaseDistribution]
    method: str = "static"
    seeds: tuple[int, ...] | None = None


class PointSource(Protocol):
    """Hands out the next point to run; called under the study lock."""

    def claim(
        self, study: optuna.Study, owner: dict[str, Any]
    ) -> tuple[optuna.Trial, Point] | None: ...

    def total(self, study: optuna.Study) -> int: ...

    def pending(self, study: optuna.Study) -> bool:
        """Whether a point is left to claim now (a cheap look, without claiming it)."""
        ...


def spent_trials(study: optuna.Study) -> int:
    """Trials that count against ``--n-trials``: all but those lost to a crash or Ctrl-C."""
    return sum(1 for t in study.get_trials(deepcopy=False) if not t.user_attrs.get(records.LOST))


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
        point = self._next(study)
        if point is None:
            return None
        self._tried.add(point.key)
        return create_running_trial(study, point, owner), point

    def pending(self, study: optuna.Study) -> bool:
        return self._next(study) is not None

    def _next(self, study: optuna.Study) -> Point | None:
        if self.budget is not None and spent_trials(study) >= self.budget:
            return None
        taken: set[str | None] = set(self._tried)
        states = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
        for trial in study.get_trials(deepcopy=False, states=states):
            taken.add(records.point_key(trial))
        return next((p for p in self.points if p.key not in taken), None)


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

    def pending(self, study: optuna.Study) -> bool:
        return self.budget is None or spent_trials(study) < self.budget

    def claim(
        self, study: optuna.Study, owner: dict[str, Any]
    ) -> tuple[optuna.Trial, Point] | None:
        if not self.pending(study):
            return None
        trial = study.ask()
        point = self.suggest(trial)
        for key, value in _claim_attrs(point, owner).items():
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
        user_attrs=_claim_attrs(point, owner),
        system_attrs={},
        intermediate_values={},
        trial_id=-1,
    )
    trial_id = study._storage.create_new_trial(study._study_id, template_trial=template)
    return optuna.Trial(study, trial_id)


def _claim_attrs(point: Point, owner: dict[str, Any]) -> dict[str, Any]:
    return {records.WEIGHTS: dict(point.weights), records.CLAIM: {"point": point.key, **owner}}


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
        n_jobs: trials at once on this machine, each in a worker process of its own.
        trial_timeout: a trial running longer than this many seconds is stopped and failed.
        in_process: run trials in this process instead of a worker (one at a time; faster to
            start and easy to debug, but a crash of the user's code ends the command).
    """

    seeds: tuple[int, ...] = (0,)
    params: dict[str, Any] = field(default_factory=dict)
    method_args: dict[str, dict[str, Any]] = field(default_factory=dict)
    timeout: float | None = None
    n_jobs: int = 1
    trial_timeout: float | None = None
    in_process: bool = False


# A coordinator refreshes the heartbeat of its running trials this often; a trial of another
# machine whose heartbeat is older than the grace period is taken as lost.
HEARTBEAT_S = 15.0
GRACE_S = 120.0
# While other processes still run the study's last trials, look again this often.
_WAIT_S = 1.0


class Runner:
    """Claims points, runs them on workers, records results: the one process owning the storage.

    With ``n_jobs`` > 1 each slot is a thread that owns a worker process; the threads only claim
    (under the study lock), wait on their worker, and record. When no point is left to claim, the
    runner waits for trials that other processes still run, so that every command sharing a study
    ends when the study is done; their trials are failed and run again if they are lost.
    """

    def __init__(
        self,
        study: optuna.Study,
        storage_url: str,
        storage: BaseStorage,
        task_ref: str,
        task: Task,
        objectives: Sequence[str],
        options: RunOptions,
        progress: Progress | None = None,
    ) -> None:
        self.study = study
        self.storage_url = storage_url
        self.storage = storage
        self.task_ref = task_ref
        self.task = task
        self.objectives = tuple(objectives)
        self.options = options
        self.progress = progress
        self.owner = process_owner()
        self._running: dict[int, optuna.Trial] = {}
        self._guard = threading.Lock()
        self._stop = threading.Event()
        self._workers: list[Worker] = []
        self._count = 0

    def run(self, source: PointSource) -> int:
        """Run points from ``source`` until it has none left or ``timeout`` has passed.

        Returns:
            The number of trials this command finished.

        Raises:
            Interrupted: on Ctrl-C, after failing the running trials as interrupted.
        """
        with self._lock():
            reap_lost_trials(self.study)
        if self.progress:
            finished = self.study.get_trials(deepcopy=False, states=_FINISHED)
            self.progress.start(source.total(self.study), finished)
        started = time.monotonic()
        heartbeat = threading.Thread(target=self._beat, daemon=True)
        heartbeat.start()
        errors: list[BaseException] = []
        slots: list[threading.Thread] = []
        try:
            if self.options.n_jobs == 1:
                self._slot(source, self._new_worker(), started, errors)
            else:
                slots = [
                    threading.Thread(
                        target=self._slot,
                        args=(source, self._new_worker(), started, errors),
                        daemon=True,
                    )
                    for _ in range(self.options.n_jobs)
                ]
                for slot in slots:
                    slot.start()
                for slot in slots:
                    while slot.is_alive():
                        slot.join(0.2)
            if errors:
                raise errors[0]
        except KeyboardInterrupt:
            self._stop.set()
            for worker in self._workers:
                worker.close()  # a busy worker is killed, which frees its slot thread
            for slot in slots:
                slot.join(10)
            self._fail_own_running_trials("interrupted by the user (Ctrl-C)")
            raise Interrupted() from None
        finally:
            self._stop.set()
            for worker in self._workers:
                worker.close()
            if self.progress:
                self.progress.stop()
        return self._count

    def _new_worker(self) -> Worker:
        if self.options.in_process:
            worker: Worker = InProcessWorker(self.task)
        else:
            worker = ProcessWorker(
                self.task_ref, worker_threads(self.options.n_jobs), self.options.trial_timeout
            )
        self._workers.append(worker)
        return worker

    def _slot(
        self, source: PointSource, worker: Worker, started: float, errors: list[BaseException]
    ) -> None:
        try:
            # A worker process starts and loads the task before its first trial, not during it.
            if source.pending(self.study):
                worker.prepare()
            while not self._stop.is_set() and not self._timed_out(started):
                with self._lock():
                    claimed = source.claim(self.study, self.owner)
                if claimed is not None:
                    self._run_trial(worker, *claimed)
                    continue
                # Nothing left to claim: lost trials of others free their points again.
                with self._lock():
                    reaped = reap_lost_trials(self.study)
                if not reaped and self._others_running():
                    self._stop.wait(_WAIT_S)
                elif not reaped:
                    return
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # a storage error in a slot thread stops every slot
            errors.append(exc)
            self._stop.set()

    def _timed_out(self, started: float) -> bool:
        timeout = self.options.timeout
        return timeout is not None and time.monotonic() - started > timeout

    def _others_running(self) -> bool:
        with self._guard:
            ours = set(self._running)
        running = self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        return any(t._trial_id not in ours for t in running)

    def _lock(self) -> contextlib.AbstractContextManager[None]:
        return study_lock(self.storage_url, self.study.study_name, self.storage)

    def _run_trial(self, worker: Worker, trial: optuna.Trial, point: Point) -> None:
        job = Job(
            number=trial.number,
            weights=point.weights,
            method=point.method,
            seeds=point.seeds if point.seeds is not None else self.options.seeds,
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

        with self._guard:
            self._running[trial._trial_id] = trial
        result = worker.run(job, report)
        if self._stop.is_set():
            return  # interrupted: the trial is failed as such by run()
        try:
            frozen = self._record(trial, point, result)
        except optuna.exceptions.UpdateFinishedTrialError:
            return  # another process took it for lost (no heartbeat); its point runs again
        finally:
            with self._guard:
                self._running.pop(trial._trial_id, None)
        with self._guard:
            self._count += 1
            if self.progress:
                self.progress.trial_finished(frozen)

    def _fail_own_running_trials(self, reason: str) -> None:
        """Fail every RUNNING trial this process claimed, even one claimed a moment ago."""
        for trial in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            claim = records.owner(trial) or {}
            if all(claim.get(key) == value for key, value in self.owner.items()):
                fail_trial(self.study, trial._trial_id, reason)
        with self._guard:
            self._running.clear()

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            with self._guard:
                running = list(self._running)
            for trial_id in running:
                try:
                    self.storage.set_trial_user_attr(trial_id, records.HEARTBEAT, time.time())
                except Exception:
                    # The trial finished meanwhile, or the storage hiccuped: the next beat retries.
                    continue

    def _record(self, trial: optuna.Trial, point: Point, result: JobResult) -> FrozenTrial:
        run: dict[str, Any] = {
            "seeds": {str(s): v for s, v in result.seed_values.items()},
            "seconds": round(result.seconds, 4),
        }
        # Adaptive methods end with other weights than they started with; static ones don't.
        if any(w != point.weights for w in result.final_weights.values()):
            run["final_weights"] = {str(s): w for s, w in result.final_weights.items()}
        if any(result.curves.values()):
            run["curves"] = {str(s): c for s, c in result.curves.items()}
        if any(result.weight_trajectories.values()):
            run["trajectories"] = {str(s): t for s, t in result.weight_trajectories.items()}
        trial.set_user_attr(records.RUN, run)
        if result.state == "COMPLETE":
            means = _mean_metrics(result.seed_values.values())
            trial.set_user_attr(records.VALUES, means)
            return self.study.tell(trial, [means[name] for name in self.objectives])
        if result.error is not None:
            trial.set_user_attr(records.ERROR, result.error)
            trial.set_user_attr(records.TRACEBACK, result.traceback)
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
        storage.set_trial_user_attr(trial_id, records.ERROR, reason)
        storage.set_trial_user_attr(trial_id, records.LOST, True)
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


def reap_lost_trials(study: optuna.Study, grace: float = GRACE_S) -> list[int]:
    """Fail RUNNING trials whose coordinator is gone, so that their points run again.

    On this host a coordinator is gone when its process is (killed, crashed, rebooted); on
    another host when it has not refreshed the trial's heartbeat for ``grace`` seconds. A trial
    that no command claimed (its creator died at once) is lost after ``grace`` seconds too.

    Returns:
        The numbers of the trials failed.
    """
    host = socket.gethostname()
    now = time.time()
    reaped = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        owner = records.owner(trial)
        start = trial.datetime_start.timestamp() if trial.datetime_start else now
        last = float(trial.user_attrs.get(records.HEARTBEAT, start))
        if owner is not None and owner.get("host") == host:
            if _process_identity(int(owner.get("pid", -1))) == owner.get("process"):
                continue
            reason = f"its process (pid {owner.get('pid')} on {host}) ended before it finished"
        elif now - last < grace:
            continue
        elif owner is None:
            # A process died between creating the trial and claiming it; nobody will finish it.
            reason = f"it was never claimed by a running command ({now - last:.0f} s old)"
        else:
            reason = f"its machine ({owner.get('host')}) sent no heartbeat for {now - last:.0f} s"
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
