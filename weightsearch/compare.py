"""``weightsearch compare``: adaptive methods against equal and tuned static weights, seed by seed.

Every contender (a balancing method, or the best weights of a grid or power-scale study) runs
with the same seeds; each (contender, seed) pair is one trial, so differences can be tested pair
by pair.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from optuna.distributions import CategoricalDistribution, IntDistribution
from optuna.storages import BaseStorage
from optuna.trial import TrialState

from weightsearch import records
from weightsearch.errors import WeightsearchError
from weightsearch.points import FixedPoints, Point
from weightsearch.session import Outcome, ProgressFactory, Session, StudyPlan, run_study
from weightsearch.storage import StorageHandle
from weightsearch.study import best_trials, load_existing_study
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
    names = list(contenders)
    points = [
        Point(
            key=json.dumps({"method": name, "seed": seed}, sort_keys=True),
            weights=weights,
            params={records.METHOD_PARAM: name, records.SEED_PARAM: seed},
            distributions={
                records.METHOD_PARAM: CategoricalDistribution(names),
                records.SEED_PARAM: IntDistribution(0, max(definition.seeds)),
            },
            method=method,
            seeds=(seed,),
        )
        # Seed-major order: a stopped or timed-out run still has every method on its first seeds.
        for seed in definition.seeds
        for name, (method, weights) in contenders.items()
    ]
    plan = StudyPlan(
        definition,
        # A contender that failed runs again in the next command, as before --retry-failed.
        FixedPoints(points, session.n_trials, retry_failed=True),
        method_args=args,
        storage=storage,
    )
    return run_study(session, task, plan, progress)


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
