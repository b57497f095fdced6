"""Points of a search space and how a command claims the next one to run.

A point is what one trial runs (weights, method, seeds) with the Optuna parameters it shows. A
:class:`PointSource` hands out the next point under the study lock: :class:`FixedPoints` from a
known list (a grid, compare's method x seed pairs), :class:`SampledPoints` from the study's
sampler. A claimed point's trial is RUNNING from the moment it exists.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import optuna
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial, TrialState

from weightsearch import records
from weightsearch.optuna_internals import create_trial


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
        attrs: user attrs the trial shows besides its parameters (values that are no part of
            the sampler's search space, such as a power-scale point's weights).
    """

    key: str
    weights: dict[str, float]
    params: dict[str, Any]
    distributions: dict[str, BaseDistribution]
    method: str = "static"
    seeds: tuple[int, ...] | None = None
    attrs: dict[str, Any] = field(default_factory=dict)


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
        for key, value in claim_attrs(point, owner).items():
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
        user_attrs=claim_attrs(point, owner),
        system_attrs={},
        intermediate_values={},
        trial_id=-1,
    )
    return create_trial(study, template)


def claim_attrs(point: Point, owner: dict[str, Any]) -> dict[str, Any]:
    """The user attrs that mark a trial as a point's, claimed by ``owner``."""
    return {
        **point.attrs,
        records.WEIGHTS: dict(point.weights),
        records.CLAIM: {"point": point.key, **owner},
    }
