"""The search commands' core: grid and power-scale spaces turned into points, and run.

Each ``run_*`` function is what one CLI command calls with parsed options; it returns the
:class:`Outcome` so that the caller can report on it. ``compare`` lives in
:mod:`weightsearch.compare`, the options all three share in :mod:`weightsearch.session`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, FloatDistribution, IntDistribution

from weightsearch.compare import DEFAULT_METHODS, run_compare
from weightsearch.errors import WeightsearchError
from weightsearch.points import FixedPoints, Point, PointSource, SampledPoints
from weightsearch.samplers import choose_sampler, make_sampler
from weightsearch.session import Outcome, ProgressFactory, Session, StudyPlan, run_study
from weightsearch.spaces import sum_to_one_grid
from weightsearch.spaces.power_scale import PowerScaleSpace, power_scale_space
from weightsearch.task import load_task

__all__ = [
    "DEFAULT_METHODS",
    "Outcome",
    "ProgressFactory",
    "Session",
    "exponent_param",
    "power_point",
    "run_compare",
    "run_grid",
    "run_power_scale",
    "static_point",
    "suggest_power_point",
    "weight_param",
]


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
    session.start_workers()
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
    definition = session.definition(task, "grid", space)
    points = FixedPoints(
        [static_point(w) for w in weights], session.n_trials, retry_failed=session.retry_failed
    )
    return run_study(session, task, StudyPlan(definition, points), progress)


def static_point(weights: Mapping[str, float]) -> Point:
    """A point that trains with fixed weights; its parameters are the weights, one per loss."""
    key = json.dumps({name: round(w, 12) for name, w in weights.items()}, sort_keys=True)
    return Point(
        key=key,
        weights=dict(weights),
        params={weight_param(name): w for name, w in weights.items()},
        distributions={weight_param(name): FloatDistribution(0.0, 1.0) for name in weights},
    )


def weight_param(loss: str) -> str:
    """The Optuna parameter name that holds a loss's weight (what optuna-dashboard shows)."""
    return f"w_{loss}"


# A sampled search lists the points of a discrete space up to this size, to end when all are
# trained; a larger space is never exhausted by a budget that fits a command anyway.
_LISTED_POINTS = 20_000


def run_power_scale(
    session: Session,
    anchor: str | None = None,
    base: float = 10.0,
    exponents: str | tuple[int, int] = "-3:1",
    sampler: str | None = None,
    continuous: bool = False,
    sampler_seed: int | None = None,
    progress: ProgressFactory | None = None,
) -> Outcome:
    """Run the anchor-one power-scale search on a task (``weightsearch power-scale``).

    The anchor loss keeps weight 1, every other loss gets ``base ** n``. With the grid sampler
    every integer point runs once; a model-based sampler proposes points up to ``--n-trials``.
    """
    session.start_workers()
    task = load_task(session.task)
    try:
        space = power_scale_space(
            task.losses, anchor=anchor, base=base, exponents=exponents, continuous=continuous
        )
        definition = session.definition(task, "power-scale", _power_scale_definition(space))
        chosen = choose_sampler(
            space,
            sampler=sampler,
            n_trials=session.n_trials,
            n_objectives=len(definition.objectives),
        )
    except ValueError as exc:
        raise WeightsearchError(str(exc)) from None
    if chosen != "grid" and session.n_trials is None and session.timeout is None:
        raise WeightsearchError(
            f"--sampler {chosen} needs a budget: give --n-trials N (or --timeout SECONDS)."
        )
    source: PointSource
    grid = None
    if not space.continuous and space.grid_size <= _LISTED_POINTS:
        grid = [power_point(space, e) for e in space.grid()]
    if chosen == "grid":
        assert grid is not None
        source = FixedPoints(grid, session.n_trials, retry_failed=session.retry_failed)
    else:
        source = SampledPoints(
            lambda trial: suggest_power_point(space, trial),
            session.n_trials,
            space=grid,
            retry_failed=session.retry_failed,
        )
    plan = StudyPlan(definition, source, sampler=make_sampler(chosen, sampler_seed))
    return run_study(session, task, plan, progress)


def _power_scale_definition(space: PowerScaleSpace) -> dict[str, Any]:
    return {
        "anchor": space.anchor,
        "base": space.base,
        "exponents": list(space.exponents),
        "continuous": space.continuous,
    }


def power_point(space: PowerScaleSpace, exponents: Mapping[str, float]) -> Point:
    """The point of a power-scale space at ``exponents``: trains with the raw weights.

    Its parameters are the exponents (what the sampler searches). Its weights, normalised to sum
    1 as in grid studies, are user attrs ``w_<loss>`` that optuna-dashboard shows beside them:
    as parameters they would enter the search space that TPE, CMA-ES and GP model, though no
    trial ever suggests them.
    """
    low, high = space.exponents
    raw = space.raw_weights(exponents)
    distribution: BaseDistribution
    if space.continuous:
        distribution = FloatDistribution(float(low), float(high))
    else:
        distribution = IntDistribution(low, high)
    return Point(
        key=json.dumps({name: exponents[name] for name in space.scaled}, sort_keys=True),
        weights=raw,
        params={exponent_param(name): exponents[name] for name in space.scaled},
        distributions={exponent_param(name): distribution for name in space.scaled},
        attrs={weight_param(name): w / sum(raw.values()) for name, w in raw.items()},
    )


def suggest_power_point(space: PowerScaleSpace, trial: optuna.Trial) -> Point:
    """Let the study's sampler choose the exponents of a new trial."""
    low, high = space.exponents
    exponents: dict[str, float] = {}
    for name in space.scaled:
        if space.continuous:
            exponents[name] = trial.suggest_float(exponent_param(name), low, high)
        else:
            exponents[name] = trial.suggest_int(exponent_param(name), low, high)
    return power_point(space, exponents)


def exponent_param(loss: str) -> str:
    """The Optuna parameter name of a loss's exponent in a power-scale study."""
    return f"n_{loss}"
