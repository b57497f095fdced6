"""``weightsearch compare``: adaptive methods against equal and tuned static weights, seed by seed.

Every contender (a balancing method, or the best weights of a grid or power-scale study) runs
with the same seeds; each (contender, seed) pair is one trial, so differences can be tested pair
by pair.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from optuna.distributions import BaseDistribution, CategoricalDistribution, IntDistribution
from optuna.storages import BaseStorage
from optuna.trial import TrialState

from weightsearch import records
from weightsearch.errors import WeightsearchError
from weightsearch.points import FixedPoints, Point
from weightsearch.session import Outcome, ProgressFactory, Session, StudyPlan, run_study
from weightsearch.storage import StorageHandle
from weightsearch.study import (
    DEFINITION_ATTR,
    StudyDefinition,
    best_trials,
    listed_names,
    load_existing_study,
)
from weightsearch.task import load_task

DEFAULT_METHODS = ("equal", "uncertainty", "gradnorm", "mgda")


def run_compare(
    session: Session,
    methods: Sequence[str] = DEFAULT_METHODS,
    static: Sequence[str] = (),
    method_args: Mapping[str, Mapping[str, Any]] | None = None,
    progress: ProgressFactory | None = None,
) -> Outcome:
    """Run adaptive methods and tuned static weights on a task, seed by seed (``compare``).

    Every contender runs with the same seeds, so differences can be tested pair by pair; each
    (contender, seed) is one trial.

    Args:
        session: where and how to run; ``seeds`` is the number of seeds per contender.
        methods: balancing methods by name (``weightsearch methods`` lists them).
        static: ``STUDY`` or ``STUDY:K``: the best (or top-K, or Pareto) weights of a grid or
            power-scale study in the same storage, as contenders ``static:STUDY[#k]``.
        method_args: hyperparameters per method, from ``--method-arg``.
    """
    session.start_workers()
    task = load_task(session.task)
    args = {name: dict(values) for name, values in (method_args or {}).items()}
    _check_methods(methods, args, task.losses)
    storage = StorageHandle.open(session.storage)
    contenders: dict[str, tuple[str, dict[str, float]]] = {
        name: (name, dict.fromkeys(task.losses, 1.0)) for name in methods
    }
    for spec in static:
        for name, weights in static_contenders(storage.storage, spec, task.losses).items():
            contenders[name] = ("static", weights)
    space = {
        "contenders": {name: {"method": m, "weights": w} for name, (m, w) in contenders.items()},
        "method_args": args,
    }
    definition = session.definition(task, "compare", space)
    # Seed-major order: a stopped or timed-out run still has every method on its first seeds.
    choices = _method_choices(storage.storage, session.study_name("compare")) or list(contenders)
    points = [
        _contender_point(name, method, weights, seed, choices, definition.seeds)
        for seed in definition.seeds
        for name, (method, weights) in contenders.items()
    ]
    plan = StudyPlan(
        definition,
        # A contender that failed runs again in the next command, as before --retry-failed.
        FixedPoints(points, session.n_trials, retry_failed=True),
        method_args=args,
        storage=storage,
        grows=comparison_grows,
        timed=True,
    )
    return run_study(session, task, plan, progress)


def _contender_point(
    name: str,
    method: str,
    weights: dict[str, float],
    seed: int,
    choices: Sequence[str],
    seeds: Sequence[int],
) -> Point:
    """The trial of one contender on one seed; its method is a parameter where it can be."""
    params: dict[str, Any] = {records.SEED_PARAM: seed}
    distributions: dict[str, BaseDistribution] = {
        records.SEED_PARAM: IntDistribution(0, max(seeds))
    }
    attrs: dict[str, Any] = {}
    if name in choices:
        params[records.METHOD_PARAM] = name
        distributions[records.METHOD_PARAM] = CategoricalDistribution(list(choices))
    else:
        attrs[records.METHOD_ATTR] = name  # added to an existing comparison: see records
    return Point(
        key=json.dumps({"method": name, "seed": seed}, sort_keys=True),
        weights=weights,
        params=params,
        distributions=distributions,
        method=method,
        seeds=(seed,),
        attrs=attrs,
    )


def _method_choices(storage: BaseStorage, name: str) -> list[str] | None:
    """The contenders an existing comparison's method parameter can hold (None: no trial yet)."""
    try:
        study_id = storage.get_study_id_from_name(name)
    except KeyError:
        return None
    for trial in storage.get_all_trials(study_id, deepcopy=False):
        distribution = trial.distributions.get(records.METHOD_PARAM)
        if isinstance(distribution, CategoricalDistribution):
            return [str(choice) for choice in distribution.choices]
    return None


def comparison_grows(stored: StudyDefinition, wanted: StudyDefinition) -> bool:
    """Whether ``wanted`` is the ``stored`` comparison with more contenders or seeds.

    Every stored contender must be in ``wanted`` with the same method, weights and method
    arguments, and the stored seeds must be the first of ``wanted``'s; then the runs the study
    has are reused and only the new (contender, seed) pairs run. Anything else (a contender or
    seed left out, changed arguments, another task or objective) is a different experiment.
    """
    old, new = stored.to_json(), wanted.to_json()
    old_space, new_space = old.pop("space"), new.pop("space")
    old_seeds, new_seeds = old.pop("seeds"), new.pop("seeds")
    if stored.kind != "compare" or old != new or new_seeds[: len(old_seeds)] != old_seeds:
        return False
    old_contenders = old_space.pop("contenders", {})
    new_contenders = new_space.pop("contenders", {})
    old_args, new_args = old_space.pop("method_args", {}), new_space.pop("method_args", {})
    return old_space == new_space and all(
        new_contenders.get(name) == contender and new_args.get(name, {}) == old_args.get(name, {})
        for name, contender in old_contenders.items()
    )


def _check_methods(
    methods: Sequence[str], args: Mapping[str, Mapping[str, Any]], losses: Sequence[str]
) -> None:
    # Methods import torch: loaded here, so that importing this module doesn't.
    from weightsearch import methods as balancing

    if not methods:
        raise WeightsearchError(
            "--methods is empty. Example: --methods equal,uncertainty,gradnorm,mgda"
        )
    for name in methods:
        if name == "static":
            raise WeightsearchError(
                "--methods can't name 'static': its weights come from a study. "
                "Use --static STUDY to add the best weights of a grid or power-scale study."
            )
        try:
            balancing.method_class(name)
        except ValueError as exc:
            raise WeightsearchError(str(exc)) from None
    if len(set(methods)) != len(methods):
        raise WeightsearchError(f"--methods names a method twice: {', '.join(methods)}.")
    unused = [name for name in args if name not in methods]
    if unused:
        raise WeightsearchError(
            f"--method-arg sets {', '.join(unused)}, which --methods doesn't run. "
            "Add it to --methods or drop the --method-arg."
        )
    # A hyperparameter a constructor refuses (a negative learning rate, a torchjd argument left
    # out) stops here, not in every trial.
    for name in methods:
        try:
            balancing.check_arguments(name, losses, args.get(name, {}))
        except ValueError as exc:
            raise WeightsearchError(str(exc)) from None


def static_contenders(
    storage: BaseStorage, spec: str, losses: Sequence[str]
) -> dict[str, dict[str, float]]:
    """The weights named by ``--static STUDY[:K]``: the best trial, the top K, or the Pareto front.

    Raises:
        WeightsearchError: no such study, not a weight search, other losses, no completed trial.
    """
    name, sep, count = spec.rpartition(":")
    if not sep or not count.isdigit():
        name, count = spec, ""
    top = int(count) if count else 1
    if top < 1:
        raise WeightsearchError(
            f"--static takes STUDY or STUDY:K with K >= 1, but got {spec!r}. Example: --static "
            "scales-grid:3"
        )
    _check_static_exists(storage, name)
    study, definition = load_existing_study(storage, name)
    if definition.kind not in ("grid", "power-scale"):
        raise WeightsearchError(
            f"--static needs a grid or power-scale study, but {name!r} is a {definition.kind} "
            "study."
        )
    if list(definition.losses) != list(losses):
        raise WeightsearchError(
            f"--static study {name!r} has losses {', '.join(definition.losses)}, but this task "
            f"has {', '.join(losses)}. Name a study of this task."
        )
    best = best_trials(study, definition)
    if not best:
        raise WeightsearchError(
            f"--static study {name!r} has no completed trial. Run it first: "
            f"weightsearch {definition.kind} TASK --study {name}"
        )
    if len(definition.objectives) == 1:
        complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        sign = -1.0 if definition.objectives[0].direction == "maximize" else 1.0
        best = sorted(complete, key=lambda t: (sign * t.values[0], t.number))[:top]
    elif count:
        best = best[:top]
    if len(best) == 1:
        return {f"static:{name}": records.weights(best[0])}
    return {f"static:{name}#{k}": records.weights(t) for k, t in enumerate(best, start=1)}


def _check_static_exists(storage: BaseStorage, name: str) -> None:
    studies = storage.get_all_studies()
    if any(s.study_name == name for s in studies):
        return
    searches = [
        s.study_name
        for s in sorted(studies, key=lambda s: s.study_name)
        if isinstance(data := s.user_attrs.get(DEFINITION_ATTR), dict)
        and data.get("kind") in ("grid", "power-scale")
    ]
    raise WeightsearchError(
        f"--static study {name!r} does not exist in this storage; its grid and power-scale "
        f"studies: {listed_names(searches)}.\nName one of them, or run a grid or power-scale "
        "search first."
    )
