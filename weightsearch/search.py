"""The running commands' core: build a search space, open its study, run it.

Each function here is what one CLI command calls with parsed options; it returns the study so
that the caller can report on it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.distributions import FloatDistribution

from weightsearch.errors import WeightsearchError
from weightsearch.runner import FixedPoints, Interrupted, Point, Progress, Runner, RunOptions
from weightsearch.spaces import sum_to_one_grid
from weightsearch.storage import mask_password, open_storage, resolve_url
from weightsearch.study import Objective, StudyDefinition, open_study
from weightsearch.task import Task, load_task, task_stem

PRUNERS = ("none", "median", "hyperband")
ProgressFactory = Callable[[StudyDefinition], Progress]


@dataclass
class Session:
    """Where and how a command runs: shared by grid, power-scale and compare.

    Attributes:
        task: the task reference as the user gave it.
        study: the study name (None: ``<task stem>-<kind>``).
        storage: the storage URL (None: ``$WEIGHTSEARCH_STORAGE`` or the default SQLite file).
        objectives: metric names to optimise (empty: the task's first metric).
        seeds: how many seeds each point runs with (seeds 0..N-1).
        n_trials: at most this many new trials in this command.
        timeout: no new trial starts after this many seconds.
        pruner: ``none``, ``median`` or ``hyperband`` (None: the command's default).
        params: ``--param`` values for ``run.params``.
    """

    task: str
    study: str | None = None
    storage: str | None = None
    objectives: Sequence[str] = ()
    seeds: int = 1
    n_trials: int | None = None
    timeout: float | None = None
    pruner: str | None = None
    params: Mapping[str, Any] | None = None


@dataclass
class Outcome:
    """A finished (or stopped) command: the study to report on, and what it was."""

    study: optuna.Study
    definition: StudyDefinition
    storage_url: str
    new_trials: int

    @property
    def shown_storage(self) -> str:
        return mask_password(self.storage_url)


def run_grid(
    session: Session,
    multipliers: Sequence[float],
    vary: Sequence[str] | None = None,
    base: Mapping[str, float] | None = None,
    progress: ProgressFactory | None = None,
) -> Outcome:
    """Run the sum-to-one multiplier grid on a task (``weightsearch grid``).

    Every distinct weight vector runs once, with every seed; re-running resumes.
    """
    task = load_task(session.task)
    try:
        weights = sum_to_one_grid(task.losses, multipliers, vary=vary, base=base)
    except ValueError as exc:
        raise WeightsearchError(str(exc)) from None
    space = {
        "multipliers": list(multipliers),
        "vary": list(vary) if vary else list(task.losses),
        "base": dict(base) if base else dict.fromkeys(task.losses, 1.0),
    }
    points = [static_point(w) for w in weights]
    return _run_points(
        session, task, "grid", space, points, default_pruner="none", progress=progress
    )


def static_point(weights: Mapping[str, float], attrs: Mapping[str, Any] | None = None) -> Point:
    """A point that trains with fixed weights; its parameters are the weights, one per loss."""
    key = json.dumps({name: round(w, 12) for name, w in weights.items()}, sort_keys=True)
    return Point(
        key=key,
        weights=dict(weights),
        params={weight_param(name): w for name, w in weights.items()},
        distributions={weight_param(name): FloatDistribution(0.0, 1.0) for name in weights},
        attrs=dict(attrs or {}),
    )


def weight_param(loss: str) -> str:
    """The Optuna parameter name that holds a loss's weight (what optuna-dashboard shows)."""
    return f"w_{loss}"


def _run_points(
    session: Session,
    task: Task,
    kind: str,
    space: dict[str, Any],
    points: Sequence[Point],
    default_pruner: str,
    progress: ProgressFactory | None,
) -> Outcome:
    definition = make_definition(session, task, kind, space)
    url = resolve_url(session.storage)
    storage = open_storage(url)
    name = session.study or f"{task_stem(session.task)}-{kind}"
    study = open_study(
        storage, name, definition, pruner=make_pruner(session.pruner or default_pruner, definition)
    )
    options = RunOptions(
        seeds=definition.seeds,
        params=dict(session.params or {}),
        n_trials=session.n_trials,
        timeout=session.timeout,
    )
    objectives = [o.name for o in definition.objectives]
    bar = progress(definition) if progress else None
    runner = Runner(study, url, storage, task, objectives, options, bar)
    try:
        new = runner.run(FixedPoints(points))
    except Interrupted as exc:
        exc.outcome = Outcome(study=study, definition=definition, storage_url=url, new_trials=0)
        raise
    return Outcome(study=study, definition=definition, storage_url=url, new_trials=new)


def make_definition(
    session: Session, task: Task, kind: str, space: dict[str, Any]
) -> StudyDefinition:
    """The definition a command's study must hold; checks objectives and seeds."""
    names = list(session.objectives) or [next(iter(task.metrics))]
    unknown = [n for n in names if n not in task.metrics]
    if unknown:
        raise WeightsearchError(
            f"--objective must be a metric the task declares, but got {', '.join(unknown)}. "
            f"The task's metrics are: {', '.join(task.metrics)}."
        )
    if len(set(names)) != len(names):
        raise WeightsearchError(f"--objective names a metric twice: {', '.join(names)}.")
    if session.seeds < 1:
        raise WeightsearchError(f"--seeds must be at least 1, but got {session.seeds}.")
    return StudyDefinition(
        kind=kind,
        task=f"{task_stem(session.task)}:{task.name}",
        losses=task.losses,
        objectives=tuple(Objective(n, task.metrics[n]) for n in names),
        space=space,
        seeds=tuple(range(session.seeds)),
        metrics=dict(task.metrics),
    )


def make_pruner(name: str, definition: StudyDefinition) -> optuna.pruners.BasePruner:
    """The Optuna pruner for ``--pruner``; multi-objective studies never prune."""
    if name not in PRUNERS:
        raise WeightsearchError(f"--pruner must be one of {', '.join(PRUNERS)}, but got {name!r}.")
    if name == "none" or len(definition.objectives) > 1:
        return optuna.pruners.NopPruner()
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1)
    return optuna.pruners.HyperbandPruner()
