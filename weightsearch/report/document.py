"""The JSON report of DESIGN section 6, built from what the storage holds."""

from __future__ import annotations

import math
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from weightsearch.runner import ERROR_ATTR, NORMALIZED_ATTR
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
        "trials": [trial_entry(t) for t in trials],
        "best": [best_entry(t) for t in best_trials(study, definition)],
    }


def trial_entry(trial: FrozenTrial) -> dict[str, Any]:
    """One trial as the report shows it.

    ``weights`` always sum to 1 so that studies of every kind compare; where the trial trained
    with other weights (power-scale's anchor at 1), those are in ``raw_weights``.
    """
    entry: dict[str, Any] = {
        "number": trial.number,
        "state": trial.state.name,
        **_weights(trial),
        "method": trial.user_attrs.get("method", "static"),
        "seeds": [int(s) for s in trial.user_attrs.get("seed_values", {})],
        "values": trial.user_attrs.get("values", {}) if trial.state == TrialState.COMPLETE else {},
    }
    if "seed" in trial.params:
        entry["seed"] = int(trial.params["seed"])
    if "exponents" in trial.user_attrs:
        entry["exponents"] = trial.user_attrs["exponents"]
    if trial.state == TrialState.FAIL:
        entry["error"] = trial.user_attrs.get(ERROR_ATTR, "failed")
    return entry


def best_entry(trial: FrozenTrial) -> dict[str, Any]:
    return {"number": trial.number, **_weights(trial), "values": trial.user_attrs.get("values", {})}


def _weights(trial: FrozenTrial) -> dict[str, Any]:
    trained = trial.user_attrs.get("weights", {})
    normalized = trial.user_attrs.get(NORMALIZED_ATTR)
    if normalized is None:
        return {"weights": trained}
    return {"weights": normalized, "raw_weights": trained}


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
