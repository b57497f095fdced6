"""Points of a search space and how a command claims the next one to run.

A point is what one trial runs (weights, method, seeds) with the Optuna parameters it shows. A
:class:`PointSource` hands out the next point under the study lock: :class:`FixedPoints` from a
known list (a grid, compare's method x seed pairs), :class:`SampledPoints` from the study's
sampler. A claimed point's trial is RUNNING from the moment it exists.

No point is trained twice with the same seeds (a study's seeds are fixed by its definition, so
a point's key names them). A point is *taken* when a trial trained it (COMPLETE, PRUNED), trains
it (RUNNING), or failed at it; a trial lost to a crash or Ctrl-C does not take its point, and a
failed point is trained again only with ``retry_failed`` (once per command). A sampler's
proposal of a taken point is answered from the record (:func:`answer_from_record`): its trial
ends at once with the recorded outcome and ``repeat_of``, costs no training and does not count
against the budget.
"""

from __future__ import annotations

import datetime
import random
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
        rung: the ``--pruner halving`` rung this trial trains to (None: no halving), written on
            the trial as the user attr ``rung`` when it is claimed.
        max_steps: stop training after this many ``run.report`` steps (None: run to the end).
        attrs: user attrs the trial shows besides its parameters (values that are no part of
            the sampler's search space, such as a power-scale point's weights).
    """

    key: str
    weights: dict[str, float]
    params: dict[str, Any]
    distributions: dict[str, BaseDistribution]
    method: str = "static"
    seeds: tuple[int, ...] | None = None
    rung: int | None = None
    max_steps: int | None = None
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

    def notes(self) -> list[str]:
        """Lines for the user about what was not run, once the command is done."""
        ...


def spent_trials(study: optuna.Study) -> int:
    """Trials that count against ``--n-trials``: those that trained (or tried to); not those lost
    to a crash or Ctrl-C, nor proposals answered from the record."""
    return sum(
        1
        for t in study.get_trials(deepcopy=False)
        if not t.user_attrs.get(records.LOST) and records.REPEAT not in t.user_attrs
    )


_RANK = {TrialState.COMPLETE: 0, TrialState.PRUNED: 1, TrialState.RUNNING: 2, TrialState.FAIL: 3}


def point_records(study: optuna.Study) -> dict[str, FrozenTrial]:
    """Per taken point, the trial that stands for it: COMPLETE before PRUNED before RUNNING
    before FAIL, the earliest of a state. Lost trials and answered proposals are left out."""
    found: dict[str, FrozenTrial] = {}
    for trial in study.get_trials(deepcopy=False, states=tuple(_RANK)):
        key = records.point_key(trial)
        if key is None or trial.user_attrs.get(records.LOST) or records.REPEAT in trial.user_attrs:
            continue
        known = found.get(key)
        if known is None or _RANK[trial.state] < _RANK[known.state]:
            found[key] = trial
    return found


def failed_note(count: int) -> list[str]:
    if not count:
        return []
    return [
        f"note: {count} point(s) failed in an earlier trial and were not run again; pass "
        "--retry-failed to run them again (after fixing the task)."
    ]


class FixedPoints:
    """A known list of points (a grid, or compare's method x seed pairs): each runs once.

    A point is run unless taken (see the module's doc): a point whose earlier trials all failed
    is run again only with ``retry_failed``, once per command.

    Args:
        points: the points, in the order they run.
        budget: at most this many trials in the whole study (``--n-trials``); None: no limit.
        retry_failed: run a point again whose earlier trials all failed.
    """

    def __init__(
        self, points: Sequence[Point], budget: int | None = None, retry_failed: bool = False
    ) -> None:
        self.points = list(points)
        self.budget = budget
        self.retry_failed = retry_failed
        self._tried: set[str] = set()
        self._failed = 0

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

    def notes(self) -> list[str]:
        return failed_note(self._failed)

    def _next(self, study: optuna.Study) -> Point | None:
        if self.budget is not None and spent_trials(study) >= self.budget:
            return None
        known = point_records(study)
        taken = {
            key
            for key, trial in known.items()
            if trial.state != TrialState.FAIL or not self.retry_failed
        }
        taken |= self._tried
        failed = {k for k, t in known.items() if t.state == TrialState.FAIL} - self._tried
        self._failed = 0 if self.retry_failed else len(failed & {p.key for p in self.points})
        return next((p for p in self.points if p.key not in taken), None)


class SampledPoints:
    """Points proposed by the study's sampler (TPE, CMA-ES, GP, random), up to a trial budget.

    A proposal of a taken point is answered from the record (see the module's doc) and the
    sampler asked again; after ``STUCK`` such answers in a row, the proposal is replaced by an
    untaken point of ``space`` chosen at random (with no ``space``, the search ends). A discrete
    space whose every point is taken ends the search with a note.

    Args:
        suggest: turns a new trial into a point by calling its ``suggest_*`` methods.
        budget: at most this many trials that train in the whole study; None: until the timeout.
        space: every point of a discrete space (None: a continuous one).
        retry_failed: train a proposed point again whose earlier trials all failed.
    """

    STUCK = 10

    def __init__(
        self,
        suggest: Callable[[optuna.Trial], Point],
        budget: int | None,
        space: Sequence[Point] | None = None,
        retry_failed: bool = False,
    ) -> None:
        self.suggest = suggest
        self.budget = budget
        self.space = list(space) if space is not None else None
        self.retry_failed = retry_failed
        self._tried: set[str] = set()
        self._notes: list[str] = []
        self._failed: set[str] = set()

    def total(self, study: optuna.Study) -> int:
        size = len(self.space) if self.space is not None else None
        if self.budget is None:
            return size or 0
        return self.budget if size is None else min(self.budget, size)

    def pending(self, study: optuna.Study) -> bool:
        within = self.budget is None or spent_trials(study) < self.budget
        return within and not self._exhausted(point_records(study))

    def notes(self) -> list[str]:
        return self._notes or failed_note(len(self._failed))

    def claim(
        self, study: optuna.Study, owner: dict[str, Any]
    ) -> tuple[optuna.Trial, Point] | None:
        for _ in range(self.STUCK):
            if self.budget is not None and spent_trials(study) >= self.budget:
                return None
            known = point_records(study)
            if self._exhausted(known):
                return None
            trial = study.ask()
            point = self.suggest(trial)
            record = known.get(point.key)
            if record is None or self._retry(record):
                for key, value in claim_attrs(point, owner).items():
                    trial.set_user_attr(key, value)
                self._tried.add(point.key)
                return trial, point
            if record.state == TrialState.FAIL:
                self._failed.add(point.key)
            answer_from_record(study, trial, point, record, owner)
        return self._replace(study, owner)

    def _retry(self, record: FrozenTrial) -> bool:
        key = records.point_key(record)
        return record.state == TrialState.FAIL and self.retry_failed and key not in self._tried

    def _untaken(self, known: dict[str, FrozenTrial]) -> list[Point]:
        assert self.space is not None
        return [p for p in self.space if p.key not in known or self._retry(known[p.key])]

    def _exhausted(self, known: dict[str, FrozenTrial]) -> bool:
        if self.space is None or self._untaken(known):
            return False
        failed = sum(1 for t in known.values() if t.state == TrialState.FAIL)
        retry = f" ({failed} failed: pass --retry-failed to train them again)" if failed else ""
        self._notes = [
            f"note: all {len(self.space)} points of the space are trained{retry}; the search "
            "ends before its budget. Widen the space to search further."
        ]
        self._failed.clear()
        return True

    def _replace(
        self, study: optuna.Study, owner: dict[str, Any]
    ) -> tuple[optuna.Trial, Point] | None:
        """A point the sampler does not propose, after it proposed only taken ones."""
        untaken = self._untaken(point_records(study)) if self.space is not None else []
        if not untaken:
            self._notes = [
                f"note: the sampler proposed only trained points {self.STUCK} times in a row; "
                "the search ends here."
            ]
            return None
        point = random.Random(len(study.get_trials(deepcopy=False))).choice(untaken)
        self._tried.add(point.key)
        return create_running_trial(study, point, owner), point


def answer_from_record(
    study: optuna.Study,
    trial: optuna.Trial,
    point: Point,
    record: FrozenTrial,
    owner: dict[str, Any],
) -> None:
    """End ``trial``, a proposal of ``record``'s point, with ``record``'s outcome: no training.

    The sampler sees the point's value again (COMPLETE), or its last reported value (PRUNED);
    a point that failed, or that another trial is training now, is told as a failure, which
    samplers skip.
    """
    for key, value in {**claim_attrs(point, owner), records.REPEAT: record.number}.items():
        trial.set_user_attr(key, value)
    if record.state == TrialState.COMPLETE and record.values is not None:
        trial.set_user_attr(records.VALUES, records.values(record))
        study.tell(trial, list(record.values))
        return
    if record.state == TrialState.PRUNED:
        if record.intermediate_values:
            step = max(record.intermediate_values)
            trial.report(record.intermediate_values[step], step)
        study.tell(trial, state=TrialState.PRUNED)
        return
    doing = "failed at" if record.state == TrialState.FAIL else "is training"
    trial.set_user_attr(records.ERROR, f"not trained again: trial {record.number} {doing} it")
    study.tell(trial, state=TrialState.FAIL)


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
    """The user attrs that mark a trial as a point's, claimed by ``owner`` (and its rung)."""
    attrs: dict[str, Any] = {
        **point.attrs,
        records.WEIGHTS: dict(point.weights),
        records.CLAIM: {"point": point.key, **owner},
    }
    if point.rung is not None:
        attrs[records.RUNG] = point.rung
    return attrs
