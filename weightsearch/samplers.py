"""Optuna samplers and pruners: every name the CLI accepts, their rules, and their making.

``--sampler`` (power-scale) and ``--pruner`` (grid, power-scale) are checked and turned into Optuna
objects here and nowhere else; the search spaces themselves (:mod:`weightsearch.spaces`) know
nothing of Optuna.

Example:
    >>> from weightsearch.spaces.power_scale import power_scale_space
    >>> space = power_scale_space(("cls", "box"), exponents="-1:1")
    >>> choose_sampler(space, sampler=None, n_trials=None)
    'grid'
"""

from __future__ import annotations

import importlib.util
import warnings

import optuna

from weightsearch.errors import WeightsearchError
from weightsearch.spaces.power_scale import PowerScaleSpace

SAMPLERS = ("grid", "tpe", "cmaes", "gp", "random")
"""Sampler names accepted by `choose_sampler`, in the order the CLI lists them."""

PRUNERS = ("none", "median", "hyperband", "halving")
"""Pruner names accepted by `make_pruner`; ``halving`` is :mod:`weightsearch.halving_points`."""

# Optuna's CmaEsSampler refuses multi-objective studies; the others accept them.
_MULTI_OBJECTIVE_SAMPLERS = ("grid", "tpe", "gp", "random")


def choose_sampler(
    space: PowerScaleSpace,
    *,
    sampler: str | None,
    n_trials: int | None,
    n_objectives: int = 1,
) -> str:
    """Return the sampler to use: the one asked for, checked, or the default.

    The default is `grid` when the integer grid has at most `n_trials` points or no trial
    budget is given (the grid then runs exhaustively), and `tpe` otherwise or when the space
    is continuous (a grid cannot enumerate real exponents).

    Args:
        space: The space to search; its `continuous` flag matters.
        sampler: One of `SAMPLERS`, or None for the default.
        n_trials: Trial budget, or None for none.
        n_objectives: Number of objectives; CMA-ES only handles one.

    Raises:
        ValueError: If the sampler is unknown, `grid` is asked for a continuous space,
            `cmaes` for several objectives, or `n_trials` is below 1.
    """
    if n_trials is not None and n_trials < 1:
        raise ValueError(
            f"--n-trials must be a positive integer, but got {n_trials}. Example: --n-trials 20"
        )
    if sampler is None:
        if space.continuous:
            return "tpe"
        return "grid" if n_trials is None or space.grid_size <= n_trials else "tpe"
    if sampler not in SAMPLERS:
        raise ValueError(
            f"--sampler must be one of {', '.join(SAMPLERS)}, but got {sampler!r}. "
            "Example: --sampler tpe"
        )
    if sampler == "grid" and space.continuous:
        raise ValueError(
            "--continuous needs a sampler that proposes real numbers (tpe, cmaes, gp, random), "
            "but got --sampler grid. Drop --continuous to search the integer grid, or pick "
            "--sampler tpe."
        )
    if n_objectives > 1 and sampler not in _MULTI_OBJECTIVE_SAMPLERS:
        raise ValueError(
            f"--sampler {sampler} handles a single objective, but {n_objectives} objectives "
            f"were given. Use one of {', '.join(_MULTI_OBJECTIVE_SAMPLERS)}, or one --objective."
        )
    return sampler


def make_sampler(name: str, seed: int | None = None) -> optuna.samplers.BaseSampler:
    """The Optuna sampler behind ``--sampler``; grid points are handed out by the runner.

    ``tpe`` is multivariate: on the benchmarks' tasks (benchmarks/cost_results.md) it reached
    the grid's best at K = 3..6 losses reliably, where independent TPE with the median pruner
    reached it in half the runs.
    """
    if name == "grid":
        # The runner creates grid trials with their parameters already set; nothing to sample.
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "tpe":
        with warnings.catch_warnings():  # multivariate is "experimental" since Optuna 2.2
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.TPESampler(seed=seed, multivariate=True)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "gp":
        return optuna.samplers.GPSampler(seed=seed)
    if importlib.util.find_spec("cmaes") is None:
        raise WeightsearchError(
            "--sampler cmaes needs the cmaes package, which is not installed. "
            "Install it: pip install cmaes"
        )
    return optuna.samplers.CmaEsSampler(seed=seed)


def make_pruner(name: str, n_objectives: int = 1) -> optuna.pruners.BasePruner:
    """The Optuna pruner for ``--pruner``; multi-objective studies never prune (Optuna can't).

    Every command's default is ``none``: measured on the benchmarks' tasks, the median pruner
    stopped points whose final value was within 2% of the best (learning curves cross late),
    and GP and CMA-ES learn nothing from a pruned trial, so pruning starved them.
    """
    if name not in PRUNERS:
        raise WeightsearchError(f"--pruner must be one of {', '.join(PRUNERS)}, but got {name!r}.")
    # halving stops trials at their rung's steps itself (weightsearch.halving_points).
    if name in ("none", "halving") or n_objectives > 1:
        return optuna.pruners.NopPruner()
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1)
    return optuna.pruners.HyperbandPruner()
