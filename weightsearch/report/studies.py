"""Listing the studies of a storage: what each is, its trials by state, and its best value."""

from __future__ import annotations

import math
from typing import Any

import optuna
from optuna.storages import BaseStorage
from optuna.trial import TrialState
from rich.console import Console
from rich.table import Table

from weightsearch import records, stats
from weightsearch.errors import WeightsearchError
from weightsearch.storage import mask_password, open_storage, sqlite_path
from weightsearch.study import DEFINITION_ATTR, StudyDefinition, best_trials


def open_for_review(url: str) -> BaseStorage:
    """Open a storage to read studies from, without creating a SQLite file that isn't there.

    Raises:
        WeightsearchError: the SQLite file does not exist, or the storage can't be opened.
    """
    path = sqlite_path(url) if url.startswith("sqlite:") else None
    if path is not None and not path.exists():
        raise WeightsearchError(
            f"no storage at {mask_password(url)} (file {path} does not exist). Run grid, "
            "power-scale or compare here first, or pass --storage (or set WEIGHTSEARCH_STORAGE)."
        )
    return open_storage(url)


def list_studies(storage: BaseStorage) -> list[dict[str, Any]]:
    """One entry per study, by name.

    Each entry: ``study``, ``kind`` (None for a study weightsearch did not make), ``task``,
    ``objectives`` (names), ``trials`` (count by Optuna state name), and ``best``: for a weight
    search the best trial's ``value`` of the first objective and its ``number`` (with several
    objectives, ``pareto_front``: the front's size); for a compare study the ``method`` with the
    best mean ``value``; None before any trial completes.
    """
    entries = []
    for frozen in sorted(storage.get_all_studies(), key=lambda s: s.study_name):
        study = optuna.load_study(storage=storage, study_name=frozen.study_name)
        trials = study.get_trials(deepcopy=False)
        counts: dict[str, int] = {}
        for trial in trials:
            if records.REPEAT not in trial.user_attrs:  # proposals answered from the record
                counts[trial.state.name] = counts.get(trial.state.name, 0) + 1
        data = frozen.user_attrs.get(DEFINITION_ATTR)
        definition = StudyDefinition.from_json(data) if isinstance(data, dict) else None
        names = (
            [o.name for o in definition.objectives]
            if definition is not None
            else (study.metric_names or [f"value{i}" for i in range(len(frozen.directions))])
        )
        entries.append(
            {
                "study": frozen.study_name,
                "kind": definition.kind if definition is not None else None,
                "task": definition.shown_task() if definition is not None else None,
                "objectives": names,
                "trials": dict(sorted(counts.items())),
                "best": _best(study, definition, names),
            }
        )
    return entries


def render_studies_table(
    entries: list[dict[str, Any]], storage_shown: str, console: Console
) -> None:
    """Print the studies as a rich table."""
    table = Table(title=f"studies in {storage_shown}", title_justify="left")
    for name, justify in (
        ("study", "left"),
        ("kind", "left"),
        ("task", "left"),
        ("trials", "right"),
        ("by state", "left"),
        ("best", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for entry in entries:
        states = ", ".join(f"{n} {s.lower()}" for s, n in entry["trials"].items())
        table.add_row(
            entry["study"],
            entry["kind"] or "(not weightsearch)",
            entry["task"] or "-",
            str(sum(entry["trials"].values())),
            states or "-",
            best_text(entry),
        )
    if not entries:
        console.print(f"no studies in {storage_shown}")
        return
    console.print(table)


def best_text(entry: dict[str, Any]) -> str:
    """``val_nmse=0.5510 (#16)``, ``static:g val_nmse=0.5416 (mean)``, ``Pareto front: 2``."""
    best = entry["best"]
    if best is None:
        return "-"
    if "pareto_front" in best:
        return f"Pareto front: {best['pareto_front']} trials"
    metric = entry["objectives"][0]
    if "method" in best:
        return f"{best['method']} {metric}={best['value']:.5g} (mean)"
    return f"{metric}={best['value']:.5g} (#{best['number']})"


def _best(
    study: optuna.Study, definition: StudyDefinition | None, names: list[str]
) -> dict[str, Any] | None:
    if definition is None:
        if len(study.directions) != 1:
            return None
        complete = [
            t
            for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if t.values and math.isfinite(t.values[0])
        ]
        if not complete:
            return None
        sign = -1.0 if study.direction == optuna.study.StudyDirection.MAXIMIZE else 1.0
        trial = min(complete, key=lambda t: (sign * t.values[0], t.number))
        return {"value": trial.values[0], "number": trial.number}
    if definition.kind == "compare":
        return _best_method(study, definition)
    front = best_trials(study, definition)
    if not front:
        return None
    if len(definition.objectives) > 1:
        return {"pareto_front": len(front)}
    return {"value": front[0].values[0], "number": front[0].number}


def _best_method(study: optuna.Study, definition: StudyDefinition) -> dict[str, Any] | None:
    first = definition.objectives[0]
    by_method: dict[str, list[float]] = {}
    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        value = records.values(trial).get(first.name)
        if value is not None and math.isfinite(value):
            by_method.setdefault(records.method(trial), []).append(value)
    if not by_method:
        return None
    means = {name: stats.mean(values) for name, values in by_method.items()}
    sign = -1.0 if first.direction == "maximize" else 1.0
    method = min(means, key=lambda name: sign * means[name])
    return {"method": method, "value": means[method], "n": len(by_method[method])}
