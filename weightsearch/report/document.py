"""The JSON report of DESIGN section 6, built from what the storage holds."""

from __future__ import annotations

import math
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from weightsearch.runner import ERROR_ATTR
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
    entry: dict[str, Any] = {
        "number": trial.number,
        "state": trial.state.name,
        "weights": trial.user_attrs.get("weights", {}),
        "method": trial.user_attrs.get("method", "static"),
        "seeds": [int(s) for s in trial.user_attrs.get("seed_values", {})],
        "values": trial.user_attrs.get("values", {}) if trial.state == TrialState.COMPLETE else {},
    }
    if "seed" in trial.params:
        entry["seed"] = int(trial.params["seed"])
    if trial.state == TrialState.FAIL:
        entry["error"] = trial.user_attrs.get(ERROR_ATTR, "failed")
    return entry


def best_entry(trial: FrozenTrial) -> dict[str, Any]:
    return {
        "number": trial.number,
        "weights": trial.user_attrs.get("weights", {}),
        "values": trial.user_attrs.get("values", {}),
    }


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
