"""The JSON report of DESIGN section 6, built from what the storage holds."""

from __future__ import annotations

from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from weightsearch import records
from weightsearch.report.comparison import summarize_methods, verdicts
from weightsearch.study import StudyDefinition, best_trials


def build_report(study: optuna.Study, definition: StudyDefinition) -> dict[str, Any]:
    """The report document of a study: definition, every trial, and the best point(s).

    ``best`` holds the best COMPLETE trial, or the Pareto front when there are several objectives;
    ``failures`` the distinct reasons trials failed (see :func:`failure_summary`).
    A compare study also has ``methods`` (statistics per contender) and ``verdicts`` (one
    sentence per objective on the best contender against ``equal``).
    """
    trials = study.get_trials(deepcopy=False)
    report: dict[str, Any] = {
        "study": study.study_name,
        "kind": definition.kind,
        "task": definition.task,
        "losses": list(definition.losses),
        "objectives": [{"name": o.name, "direction": o.direction} for o in definition.objectives],
        "trials": [trial_entry(t, definition) for t in trials],
        "best": [best_entry(t, definition) for t in best_trials(study, definition)],
    }
    report["failures"] = failure_summary(report["trials"])
    if definition.kind == "compare":
        methods = summarize_methods(study, definition)
        report["methods"] = methods
        report["verdicts"] = verdicts(methods, definition)
    return report


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
    if definition.kind == "compare":
        # An adaptive method's weights are those it ended with (its trajectory is in the trial).
        final = records.run_info(trial).get("final_weights", {})
        return {"weights": next(iter(final.values()), trained)}
    if definition.kind != "power-scale" or not trained:
        return {"weights": trained}
    total = sum(trained.values())
    return {"weights": {k: w / total for k, w in trained.items()}, "raw_weights": trained}


def trial_counts(trials: list[dict[str, Any]]) -> str:
    """``19 trials: 18 complete, 1 fail``."""
    states: dict[str, int] = {}
    for trial in trials:
        states[trial["state"]] = states.get(trial["state"], 0) + 1
    parts = ", ".join(f"{n} {s.lower()}" for s, n in sorted(states.items()))
    return f"{len(trials)} trials: {parts or 'none'}"


def failure_summary(trials: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Why trials failed: one entry per distinct reason, the most frequent first.

    Each entry: ``error`` (the first line of the trial's error), ``count`` and ``trials`` (their
    numbers, ascending).
    """
    by_reason: dict[str, list[int]] = {}
    for trial in trials:
        if trial["state"] == "FAIL":
            text = str(trial.get("error") or "failed").strip()
            reason = text.splitlines()[0] if text else "failed"
            by_reason.setdefault(reason, []).append(trial["number"])
    ordered = sorted(by_reason.items(), key=lambda item: (-len(item[1]), min(item[1])))
    return [
        {"error": reason, "count": len(numbers), "trials": sorted(numbers)}
        for reason, numbers in ordered
    ]
