"""A finished job written on its trial: the run record, the mean values, the state told to Optuna.

The coordinator (:mod:`weightsearch.runner`) calls :func:`record_result` once per trial, with
what the worker returned; the user attrs it writes are named in :mod:`weightsearch.records`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from weightsearch import records
from weightsearch.jobs import JobResult
from weightsearch.points import Point


def record_result(
    study: optuna.Study,
    trial: optuna.Trial,
    objectives: Sequence[str],
    point: Point,
    result: JobResult,
    steps: int,
) -> FrozenTrial:
    """Write ``result`` on ``trial`` and tell the study how it ended (``steps``: its cost)."""
    run: dict[str, Any] = {
        "seeds": {str(s): v for s, v in result.seed_values.items()},
        "seconds": round(result.seconds, 4),
        "steps": steps,
        "reports": result.reports,
    }
    # Adaptive methods end with other weights than they started with; static ones don't.
    if any(w != point.weights for w in result.final_weights.values()):
        run["final_weights"] = {str(s): w for s, w in result.final_weights.items()}
    if any(result.curves.values()):
        run["curves"] = {str(s): c for s, c in result.curves.items()}
    if any(result.weight_trajectories.values()):
        run["trajectories"] = {str(s): t for s, t in result.weight_trajectories.items()}
    trial.set_user_attr(records.RUN, run)
    if result.seed_values:  # a trial stopped at its halving rung has values too
        means = _mean_metrics(result.seed_values.values())
        trial.set_user_attr(records.VALUES, means)
    if result.state == "COMPLETE":
        return study.tell(trial, [means[name] for name in objectives])
    if result.error is not None:
        trial.set_user_attr(records.ERROR, result.error)
        trial.set_user_attr(records.TRACEBACK, result.traceback)
    state = TrialState.PRUNED if result.state == "PRUNED" else TrialState.FAIL
    return study.tell(trial, state=state)


def trained_steps(seeds: Sequence[int], reports: Sequence[int], result: JobResult) -> int:
    """The training a trial cost, summed over its seeds: its ``run.report`` calls.

    A seed that finished without calling ``run.report`` counts as one step (one whole
    training), so that the cost of a task that never reports counts its trainings.
    """
    return sum(
        count or (1 if seed in result.seed_values else 0)
        for seed, count in zip(seeds, reports, strict=True)
    )


def _mean_metrics(per_seed: Iterable[Mapping[str, float]]) -> dict[str, float]:
    rows = list(per_seed)
    names = [name for name in rows[0] if all(name in row for row in rows)]
    return {name: sum(row[name] for row in rows) / len(rows) for name in names}
