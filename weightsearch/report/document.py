"""The JSON report of DESIGN section 6, built from what the storage holds."""

from __future__ import annotations

from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from weightsearch import records
from weightsearch.report.comparison import summarize_methods, verdicts
from weightsearch.report.cost import search_cost
from weightsearch.report.noise import seed_noise
from weightsearch.study import StudyDefinition, best_trials


def build_report(study: optuna.Study, definition: StudyDefinition) -> dict[str, Any]:
    """The report document of a study: definition, every trial, and the best point(s).

    ``best`` holds the best COMPLETE trial, or the Pareto front when there are several objectives.
    ``cost``, ``grid_cost`` and ``grid_points`` say what the search cost in training steps
    (:mod:`weightsearch.report.cost`). ``trials`` are the trials that trained (or tried to);
    ``repeats`` the sampler's proposals of trained points, answered from the record of trial
    ``repeat_of`` without training. ``seed_noise`` says whether the runner-up is within the
    best's seed noise (:mod:`weightsearch.report.noise`; None with one seed).
    ``failures`` the distinct reasons trials failed (see :func:`failure_summary`).
    A compare study also has ``methods`` (statistics per contender) and ``verdicts`` (one
    sentence per objective on the best contender against ``equal``). A ``--pruner halving``
    study has ``halving`` (factor, rungs' steps) and a ``rung`` per trial: the index of the rung
    it trained to (the top one is the full length), None for a trial outside the ladder.
    """
    trials = study.get_trials(deepcopy=False)
    # A proposal answered from the record trained nothing: it is its point's trial again.
    trained = [t for t in trials if records.repeat_of(t) is None]
    entries = [trial_entry(t, definition) for t in trained]
    repeats = [
        {"number": t.number, "state": t.state.name, "repeat_of": records.repeat_of(t)}
        for t in trials
        if records.repeat_of(t) is not None
    ]
    best = best_trials(study, definition)
    complete = [t for t in trained if t.state == TrialState.COMPLETE]
    report: dict[str, Any] = {
        "study": study.study_name,
        "kind": definition.kind,
        "task": definition.task,
        "task_reference": definition.shown_task(),
        "losses": list(definition.losses),
        "objectives": [{"name": o.name, "direction": o.direction} for o in definition.objectives],
        "trials": entries,
        "best": [best_entry(t, definition) for t in best],
        **search_cost(entries, definition),
        "repeats": repeats,
        "seed_noise": seed_noise(best, complete, definition),
    }
    report["failures"] = failure_summary(report["trials"])
    halving = study.user_attrs.get(records.HALVING)
    if isinstance(halving, dict):
        report["halving"] = {"factor": halving["factor"], "rungs": list(halving["rungs"])}
        for entry, trial in zip(entries, trained, strict=True):
            entry["rung"] = records.reached_rung(trial, halving)
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
        "steps": records.steps(trial),
    }
    if records.SEED_PARAM in trial.params:
        entry["seed"] = int(trial.params[records.SEED_PARAM])
    if definition.kind == "power-scale":
        entry["exponents"] = {
            name.removeprefix("n_"): value for name, value in trial.params.items()
        }
    device = records.device(trial)
    if device is not None:
        entry["device"] = device
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


def halving_line(report: dict[str, Any]) -> str | None:
    """``halving (factor 3): rung 0 (8 steps) 9 points, rung 1 (16 steps) 3 points``.

    None for a study that doesn't halve. Only full-length (top-rung) points compete for the best.
    """
    halving = report.get("halving")
    if not halving:
        return None
    reached = [0] * len(halving["rungs"])
    for trial in report["trials"]:
        if trial.get("rung") is not None and trial["state"] in ("COMPLETE", "PRUNED"):
            reached[trial["rung"]] += 1
    rungs = ", ".join(
        f"rung {i} ({steps} steps) {n} point{'s' * (n != 1)}"
        for i, (steps, n) in enumerate(zip(halving["rungs"], reached, strict=True))
    )
    return f"halving (factor {halving['factor']}): {rungs}; the best is chosen at full length"


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
