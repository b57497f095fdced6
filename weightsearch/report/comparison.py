"""The compare summary: per contender and metric, mean, spread, CI and a paired test vs equal."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import optuna
from optuna.trial import TrialState

from weightsearch import records, stats
from weightsearch.study import StudyDefinition

BASELINE = "equal"


def summarize_methods(study: optuna.Study, definition: StudyDefinition) -> list[dict[str, Any]]:
    """One entry per contender, best first by the first objective's mean.

    Each entry: ``name``, ``n`` (completed seeds), and per metric ``mean``, ``std``, ``ci95``
    (t-interval), ``p_vs_equal`` (paired t-test over the seeds both ran, Holm-corrected across
    contenders; null with fewer than 2 pairs), and ``seconds`` (mean run time). With several
    objectives and static contenders, ``dominated_by_static`` says whether the contender's mean
    point is dominated by a static contender's.
    """
    by_seed = _values_by_seed(study, definition)
    metrics = list(definition.metrics)
    seconds = _seconds(study)
    entries = []
    for name, seeds in by_seed.items():
        entry: dict[str, Any] = {"name": name, "n": len(seeds)}
        for key in ("mean", "std", "ci95", "p_vs_equal"):
            entry[key] = {}
        for metric in metrics:
            values = [v[metric] for v in seeds.values() if metric in v]
            if values:
                entry["mean"][metric] = stats.mean(values)
                entry["std"][metric] = stats.std(values)
                entry["ci95"][metric] = list(stats.ci95(values))
        entry["seconds"] = seconds.get(name)
        entries.append(entry)
    for metric in metrics:
        raw = {e["name"]: _p_vs_baseline(by_seed, e["name"], metric) for e in entries}
        adjusted = stats.holm(raw)
        for entry in entries:
            entry["p_vs_equal"][metric] = adjusted[entry["name"]]
    _mark_dominated(entries, definition)
    first = definition.objectives[0]
    sign = -1.0 if first.direction == "maximize" else 1.0
    return sorted(
        entries,
        key=lambda e: sign * e["mean"].get(first.name, float("inf")) if e["n"] else float("inf"),
    )


def verdicts(methods: list[dict[str, Any]], definition: StudyDefinition) -> list[str]:
    """One plain sentence per objective: is the best contender really better than equal?"""
    lines = []
    for objective in definition.objectives:
        means = {
            m["name"]: m["mean"][objective.name] for m in methods if objective.name in m["mean"]
        }
        if BASELINE not in means:
            lines.append(f"no {BASELINE!r} contender with results: nothing to test against.")
            continue
        p = {m["name"]: m["p_vs_equal"].get(objective.name) for m in methods}
        verdict = stats.significance_verdict(
            means, p, objective.direction, metric=objective.name, baseline=BASELINE
        )
        lines.append(verdict.text)
    return lines


def _values_by_seed(
    study: optuna.Study, definition: StudyDefinition
) -> dict[str, dict[int, dict[str, float]]]:
    contenders = definition.space.get("contenders", {})
    by_seed: dict[str, dict[int, dict[str, float]]] = {name: {} for name in contenders}
    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        name = records.method(trial)
        for seed, values in records.seed_values(trial).items():
            by_seed.setdefault(name, {})[seed] = values
    return by_seed


def _seconds(study: optuna.Study) -> dict[str, float]:
    times: dict[str, list[float]] = {}
    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        seconds = records.run_info(trial).get("seconds")
        if seconds is not None:
            times.setdefault(records.method(trial), []).append(float(seconds))
    return {name: stats.mean(values) for name, values in times.items()}


def _p_vs_baseline(
    by_seed: Mapping[str, Mapping[int, Mapping[str, float]]], name: str, metric: str
) -> float | None:
    if name == BASELINE or BASELINE not in by_seed:
        return None
    ours = {s: v[metric] for s, v in by_seed[name].items() if metric in v}
    theirs = {s: v[metric] for s, v in by_seed[BASELINE].items() if metric in v}
    return stats.paired_ttest(ours, theirs)


def _mark_dominated(entries: list[dict[str, Any]], definition: StudyDefinition) -> None:
    objectives = definition.objectives
    if len(objectives) < 2:
        return
    names = [o.name for o in objectives]
    directions = [o.direction for o in objectives]

    def point(entry: dict[str, Any]) -> list[float] | None:
        means = entry["mean"]
        return [means[n] for n in names] if all(n in means for n in names) else None

    front = [p for e in entries if e["name"].startswith("static:") and (p := point(e))]
    if not front:
        return
    for entry in entries:
        mine = point(entry)
        if not entry["name"].startswith("static:") and mine is not None:
            entry["dominated_by_static"] = stats.dominated_by_any(mine, front, directions)
