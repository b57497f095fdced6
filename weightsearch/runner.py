"""Executing trials: one coordinator owns the storage, a worker runs the user's function.

The coordinator claims a point under a study-wide lock (so no point is handed out twice, on this
machine or another; see :mod:`weightsearch.points`), hands a picklable :class:`Job` to a worker,
answers the worker's intermediate reports with pruning decisions, and records the outcome. It
refreshes the heartbeat of its running trials, and fails the trials of coordinators that are gone
(:mod:`weightsearch.lost_trials`) so that their points run again. The worker side is in
:mod:`weightsearch.worker`.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import optuna
from optuna.trial import FrozenTrial, TrialState

from weightsearch import records
from weightsearch.devices import CPU, Device
from weightsearch.errors import WeightsearchError
from weightsearch.jobs import Job
from weightsearch.lost_trials import fail_trial, process_owner, reap_lost_trials
from weightsearch.optuna_internals import trial_id
from weightsearch.points import Point, PointSource
from weightsearch.recording import record_result, trained_steps
from weightsearch.storage import StorageHandle
from weightsearch.task import Task
from weightsearch.worker import InProcessWorker, ProcessWorker, Worker, worker_threads


class Progress(Protocol):
    """Receives the runner's progress; the CLI draws it."""

    def start(self, total: int, finished: Sequence[FrozenTrial]) -> None: ...

    def trial_finished(self, trial: FrozenTrial) -> None: ...

    def stop(self) -> None: ...


class StopSignal(KeyboardInterrupt):
    """A signal that stops the command as Ctrl-C does (a batch scheduler's SIGTERM).

    Attributes:
        name: the signal's name, recorded on the trials it interrupted.
    """

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


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
        devices: the device of each job's worker, used in turn when fewer than ``n_jobs``
            (see :func:`weightsearch.devices.device_slots`).
        timed: trials' times are compared (compare's s/run): workers import what torch loads at
            first use before their first trial, which would otherwise pay it.
    """

    seeds: tuple[int, ...] = (0,)
    params: dict[str, Any] = field(default_factory=dict)
    method_args: dict[str, dict[str, Any]] = field(default_factory=dict)
    timeout: float | None = None
    n_jobs: int = 1
    trial_timeout: float | None = None
    in_process: bool = False
    devices: tuple[Device, ...] = (CPU,)
    timed: bool = False


# A coordinator refreshes the heartbeat of its running trials this often (well within
# lost_trials.GRACE_S, after which another machine takes them as lost).
HEARTBEAT_S = 15.0
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
        storage: StorageHandle,
        task_ref: str,
        task: Task,
        objectives: Sequence[str],
        options: RunOptions,
        progress: Progress | None = None,
    ) -> None:
        self.study = study
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
            finished = [
                t
                for t in self.study.get_trials(deepcopy=False, states=_FINISHED)
                if records.REPEAT not in t.user_attrs
            ]
            self.progress.start(source.total(self.study), finished)
        started = time.monotonic()
        heartbeat = threading.Thread(target=self._beat, daemon=True)
        heartbeat.start()
        slots: list[threading.Thread] = []
        try:
            self._run_slots(source, started, slots)
        except KeyboardInterrupt as exc:
            self._stop.set()
            for worker in self._workers:
                worker.close()  # a busy worker is killed, which frees its slot thread
            for slot in slots:
                slot.join(10)
            self._fail_own_running_trials(
                f"interrupted by {exc.name}"
                if isinstance(exc, StopSignal)
                else "interrupted by the user (Ctrl-C)"
            )
            raise Interrupted() from None
        finally:
            self._stop.set()
            for worker in self._workers:
                worker.close()
            if self.progress:
                self.progress.stop()
        return self._count

    def _run_slots(
        self, source: PointSource, started: float, slots: list[threading.Thread]
    ) -> None:
        """Run every slot to its end: in this thread for one job, else one thread each.

        ``slots`` receives the threads as they start, so that an interrupt can wait for them; the
        first error a slot met is raised here.
        """
        errors: list[BaseException] = []
        devices = self.options.devices
        if self.options.n_jobs == 1:
            self._slot(source, *self._new_worker(devices[0]), started, errors)
        else:
            workers = [
                self._new_worker(devices[i % len(devices)]) for i in range(self.options.n_jobs)
            ]
            slots.extend(
                threading.Thread(
                    target=self._slot, args=(source, *worker, started, errors), daemon=True
                )
                for worker in workers
            )
            for slot in slots:
                slot.start()
            for slot in slots:
                while slot.is_alive():
                    slot.join(0.2)
        if errors:
            raise errors[0]

    def _new_worker(self, device: Device) -> tuple[Worker, Device, str]:
        """A worker on ``device``, the device, and its name as the worker's task sees it."""
        if self.options.in_process:
            # No pinning in this process: the task sees every device, named as here.
            worker: Worker = InProcessWorker(self.task, warm_up=self.options.timed)
            seen = device.torch_name
        else:
            threads = worker_threads(self.options.n_jobs)
            pin = device.environment(os.environ)
            worker = ProcessWorker(
                self.task_ref, threads, self.options.trial_timeout, pin, warm_up=self.options.timed
            )
            seen = device.worker_name
        self._workers.append(worker)
        return worker, device, seen

    def _slot(
        self,
        source: PointSource,
        worker: Worker,
        device: Device,
        seen: str,
        started: float,
        errors: list[BaseException],
    ) -> None:
        try:
            # A worker process starts and loads the task before its first trial, not during it.
            if source.pending(self.study):
                worker.prepare()
            while not self._stop.is_set() and not self._timed_out(started):
                with self._lock():
                    claimed = source.claim(self.study, {**self.owner, records.DEVICE: device.name})
                if claimed is not None:
                    self._run_trial(worker, seen, *claimed)
                    continue
                # Nothing to claim now: lost trials of others free their points again, and a
                # running trial's result may free a halving promotion.
                with self._lock():
                    reaped = reap_lost_trials(self.study)
                if not reaped and self._any_running():
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

    def _any_running(self) -> bool:
        """Whether a trial of the study still runs: its result may free a point (a promotion)."""
        return bool(self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))

    def _lock(self) -> contextlib.AbstractContextManager[None]:
        return self.storage.lock(self.study.study_name)

    def _run_trial(self, worker: Worker, device: str, trial: optuna.Trial, point: Point) -> None:
        job = Job(
            number=trial.number,
            weights=point.weights,
            method=point.method,
            seeds=point.seeds if point.seeds is not None else self.options.seeds,
            objectives=self.objectives,
            params=self.options.params,
            method_args=self.options.method_args.get(point.method, {}),
            device=device,
            max_steps=point.max_steps,
        )
        prunable = len(self.objectives) == 1
        reports = [0] * len(job.seeds)  # run.report calls per seed: the training it cost

        def report(seed_index: int, step: int, metrics: Mapping[str, float]) -> bool:
            reports[seed_index] += 1
            value = metrics.get(self.objectives[0])
            if not prunable or seed_index != 0 or value is None or not math.isfinite(value):
                return False
            trial.report(float(value), step)
            return trial.should_prune()

        with self._guard:
            self._running[trial_id(trial)] = trial
        result = worker.run(job, report)
        if self._stop.is_set():
            return  # interrupted: the trial is failed as such by run()
        try:
            steps = trained_steps(job.seeds, reports, result)
            frozen = record_result(self.study, trial, self.objectives, point, result, steps)
        except optuna.exceptions.UpdateFinishedTrialError:
            return  # another process took it for lost (no heartbeat); its point runs again
        finally:
            with self._guard:
                self._running.pop(trial_id(trial), None)
        with self._guard:
            self._count += 1
            if self.progress:
                self.progress.trial_finished(frozen)
        if result.bad_input:
            raise WeightsearchError(f"{result.error}\nThe command stopped (trial {trial.number}).")

    def _fail_own_running_trials(self, reason: str) -> None:
        """Fail every RUNNING trial this process claimed, even one claimed a moment ago."""
        for trial in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            claim = records.owner(trial) or {}
            if all(claim.get(key) == value for key, value in self.owner.items()):
                fail_trial(self.study, trial_id(trial), reason)
        with self._guard:
            self._running.clear()

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            with self._guard:
                running = list(self._running)
            for running_id in running:
                try:
                    self.storage.storage.set_trial_user_attr(
                        running_id, records.HEARTBEAT, time.time()
                    )
                except Exception:
                    # The trial finished meanwhile, or the storage hiccuped: the next beat retries.
                    continue


_FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
