"""The JSON report of DESIGN section 6, built from what the storage holds."""

from __future__ import annotations

import math
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from weightsearch import records
from weightsearch.study import StudyDefinition


def build_report(study: optuna.Study, definition: StudyDefinition) -> dict[str, Any]:
    """The report document of a study: definition, every trial, and the best point(s).

    ``best`` holds the best COMPLETE trial, or the Pareto front when there are several objectives.
    """
    trials = study.get_trials(deepcopy=False)
    return {
        "study": study.study_name,
        "kind": definition.kind,
        "task": definition.task,
        "losses": list(definition.losses),
        "objectives": [{"name": o.name, "direction": o.direction} for o in definition.objectives],
        "trials": [trial_entry(t, definition) for t in trials],
        "best": [best_entry(t, definition) for t in best_trials(study, definition)],
    }


def trial_entry(trial: FrozenTrial, definition: StudyDefinition) -> dict[str, Any]:
    """One trial as the report shows it.

    ``weights`` always sum to 1 so that studies of every kind compare; where the trial trained
    with other weights (power-scale's anchor at 1), those are in ``raw_weights``.
    """
    entry: dict[str, Any] = {
        "number": trial.number,
        "state": trial.state.name,
        **_weights(trial, definition),
        "method": records.method(trial),
        "seeds": sorted(records.seed_values(trial)),
        "values": records.values(trial) if trial.state == TrialState.COMPLETE else {},
    }
    if records.SEED_PARAM in trial.params:
        entry["seed"] = int(trial.params[records.SEED_PARAM])
    if definition.kind == "power-scale":
        entry["exponents"] = {
            name.removeprefix("n_"): value for name, value in trial.params.items()
        }
    if trial.state == TrialState.FAIL:
        entry["error"] = records.error(trial) or "failed"
    return entry


def best_entry(trial: FrozenTrial, definition: StudyDefinition) -> dict[str, Any]:
    return {
        "number": trial.number,
        **_weights(trial, definition),
        "values": records.values(trial),
    }


def _weights(trial: FrozenTrial, definition: StudyDefinition) -> dict[str, Any]:
    trained = records.weights(trial)
    if definition.kind != "power-scale" or not trained:
        return {"weights": trained}
    total = sum(trained.values())
    return {"weights": {k: w / total for k, w in trained.items()}, "raw_weights": trained}


def best_trials(study: optuna.Study, definition: StudyDefinition) -> list[FrozenTrial]:
    """The best COMPLETE trial (single objective) or the Pareto front, sorted by objective 1."""
    complete = [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if t.values is not None and all(math.isfinite(v) for v in t.values)
    ]
    if not complete:
        return []
    first = definition.objectives[0]
    sign = -1.0 if first.direction == "maximize" else 1.0
    if len(definition.objectives) == 1:
        return [min(complete, key=lambda t: (sign * t.values[0], t.number))]
    front = study.best_trials
    return sorted(front, key=lambda t: (sign * t.values[0], t.number))
