"""Studies: creating or resuming one, and the definition it remembers.

A study stores its definition (task, kind, search space, objectives, seeds) in its user attrs.
Running a command again with the same study resumes it; a command whose definition differs
stops with an error instead of mixing two experiments in one study.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import optuna
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState

from weightsearch import records
from weightsearch.errors import WeightsearchError
from weightsearch.task import Direction, resolve_reference

DEFINITION_ATTR = "weightsearch"
# Error messages list at most this many study names.
_NAMES_SHOWN = 10
# Another process may have created the study a moment ago and not yet written its definition.
_DEFINITION_WAIT_S = 10.0


@dataclass(frozen=True)
class Objective:
    name: str
    direction: Direction


@dataclass(frozen=True)
class StudyDefinition:
    """What a study is: compared field by field when a command resumes it.

    Attributes:
        kind: ``grid``, ``power-scale`` or ``compare``.
        task: the task's identity, ``<file or module stem>:<function>`` (paths differ by machine).
        losses: the task's loss names.
        objectives: the metrics optimised, with directions.
        space: the search space's parameters (multipliers, base, methods, ...), JSON-able.
        seeds: the seeds every point runs with.
        metrics: every metric the task declares, with its direction.
        reference: the task reference as the user gave it (None in studies made before it was
            stored); shown in reports so that their command can be pasted back.
        created_in: the folder the reference was given in, to resolve it from elsewhere.

    ``reference`` and ``created_in`` say where the task was, not what the study is: they are not
    compared on resume, so another spelling or another machine's folder may join a study.
    """

    kind: str
    task: str
    losses: tuple[str, ...]
    objectives: tuple[Objective, ...]
    space: dict[str, Any]
    seeds: tuple[int, ...]
    metrics: dict[str, str] = field(default_factory=dict)
    reference: str | None = None
    created_in: str | None = None

    def shown_task(self) -> str:
        """The task reference to show in a command: as given, loadable from the current folder."""
        if self.reference is None:
            return self.task
        return resolve_reference(self.reference, self.created_in)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["losses"] = list(self.losses)
        data["seeds"] = list(self.seeds)
        data["objectives"] = [asdict(o) for o in self.objectives]
        # A JSON round trip makes tuples lists, so stored and new definitions compare equal.
        return json.loads(json.dumps(data))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StudyDefinition:
        return cls(
            kind=data["kind"],
            task=data["task"],
            losses=tuple(data["losses"]),
            objectives=tuple(Objective(**o) for o in data["objectives"]),
            space=data["space"],
            seeds=tuple(data["seeds"]),
            metrics=data.get("metrics", {}),
            reference=data.get("reference"),
            created_in=data.get("created_in"),
        )


def open_study(
    storage: BaseStorage,
    name: str,
    definition: StudyDefinition,
    sampler: optuna.samplers.BaseSampler | None = None,
    pruner: optuna.pruners.BasePruner | None = None,
    grows: Callable[[StudyDefinition, StudyDefinition], bool] | None = None,
) -> optuna.Study:
    """Create the study, or load it and check that it holds the same definition.

    Args:
        grows: whether a stored definition may become the new one, keeping its trials (a
            comparison given more contenders or seeds); the study then stores the new one.

    Raises:
        WeightsearchError: the study exists with another definition, or was not made by
            weightsearch.
    """
    directions = [o.direction for o in definition.objectives]
    try:
        study = optuna.create_study(
            storage=storage, study_name=name, directions=directions, sampler=sampler, pruner=pruner
        )
    except optuna.exceptions.DuplicatedStudyError:
        study = optuna.load_study(storage=storage, study_name=name, sampler=sampler, pruner=pruner)
        stored = _stored_definition(study, name)
        if stored != definition and grows is not None and grows(stored, definition):
            study.set_user_attr(DEFINITION_ATTR, definition.to_json())
        else:
            check_definition(name, stored, definition)
        return study
    study.set_metric_names([o.name for o in definition.objectives])
    study.set_user_attr(DEFINITION_ATTR, definition.to_json())
    return study


def load_existing_study(storage: BaseStorage, name: str) -> tuple[optuna.Study, StudyDefinition]:
    """Load a study made by weightsearch, with its definition.

    Raises:
        WeightsearchError: no such study in the storage, or it was not made by weightsearch.
    """
    try:
        study = optuna.load_study(storage=storage, study_name=name)
    except KeyError:
        names = [s.study_name for s in storage.get_all_studies()]
        raise WeightsearchError(
            f"no study named {name!r} in this storage (studies there: {listed_names(names)}). "
            "Check --study and --storage."
        ) from None
    data = study.user_attrs.get(DEFINITION_ATTR)
    if not isinstance(data, dict):
        raise WeightsearchError(f"study {name!r} was not made by weightsearch.")
    return study, StudyDefinition.from_json(data)


def listed_names(names: list[str]) -> str:
    """Study names for an error message: the first few, then how many more there are."""
    if not names:
        return "none"
    shown = ", ".join(names[:_NAMES_SHOWN])
    more = len(names) - _NAMES_SHOWN
    return shown if more <= 0 else f"{shown} ... and {more} more (weightsearch studies lists them)"


def check_definition(name: str, stored: StudyDefinition, wanted: StudyDefinition) -> None:
    """Raise a plain error naming every setting in which ``wanted`` differs from ``stored``."""
    differences = _differences(_identity(stored), _identity(wanted), "")
    if not differences:
        return
    shown = differences[:3] + ([f"and {len(differences) - 3} more"] if len(differences) > 3 else [])
    raise WeightsearchError(
        f"study {name!r} was made with a different definition ({'; '.join(shown)}).\n"
        "Rerun with the stored options to resume it, or pass a new --study NAME to start another."
    )


def _identity(definition: StudyDefinition) -> dict[str, Any]:
    """The definition's JSON without where the task was given (see StudyDefinition)."""
    data = definition.to_json()
    for where in ("reference", "created_in"):
        data.pop(where, None)
    return data


def _differences(old: Any, new: Any, path: str) -> list[str]:
    """Where two JSON values differ, down to the innermost key: ``space.base: stored 1, now 2``."""
    if isinstance(old, dict) and isinstance(new, dict):
        found = []
        for key in [*old, *(k for k in new if k not in old)]:
            where = f"{path}.{key}" if path else str(key)
            if key not in new:
                found.append(f"{where}: stored {_short(old[key])}, now absent")
            elif key not in old:
                found.append(f"{where}: not stored, now {_short(new[key])}")
            else:
                found += _differences(old[key], new[key], where)
        return found
    if old != new:
        return [f"{path}: stored {_short(old)}, now {_short(new)}"]
    return []


def _stored_definition(study: optuna.Study, name: str) -> StudyDefinition:
    deadline = time.monotonic() + _DEFINITION_WAIT_S
    while True:
        data = study.user_attrs.get(DEFINITION_ATTR)
        if isinstance(data, dict):
            return StudyDefinition.from_json(data)
        if time.monotonic() > deadline or study.trials:
            raise WeightsearchError(
                f"study {name!r} exists but was not made by weightsearch. "
                "Pass another --study NAME."
            )
        time.sleep(0.2)


def _short(value: Any) -> str:
    text = json.dumps(value, separators=(",", ":"))
    return text if len(text) <= 80 else text[:77] + "..."


def best_trials(study: optuna.Study, definition: StudyDefinition) -> list[FrozenTrial]:
    """The best COMPLETE trial (single objective) or the Pareto front, sorted by objective 1."""
    # A proposal answered from the record is its point's trial again, not another point.
    complete = [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if t.values is not None
        and all(math.isfinite(v) for v in t.values)
        and records.REPEAT not in t.user_attrs
    ]
    if not complete:
        return []
    first = definition.objectives[0]
    sign = -1.0 if first.direction == "maximize" else 1.0
    if len(definition.objectives) == 1:
        return [min(complete, key=lambda t: (sign * t.values[0], t.number))]
    numbers = {t.number for t in complete}
    front = [t for t in study.best_trials if t.number in numbers]
    return sorted(front, key=lambda t: (sign * t.values[0], t.number))
