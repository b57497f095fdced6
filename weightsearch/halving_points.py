"""``--pruner halving``: successive halving (ASHA) over weight points, as a point source.

A point first trains for the lowest rung's steps (``run.report`` calls); the best
``1 / --halving-factor`` of each rung are promoted and retrain from scratch to the next rung's
steps, up to the task's full length. A trial stopped at a rung below the top ends PRUNED with the
user attr ``rung`` (its rung's index) and ``values`` (its metrics at the rung's last report); a
top-rung trial runs to the task's end and is COMPLETE, so the best point is chosen from
full-length results only.

The full length is learned from the study's first COMPLETE trial: the first point of a new study
trains to its end (a top-rung result), and the rungs are computed from its report count and
stored on the study (user attr ``halving``). Nothing lives only in memory: at every claim, under
the study lock, the ladder is rebuilt from the study's trials, so several workers, commands and
machines share one ladder, and a command killed mid-rung resumes without repeating a finished
rung (its lost trial is run again, once).

With a grid every point gets at least the lowest rung; with a sampler, new points come from the
study's sampler at the lowest rung, ``--n-trials`` counting points started (their promotions come
on top). The arithmetic is :mod:`weightsearch.halving`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from weightsearch import records
from weightsearch.errors import WeightsearchError
from weightsearch.halving import Ladder, Promote, Start, make_rungs, next_job
from weightsearch.points import (
    FixedPoints,
    Point,
    PointSource,
    SampledPoints,
    claim_attrs,
    create_running_trial,
)
from weightsearch.study import Objective

SETTINGS_ATTR = records.HALVING

REPEAT_ATTR = "repeat_of"
"""User attr of a trial the sampler proposed for a point already started: answered from the record
(PRUNED, with the point's known value reported), never trained."""

# After this many proposals of known points in a row the sampled space is taken as exhausted.
_MAX_REPEATS = 20
_TAKEN = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)


@dataclass(frozen=True)
class HalvingOptions:
    """``--halving-factor`` and ``--halving-min-steps``, checked when made.

    Attributes:
        factor: the reduction factor (eta): one point in ``factor`` goes up a rung.
        min_steps: steps of the lowest rung (None: half the full length, rounded up; measured in
            benchmarks/cost_results.md: rankings at 1-4 of 16 epochs were far from the final
            ones, at half the length close).

    Raises:
        WeightsearchError: a factor below 2 or a min steps below 1.
    """

    factor: int = 3
    min_steps: int | None = None

    def __post_init__(self) -> None:
        try:
            make_rungs(self.min_steps or 1, self.factor, self.min_steps or 1)
        except ValueError as exc:
            raise WeightsearchError(str(exc)) from None

    def rungs(self, full_steps: int) -> tuple[int, ...]:
        """The rungs for a task of ``full_steps`` reports per run."""
        if full_steps < 1:
            raise WeightsearchError(
                "--pruner halving trains points for a number of run.report steps, but the task's "
                "first trial never called run.report. Call run.report(step, metrics) once per "
                "epoch in the task, or use --pruner none. The command stopped."
            )
        if full_steps < 2:
            raise WeightsearchError(
                "--pruner halving needs a task that reports at least 2 steps, but its first trial "
                "reported 1. Report once per epoch, or use --pruner none. The command stopped."
            )
        min_steps = self.min_steps if self.min_steps is not None else math.ceil(full_steps / 2)
        if min_steps >= full_steps:
            raise WeightsearchError(
                f"--halving-min-steps must be below the task's full length ({full_steps} steps, "
                f"learned from its first trial), but got {min_steps}. Lower it, e.g. "
                f"--halving-min-steps {math.ceil(full_steps / 2)}. The command stopped."
            )
        try:
            return make_rungs(min_steps, self.factor, full_steps)
        except ValueError as exc:
            raise WeightsearchError(str(exc)) from None


def halving_source(
    source: PointSource, options: HalvingOptions, objectives: Sequence[Objective]
) -> HalvingPoints:
    """The halving version of a command's points: a grid's, or a sampler's."""
    if len(objectives) != 1:
        raise WeightsearchError(
            "--pruner halving ranks points by one objective, but "
            f"{len(objectives)} were given. Give one --objective, or use --pruner none."
        )
    if isinstance(source, FixedPoints):
        return HalvingPoints(options, objectives[0], points=source.points, budget=source.budget)
    if isinstance(source, SampledPoints):
        return HalvingPoints(options, objectives[0], suggest=source.suggest, budget=source.budget)
    raise WeightsearchError("--pruner halving works with grid and power-scale only.")


@dataclass
class _Study:
    """What the study's trials say, rebuilt at every claim."""

    ladder: Ladder | None
    started: set[str]
    holders: dict[str, FrozenTrial]
    learning: bool


class HalvingPoints:
    """Hands out rung trials of grid points (``points``) or sampled points (``suggest``).

    Args:
        options: the factor and the lowest rung.
        objective: what the rungs rank points by.
        points: the grid's points, each started once (at the lowest rung).
        suggest: the sampler's way to a new point, when there is no grid.
        budget: at most this many points started (``--n-trials``); None: no limit.
    """

    def __init__(
        self,
        options: HalvingOptions,
        objective: Objective,
        *,
        points: Sequence[Point] | None = None,
        suggest: Callable[[optuna.Trial], Point] | None = None,
        budget: int | None = None,
    ) -> None:
        self.options = options
        self.objective = objective
        self.points = list(points) if points is not None else None
        self.suggest = suggest
        self.budget = budget
        # (point, rung) this command claimed: a failed rung runs again in a later command only.
        self._tried: set[tuple[str, int | None]] = set()
        self._exhausted = False
        self._notes: list[str] = []

    def notes(self) -> list[str]:
        return list(self._notes)

    def total(self, study: optuna.Study) -> int:
        if self.points is None:
            return self.budget or 0
        return len(self.points) if self.budget is None else min(self.budget, len(self.points))

    def pending(self, study: optuna.Study) -> bool:
        state = self._read(study)
        if state.ladder is None:
            return not state.learning
        job = next_job(
            state.ladder.rungs,
            state.ladder.results,
            state.ladder.promoted,
            reduction_factor=self.options.factor,
            direction=self.objective.direction,
            can_start=self._can_start(state),
        )
        return job is not None

    def claim(
        self, study: optuna.Study, owner: dict[str, Any]
    ) -> tuple[optuna.Trial, Point] | None:
        state = self._read(study)
        if state.ladder is None:
            if state.learning or not self._can_start(state):
                return None  # the first trial is learning the full length: wait for it
            return self._start(study, owner, state, rung=None, steps=None)
        job = state.ladder.next_job(can_start=self._can_start(state))
        top = len(state.ladder.rungs) - 1
        if isinstance(job, Start):
            return self._start(study, owner, state, rung=0, steps=job.steps)
        if isinstance(job, Promote):
            holder = state.holders[job.point]
            point = Point(
                key=job.point,
                weights=records.weights(holder),
                params=dict(holder.params),
                distributions=dict(holder.distributions),
                rung=job.rung,
                max_steps=None if job.rung == top else job.steps,
            )
            self._tried.add((point.key, job.rung))
            return create_running_trial(study, point, owner), point
        return None

    def _can_start(self, state: _Study) -> bool:
        if self._exhausted:
            return False
        if self.budget is not None and len(state.started) >= self.budget:
            return False
        return self.points is None or self._unstarted(state) is not None

    def _unstarted(self, state: _Study) -> Point | None:
        assert self.points is not None
        return next(
            (
                p
                for p in self.points
                if p.key not in state.started
                and (p.key, 0) not in self._tried
                and (p.key, None) not in self._tried
            ),
            None,
        )

    def _start(
        self,
        study: optuna.Study,
        owner: dict[str, Any],
        state: _Study,
        *,
        rung: int | None,
        steps: int | None,
    ) -> tuple[optuna.Trial, Point] | None:
        """A new point at the lowest rung (or, rung None, the first one, to its full length)."""
        if self.points is not None:
            base = self._unstarted(state)
            if base is None:
                return None
            point = Point(
                base.key, base.weights, base.params, base.distributions, rung=rung, max_steps=steps
            )
            self._tried.add((point.key, rung))
            return create_running_trial(study, point, owner), point
        assert self.suggest is not None
        for _ in range(_MAX_REPEATS):
            trial = study.ask()
            proposed = self.suggest(trial)
            if proposed.key not in state.started:
                point = Point(
                    proposed.key,
                    proposed.weights,
                    proposed.params,
                    proposed.distributions,
                    rung=rung,
                    max_steps=steps,
                )
                for key, value in claim_attrs(point, owner).items():
                    trial.set_user_attr(key, value)
                self._tried.add((point.key, rung))
                return trial, point
            self._answer_repeat(study, trial, state, proposed.key)
        self._exhausted = True
        self._notes.append(
            f"note: the sampler proposed only points already started, {_MAX_REPEATS} times in a "
            "row, so halving started no more points (gp and cmaes learn from full-length results "
            "only; --sampler tpe learns from every rung)."
        )
        return None

    def _answer_repeat(
        self, study: optuna.Study, trial: optuna.Trial, state: _Study, key: str
    ) -> None:
        """Tell the sampler what a known point gave, without training it again."""
        holder = state.holders.get(key)
        trial.set_user_attr(REPEAT_ATTR, holder.number if holder is not None else None)
        rung = state.ladder.highest_rung(key) if state.ladder is not None else None
        if state.ladder is not None and rung is not None:
            trial.report(state.ladder.results[rung][key], state.ladder.rungs[rung])
        study.tell(trial, state=TrialState.PRUNED)

    def _read(self, study: optuna.Study) -> _Study:
        trials = [t for t in study.get_trials(deepcopy=False) if records.point_key(t) is not None]
        rungs = self._rungs(study, trials)
        state = _Study(ladder=None, started=set(), holders={}, learning=False)
        for trial in trials:
            key = records.point_key(trial)
            assert key is not None
            if trial.state in _TAKEN:
                state.started.add(key)
                state.holders.setdefault(key, trial)
            if trial.state == TrialState.RUNNING and records.rung(trial) is None:
                state.learning = True
        if rungs is not None:
            state.ladder = self._ladder(trials, rungs)
        return state

    def _rungs(self, study: optuna.Study, trials: list[FrozenTrial]) -> tuple[int, ...] | None:
        """The study's rungs: stored, or learned from its first COMPLETE trial and stored."""
        stored = study.user_attrs.get(SETTINGS_ATTR)
        wanted = {"factor": self.options.factor, "min_steps": self.options.min_steps}
        if isinstance(stored, dict):
            if {k: stored.get(k) for k in wanted} != wanted:
                raise WeightsearchError(
                    f"study {study.study_name!r} runs halving with --halving-factor "
                    f"{stored.get('factor')} and --halving-min-steps "
                    f"{stored.get('min_steps') or 'default'} (rungs of "
                    f"{', '.join(map(str, stored.get('rungs', [])))} steps). Give the same "
                    "options, or start a new study with --study NAME."
                )
            return tuple(int(r) for r in stored["rungs"])
        full = next(
            (
                records.run_info(t).get("reports")
                for t in trials
                if t.state == TrialState.COMPLETE and "reports" in records.run_info(t)
            ),
            None,
        )
        if full is None:
            return None
        rungs = self.options.rungs(int(full))
        study.set_user_attr(SETTINGS_ATTR, {**wanted, "full_steps": int(full), "rungs": rungs})
        return rungs

    def _ladder(self, trials: list[FrozenTrial], rungs: tuple[int, ...]) -> Ladder:
        """The ladder the trials describe: results per rung, and promotions taken or running."""
        ladder = Ladder(rungs, self.options.factor, self.objective.direction)
        top = len(rungs) - 1
        for trial in trials:
            key = records.point_key(trial)
            assert key is not None
            rung = records.rung(trial)
            reached = top if rung is None else min(rung, top)
            stopped = trial.state == TrialState.PRUNED and rung is not None
            if trial.state == TrialState.COMPLETE or stopped:
                value = records.values(trial).get(self.objective.name, math.nan)
                ladder.record(key, reached, value)
            if trial.state in _TAKEN:
                for lower in range(reached):
                    ladder.promoted[lower].add(key)
        for key, rung in self._tried:
            for lower in range(top if rung is None else min(rung, top)):
                ladder.promoted[lower].add(key)
        return ladder
