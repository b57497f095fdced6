"""Replay searches over a cost table (``cost_table.py``) with real Optuna samplers and pruners.

Every grid point's learning curve is in the table, so a trial at point p that runs s steps has
the value ``curve[p][s - 1]`` and costs s steps: no training happens here. The samplers
(``tpe``: TPESampler(multivariate=True), weightsearch's ``tpe``; ``tpe-uni``: TPESampler() as
weightsearch made it before round 2; ``gp``; ``cmaes``; ``random``; ``grid``: the grid in a
random order) run on an in-memory study with a pruner: ``none``, ``median``
(MedianPruner(n_startup_trials=5, n_warmup_steps=1), as ``samplers.make_pruner`` configures
it), ``sha`` (SuccessiveHalvingPruner()), ``hyperband``
(HyperbandPruner()), or ``halving``: weightsearch.halving's ASHA ladder, which asks the sampler
for each new point at the lowest rung, tells it that rung's value, and retrains promoted points
from scratch to the next rung (a promotion is not told to the sampler).

The target ("the bar"), for a minimised metric: a full-length value <= max(best + 0.02 * |best|,
the value of the ceil(2% of the points)-th best point), whichever is looser (larger). A run
stops when it reaches the bar at full length, when it has spent its budget of steps, or when
the sampler keeps proposing known points (``STUCK`` in a row). A proposal of a point already
trained is answered from the record: told to the sampler at no cost (counted as ``repeats``,
what a search without that would have retrained).
"""

from __future__ import annotations

import math
import random
import warnings
from dataclasses import dataclass
from typing import Any

import optuna

from weightsearch.halving import Ladder, Promote, make_rungs

SAMPLERS = ("grid", "random", "tpe", "tpe-uni", "cmaes", "gp")
STUCK = 50  # proposals of known points in a row that end a run
HALVING = {"halving": (1, 3), "halving-4x2": (4, 2)}  # (min_steps, reduction_factor)
PRUNERS = ("none", "median", "sha", "hyperband", *HALVING)


@dataclass(frozen=True)
class Truth:
    """A cost table as the simulator needs it."""

    names: tuple[str, ...]  # parameter names
    params: list[tuple[int, ...]]  # per point, its integer parameters
    curves: list[list[float]]
    bar: float
    best: float

    @property
    def epochs(self) -> int:
        return len(self.curves[0])

    @property
    def grid_cost(self) -> int:
        return len(self.curves) * self.epochs

    def near(self, point: int) -> bool:
        return self.curves[point][-1] <= self.bar


def truth_of(table: dict[str, Any], tolerance: float = 0.02, top: float = 0.02) -> Truth:
    """The bar of a table: within ``tolerance`` of the best or in the top ``top`` fraction."""
    names = tuple(table["points"][0]["params"])
    params = [tuple(int(p["params"][n]) for n in names) for p in table["points"]]
    curves = [p["curve"] for p in table["points"]]
    finals = sorted(c[-1] for c in curves)
    best = finals[0]
    top_value = finals[max(1, math.ceil(top * len(finals))) - 1]
    return Truth(names, params, curves, max(best + tolerance * abs(best), top_value), best)


@dataclass
class Outcome:
    """One simulated search."""

    cost_to_bar: int | None  # steps spent when a full-length point first met the bar
    spent: int
    trials: int  # trainings run (a promotion is one)
    completed: int  # trainings that ran to full length
    killed: int  # near-best points stopped short of full length
    repeats: int  # proposals of an already-trained point, answered from the record


def make_sampler(name: str, seed: int) -> optuna.samplers.BaseSampler:
    if name in ("tpe", "tpe-uni"):
        return optuna.samplers.TPESampler(seed=seed, multivariate=name == "tpe")
    if name == "gp":
        return optuna.samplers.GPSampler(seed=seed)
    if name == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed)
    return optuna.samplers.RandomSampler(seed=seed)


def make_pruner(name: str) -> optuna.pruners.BasePruner:
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1)
    if name == "sha":
        return optuna.pruners.SuccessiveHalvingPruner()
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner()
    return optuna.pruners.NopPruner()


class Proposer:
    """New points: the grid in a seeded random order, or an Optuna sampler's proposals."""

    def __init__(self, truth: Truth, sampler: str, study: optuna.Study, seed: int) -> None:
        self.truth, self.study = truth, study
        self.index = {p: i for i, p in enumerate(truth.params)}
        self.order: list[int] | None = None
        if sampler == "grid":
            self.order = list(range(len(truth.params)))
            random.Random(seed).shuffle(self.order)
        low = min(min(p) for p in truth.params)
        high = max(max(p) for p in truth.params)
        self.distribution = optuna.distributions.IntDistribution(low, high)
        self.known: set[int] = set()

    def exhausted(self) -> bool:
        """Whether every point has been proposed: a discrete space's search ends there."""
        return len(self.known) == len(self.truth.params)

    def ask(self) -> tuple[optuna.trial.Trial, int]:
        if self.order is not None:
            point = self.order.pop()
            fixed = dict(zip(self.truth.names, self.truth.params[point], strict=True))
            self.study.enqueue_trial(fixed)
        trial = self.study.ask()
        values = tuple(trial.suggest_int(n, *self._range()) for n in self.truth.names)
        point = self.index[values]
        self.known.add(point)
        return trial, point

    def _range(self) -> tuple[int, int]:
        return self.distribution.low, self.distribution.high


def run_pruned(
    truth: Truth, sampler: str, pruner: str, seed: int, budget: int, max_trials: int
) -> Outcome:
    """One search with an Optuna pruner (or none): each trial reports every step."""
    study = optuna.create_study(sampler=make_sampler(sampler, seed), pruner=make_pruner(pruner))
    proposer = Proposer(truth, sampler, study, seed)
    out = Outcome(None, 0, 0, 0, 0, 0)
    record: dict[int, int] = {}  # point -> steps it ran (pruned) or full length
    stuck = 0
    while (
        out.spent < budget
        and out.trials < max_trials
        and not proposer.exhausted()
        and stuck < STUCK
    ):
        trial, point = proposer.ask()
        if point in record:  # answered from the record, at no cost
            out.repeats += 1
            stuck += 1
            _replay(study, trial, truth.curves[point], record[point], truth.epochs)
            continue
        stuck = 0
        out.trials += 1
        curve = truth.curves[point]
        for step, value in enumerate(curve):
            trial.report(value, step)
            out.spent += 1
            if step + 1 < len(curve) and trial.should_prune():
                record[point] = step + 1
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                out.killed += truth.near(point)
                break
        else:
            record[point] = len(curve)
            study.tell(trial, curve[-1])
            out.completed += 1
            if truth.near(point):
                out.cost_to_bar = out.spent
                break
    return out


def _replay(study: optuna.Study, trial: Any, curve: list[float], steps: int, full: int) -> None:
    for step in range(steps):
        trial.report(curve[step], step)
    if steps == full:
        study.tell(trial, curve[-1])
    else:
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)


def run_halving(
    truth: Truth, sampler: str, halving: str, seed: int, budget: int, max_trials: int
) -> Outcome:
    """One search with weightsearch.halving's ASHA ladder; new points come from the sampler."""
    min_steps, eta = HALVING[halving]
    rungs = make_rungs(min_steps, eta, truth.epochs)
    ladder = Ladder(rungs, eta, "minimize")
    study = optuna.create_study(sampler=make_sampler(sampler, seed))
    proposer = Proposer(truth, sampler, study, seed)
    out = Outcome(None, 0, 0, 0, 0, 0)
    stuck = 0
    while out.spent < budget and out.trials < max_trials and stuck < STUCK:
        job = ladder.next_job(can_start=not proposer.exhausted())
        if job is None:
            break
        if isinstance(job, Promote):
            point, rung = int(job.point), job.rung
        else:
            trial, point = proposer.ask()
            rung = 0
            if ladder.highest_rung(str(point)) is not None:
                out.repeats += 1
                stuck += 1
                study.tell(trial, ladder.results[0][str(point)])
                continue
            stuck = 0
            study.tell(trial, truth.curves[point][job.steps - 1])
        out.trials += 1
        out.spent += job.steps
        ladder.record(str(point), rung, truth.curves[point][job.steps - 1])
        if rung == len(rungs) - 1:
            out.completed += 1
            if truth.near(point):
                out.cost_to_bar = out.spent
                break
    out.killed = _dropped_near(truth, ladder)
    return out


def _dropped_near(truth: Truth, ladder: Ladder) -> int:
    """Near-best points below the top rung that the ladder would not promote now."""
    dropped = 0
    top = len(ladder.rungs) - 1
    for rung in range(top):
        quota = len(ladder.results[rung]) // ladder.reduction_factor
        ranked = sorted(ladder.results[rung], key=ladder.results[rung].__getitem__)[:quota]
        for point in ladder.results[rung]:
            if (
                truth.near(int(point))
                and ladder.highest_rung(point) == rung
                and point not in ranked
            ):
                dropped += 1
    return dropped


def simulate(
    truth: Truth, sampler: str, pruner: str, seed: int, budget_ratio: float, max_trials: int
) -> Outcome:
    """One search of at most ``budget_ratio`` times the grid's cost and ``max_trials`` trainings."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    budget = math.ceil(budget_ratio * truth.grid_cost)
    if pruner in HALVING:
        return run_halving(truth, sampler, pruner, seed, budget, max_trials)
    return run_pruned(truth, sampler, pruner, seed, budget, max_trials)
