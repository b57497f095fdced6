"""What grid, power-scale and compare share: where and how they run, and running a study.

A :class:`Session` holds the options every running command takes and checks them once, when it
is made. :func:`run_study` opens (or resumes) the command's study under the study lock and hands
its points to the :class:`~weightsearch.runner.Runner`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import optuna

from weightsearch.devices import Device, device_slots
from weightsearch.errors import WeightsearchError
from weightsearch.halving_points import HalvingOptions, halving_source
from weightsearch.points import PointSource
from weightsearch.runner import Interrupted, Progress, Runner, RunOptions
from weightsearch.samplers import make_pruner
from weightsearch.storage import StorageHandle
from weightsearch.study import Objective, StudyDefinition, open_study
from weightsearch.task import Task, task_stem
from weightsearch.worker import start_worker_server

ProgressFactory = Callable[[StudyDefinition], Progress]


@dataclass(frozen=True, kw_only=True)
class Session:
    """Where and how a command runs: shared by grid, power-scale and compare.

    Made by keyword; every value is checked on construction, so a session that exists is valid.

    Attributes:
        task: the task reference as the user gave it.
        study: the study name (None: ``<task stem>-<kind>``).
        storage: the storage URL (None: ``$WEIGHTSEARCH_STORAGE`` or the default SQLite file).
        objectives: metric names to optimise (empty: the task's first metric).
        seeds: how many seeds each point runs with (seeds 0..N-1).
        n_trials: at most this many trials in the study (trials lost to a crash don't count).
        timeout: no new trial starts after this many seconds.
        pruner: ``none``, ``median``, ``hyperband`` or ``halving`` (None: the command's default).
        halving_factor: ``--pruner halving``'s reduction factor (one point in it goes up a rung).
        halving_min_steps: the lowest halving rung's steps (None: half the task's length).
        params: ``--param`` values for ``run.params``.
        n_jobs: trials at once on this machine, each in a worker process when > 1 (None: one
            per device slot, see :func:`~weightsearch.devices.device_slots`).
        trial_timeout: a trial running longer than this many seconds is stopped and failed.
        in_process: run trials in this process, not in a worker process (for debugging).
        devices: ``--devices``: ``auto``, ``cpu``, ``mps`` or a list like ``cuda:0,cuda:1``.
        retry_failed: train a point again whose earlier trials failed (a weight search skips
            it otherwise; a trial lost to a crash or Ctrl-C always runs again).

    Raises:
        WeightsearchError: a count below 1, a time that is not positive, ``in_process`` with
            ``n_jobs`` > 1 or a ``trial_timeout``, or devices this machine doesn't have.
    """

    task: str
    study: str | None = None
    storage: str | None = None
    objectives: Sequence[str] = ()
    seeds: int = 1
    n_trials: int | None = None
    timeout: float | None = None
    pruner: str | None = None
    halving_factor: int = 3
    halving_min_steps: int | None = None
    params: Mapping[str, Any] | None = None
    n_jobs: int | None = None
    trial_timeout: float | None = None
    in_process: bool = False
    devices: str = "auto"
    retry_failed: bool = False

    def __post_init__(self) -> None:
        counts = {"--n-trials": self.n_trials, "--seeds": self.seeds, "--n-jobs": self.n_jobs}
        for option, count in counts.items():
            if count is not None and count < 1:
                raise WeightsearchError(f"{option} must be at least 1, but got {count}.")
        times = {"--timeout": self.timeout, "--trial-timeout": self.trial_timeout}
        for option, seconds in times.items():
            if seconds is not None and seconds <= 0:
                raise WeightsearchError(
                    f"{option} must be a positive number of seconds, but got {seconds}."
                )
        if self.pruner == "halving":
            self.halving()  # checks the halving options
        if self.in_process and ((self.n_jobs or 1) > 1 or self.trial_timeout is not None):
            raise WeightsearchError(
                "--in-process runs one trial at a time and can't stop it: drop --n-jobs and "
                "--trial-timeout, or drop --in-process."
            )
        # Checked now, before any trial: a device this machine doesn't have is bad input.
        _ = self.device_slots

    @cached_property
    def device_slots(self) -> tuple[Device, ...]:
        """The device of each job on this machine; their number is the jobs at once."""
        return device_slots(self.devices, self.n_jobs, in_process=self.in_process)

    def halving(self) -> HalvingOptions:
        """``--halving-factor`` and ``--halving-min-steps``, checked."""
        return HalvingOptions(self.halving_factor, self.halving_min_steps)

    def start_workers(self) -> None:
        """Unless trials run in this process, start what workers start from, in the background."""
        if not self.in_process:
            start_worker_server()

    def study_name(self, kind: str) -> str:
        """The study this session's command of ``kind`` runs: ``--study``, or its default."""
        return self.study or f"{task_stem(self.task)}-{kind}"

    def definition(self, task: Task, kind: str, space: dict[str, Any]) -> StudyDefinition:
        """The definition this session's study of ``kind`` must hold; checks the objectives."""
        names = list(self.objectives) or [next(iter(task.metrics))]
        unknown = [n for n in names if n not in task.metrics]
        if unknown:
            raise WeightsearchError(
                f"--objective must be a metric the task declares, but got {', '.join(unknown)}. "
                f"The task's metrics are: {', '.join(task.metrics)}."
            )
        if len(set(names)) != len(names):
            raise WeightsearchError(f"--objective names a metric twice: {', '.join(names)}.")
        return StudyDefinition(
            kind=kind,
            task=f"{task_stem(self.task)}:{task.name}",
            losses=task.losses,
            objectives=tuple(Objective(n, task.metrics[n]) for n in names),
            space=space,
            seeds=tuple(range(self.seeds)),
            metrics=dict(task.metrics),
            reference=self.task,
            created_in=os.getcwd(),
        )


@dataclass
class Outcome:
    """A finished (or stopped) command: the study to report on, and what it was."""

    study: optuna.Study
    definition: StudyDefinition
    storage: StorageHandle
    new_trials: int
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class StudyPlan:
    """How one command's study runs, beyond the session: its points, sampler and defaults.

    Attributes:
        definition: what the study holds (see :meth:`Session.definition`).
        source: the points to run.
        sampler: the study's Optuna sampler (None: Optuna's default; unused by fixed points).
        default_pruner: the pruner when the session names none.
        method_args: ``--method-arg`` values per method.
        storage: the storage, when the command has opened it already.
        grows: whether an existing study's definition may grow into this one (see
            :func:`~weightsearch.study.open_study`).
        timed: whether trials' run times are compared (see ``RunOptions.timed``).
    """

    definition: StudyDefinition
    source: PointSource
    sampler: optuna.samplers.BaseSampler | None = None
    default_pruner: str = "none"
    method_args: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    storage: StorageHandle | None = None
    grows: Callable[[StudyDefinition, StudyDefinition], bool] | None = None
    timed: bool = False


def run_study(
    session: Session, task: Task, plan: StudyPlan, progress: ProgressFactory | None = None
) -> Outcome:
    """Open (or resume) the study of ``plan`` and run its points until none is left.

    Raises:
        Interrupted: on Ctrl-C, with ``outcome`` set to the study as far as it got.
    """
    session.start_workers()
    storage = plan.storage or StorageHandle.open(session.storage)
    definition = plan.definition
    name = session.study_name(definition.kind)
    pruner_name = session.pruner or plan.default_pruner
    notes = []
    if len(definition.objectives) > 1 and pruner_name not in ("none", "halving") and session.pruner:
        notes.append("note: multi-objective studies don't prune (Optuna can't); --pruner ignored.")
    pruner = make_pruner(pruner_name, len(definition.objectives))
    source = plan.source
    if pruner_name == "halving":
        source = halving_source(source, session.halving(), definition.objectives)
    # Commands starting together would otherwise race to create the study.
    with storage.lock(name):
        study = open_study(
            storage.storage,
            name,
            definition,
            sampler=plan.sampler,
            pruner=pruner,
            grows=plan.grows,
        )
    options = RunOptions(
        seeds=definition.seeds,
        params=dict(session.params or {}),
        timeout=session.timeout,
        n_jobs=len(session.device_slots),
        trial_timeout=session.trial_timeout,
        in_process=session.in_process,
        devices=session.device_slots,
        method_args={method: dict(args) for method, args in plan.method_args.items()},
        timed=plan.timed,
    )
    objectives = [o.name for o in definition.objectives]
    bar = progress(definition) if progress else None
    runner = Runner(study, storage, session.task, task, objectives, options, bar)
    outcome = Outcome(
        study=study, definition=definition, storage=storage, new_trials=0, notes=notes
    )
    try:
        outcome.new_trials = runner.run(source)
    except Interrupted as exc:
        exc.outcome = outcome
        raise
    finally:
        outcome.notes += source.notes()
    return outcome
