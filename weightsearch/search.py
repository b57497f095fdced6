"""The running commands' core: build a search space, open its study, run it.

Each function here is what one CLI command calls with parsed options; it returns the study so
that the caller can report on it.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import optuna
import torch
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.storages import BaseStorage
from optuna.trial import TrialState

from weightsearch import methods as balancing
from weightsearch import records
from weightsearch.errors import WeightsearchError
from weightsearch.runner import (
    FixedPoints,
    Interrupted,
    Point,
    PointSource,
    Progress,
    Runner,
    RunOptions,
    SampledPoints,
)
from weightsearch.spaces import sum_to_one_grid
from weightsearch.spaces.power_scale import (
    PowerScaleSpace,
    choose_sampler,
    power_scale_space,
)
from weightsearch.storage import mask_password, open_storage, resolve_url, study_lock
from weightsearch.study import (
    Objective,
    StudyDefinition,
    best_trials,
    load_existing_study,
    open_study,
)
from weightsearch.task import Task, load_task, task_stem

PRUNERS = ("none", "median", "hyperband")
DEFAULT_METHODS = ("equal", "uncertainty", "gradnorm", "mgda")
ProgressFactory = Callable[[StudyDefinition], Progress]


@dataclass
class Session:
    """Where and how a command runs: shared by grid, power-scale and compare.

    Attributes:
        task: the task reference as the user gave it.
        study: the study name (None: ``<task stem>-<kind>``).
        storage: the storage URL (None: ``$WEIGHTSEARCH_STORAGE`` or the default SQLite file).
        objectives: metric names to optimise (empty: the task's first metric).
        seeds: how many seeds each point runs with (seeds 0..N-1).
        n_trials: at most this many trials in the study (trials lost to a crash don't count).
        timeout: no new trial starts after this many seconds.
        pruner: ``none``, ``median`` or ``hyperband`` (None: the command's default).
        params: ``--param`` values for ``run.params``.
        n_jobs: trials at once on this machine, each in a worker process when > 1.
        trial_timeout: a trial running longer than this many seconds is stopped and failed.
        in_process: run trials in this process, not in a worker process (for debugging).
    """

    task: str
    study: str | None = None
    storage: str | None = None
    objectives: Sequence[str] = ()
    seeds: int = 1
    n_trials: int | None = None
    timeout: float | None = None
    pruner: str | None = None
    params: Mapping[str, Any] | None = None
    n_jobs: int = 1
    trial_timeout: float | None = None
    in_process: bool = False


@dataclass
class Outcome:
    """A finished (or stopped) command: the study to report on, and what it was."""

    study: optuna.Study
    definition: StudyDefinition
    storage_url: str
    new_trials: int
    notes: list[str] = field(default_factory=list)

    @property
    def shown_storage(self) -> str:
        return mask_password(self.storage_url)


def run_grid(
    session: Session,
    multipliers: Sequence[float],
    vary: Sequence[str] | None = None,
    base: Mapping[str, float] | None = None,
    progress: ProgressFactory | None = None,
) -> Outcome:
    """Run the sum-to-one multiplier grid on a task (``weightsearch grid``).

    Every distinct weight vector runs once, with every seed; re-running resumes.
    """
    task = load_task(session.task)
    try:
        weights = sum_to_one_grid(task.losses, multipliers, vary=vary, base=base)
    except ValueError as exc:
        raise WeightsearchError(str(exc)) from None
    space = {
        "multipliers": list(multipliers),
        "vary": list(vary) if vary else list(task.losses),
        "base": dict(base) if base else dict.fromkeys(task.losses, 1.0),
    }
    definition = make_definition(session, task, "grid", space)
    points = FixedPoints([static_point(w) for w in weights], session.n_trials)
    return _run(session, task, definition, points, None, default_pruner="none", progress=progress)


def static_point(weights: Mapping[str, float]) -> Point:
    """A point that trains with fixed weights; its parameters are the weights, one per loss."""
    key = json.dumps({name: round(w, 12) for name, w in weights.items()}, sort_keys=True)
    return Point(
        key=key,
        weights=dict(weights),
        params={weight_param(name): w for name, w in weights.items()},
        distributions={weight_param(name): FloatDistribution(0.0, 1.0) for name in weights},
    )


def weight_param(loss: str) -> str:
    """The Optuna parameter name that holds a loss's weight (what optuna-dashboard shows)."""
    return f"w_{loss}"


def run_power_scale(
    session: Session,
    anchor: str | None = None,
    base: float = 10.0,
    exponents: str = "-3:1",
    sampler: str | None = None,
    continuous: bool = False,
    sampler_seed: int | None = None,
    progress: ProgressFactory | None = None,
) -> Outcome:
    """Run the anchor-one power-scale search on a task (``weightsearch power-scale``).

    The anchor loss keeps weight 1, every other loss gets ``base ** n``. With the grid sampler
    every integer point runs once; a model-based sampler proposes points up to ``--n-trials``.
    """
    task = load_task(session.task)
    try:
        space = power_scale_space(
            task.losses, anchor=anchor, base=base, exponents=exponents, continuous=continuous
        )
        definition = make_definition(session, task, "power-scale", _power_scale_definition(space))
        chosen = choose_sampler(
            space,
            sampler=sampler,
            n_trials=session.n_trials,
            n_objectives=len(definition.objectives),
        )
    except ValueError as exc:
        raise WeightsearchError(str(exc)) from None
    if chosen != "grid" and session.n_trials is None and session.timeout is None:
        raise WeightsearchError(
            f"--sampler {chosen} needs a budget: give --n-trials N (or --timeout SECONDS)."
        )
    source: PointSource
    if chosen == "grid":
        source = FixedPoints([power_point(space, e) for e in space.grid()], session.n_trials)
    else:
        source = SampledPoints(lambda trial: suggest_power_point(space, trial), session.n_trials)
    return _run(
        session,
        task,
        definition,
        source,
        sampler=make_sampler(chosen, sampler_seed),
        default_pruner="none" if chosen == "grid" else "median",
        progress=progress,
    )


def _power_scale_definition(space: PowerScaleSpace) -> dict[str, Any]:
    return {
        "anchor": space.anchor,
        "base": space.base,
        "exponents": list(space.exponents),
        "continuous": space.continuous,
    }


def power_point(space: PowerScaleSpace, exponents: Mapping[str, float]) -> Point:
    """The point of a power-scale space at ``exponents``: trains with the raw weights.

    Its parameters are the exponents (what the sampler searches); reports also show its weights
    normalised to sum 1, comparable with grid studies.
    """
    low, high = space.exponents
    raw = space.raw_weights(exponents)
    distribution: BaseDistribution
    if space.continuous:
        distribution = FloatDistribution(float(low), float(high))
    else:
        distribution = IntDistribution(low, high)
    return Point(
        key=json.dumps({name: exponents[name] for name in space.scaled}, sort_keys=True),
        weights=raw,
        params={exponent_param(name): exponents[name] for name in space.scaled},
        distributions={exponent_param(name): distribution for name in space.scaled},
    )


def suggest_power_point(space: PowerScaleSpace, trial: optuna.Trial) -> Point:
    """Let the study's sampler choose the exponents of a new trial."""
    low, high = space.exponents
    exponents: dict[str, float] = {}
    for name in space.scaled:
        if space.continuous:
            exponents[name] = trial.suggest_float(exponent_param(name), low, high)
        else:
            exponents[name] = trial.suggest_int(exponent_param(name), low, high)
    return power_point(space, exponents)


def exponent_param(loss: str) -> str:
    """The Optuna parameter name of a loss's exponent in a power-scale study."""
    return f"n_{loss}"


def make_sampler(name: str, seed: int | None = None) -> optuna.samplers.BaseSampler:
    """The Optuna sampler behind ``--sampler``; grid points are handed out by the runner."""
    if name == "grid":
        # The runner creates grid trials with their parameters already set; nothing to sample.
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "gp":
        return optuna.samplers.GPSampler(seed=seed)
    if importlib.util.find_spec("cmaes") is None:
        raise WeightsearchError(
            "--sampler cmaes needs the cmaes package, which is not installed. "
            "Install it: pip install cmaes"
        )
    return optuna.samplers.CmaEsSampler(seed=seed)


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
    url = resolve_url(session.storage)
    storage = open_storage(url)
    contenders: dict[str, tuple[str, dict[str, float]]] = {
        name: (name, dict.fromkeys(task.losses, 1.0)) for name in methods
    }
    for spec in static:
        for name, weights in static_contenders(storage, spec, task.losses).items():
            contenders[name] = ("static", weights)
    space = {
        "contenders": {name: {"method": m, "weights": w} for name, (m, w) in contenders.items()},
        "method_args": args,
    }
    definition = make_definition(session, task, "compare", space)
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
    return _run(
        session,
        task,
        definition,
        FixedPoints(points, session.n_trials),
        sampler=None,
        default_pruner="none",
        progress=progress,
        method_args=args,
        storage=(url, storage),
    )


def _check_methods(
    methods: Sequence[str], args: Mapping[str, Mapping[str, Any]], losses: Sequence[str]
) -> None:
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
    # Each method made once on a stand-in parameter: a hyperparameter its constructor refuses
    # (a negative learning rate, a torchjd argument left out) stops here, not in every trial.
    stand_in = torch.zeros(1, requires_grad=True)
    for name in methods:
        try:
            balancing.create(name, list(losses), [stand_in], **args.get(name, {}))
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


def _run(
    session: Session,
    task: Task,
    definition: StudyDefinition,
    source: PointSource,
    sampler: optuna.samplers.BaseSampler | None,
    default_pruner: str,
    progress: ProgressFactory | None,
    method_args: dict[str, dict[str, Any]] | None = None,
    storage: tuple[str, BaseStorage] | None = None,
) -> Outcome:
    url, opened = storage or (resolve_url(session.storage), None)
    opened = opened or open_storage(url)
    name = session.study or f"{task_stem(session.task)}-{definition.kind}"
    pruner_name = session.pruner or default_pruner
    notes = []
    if len(definition.objectives) > 1 and pruner_name != "none" and session.pruner:
        notes.append("note: multi-objective studies don't prune (Optuna can't); --pruner ignored.")
    pruner = make_pruner(pruner_name, definition)
    # Commands starting together would otherwise race to create the study.
    with study_lock(url, name, opened):
        study = open_study(opened, name, definition, sampler=sampler, pruner=pruner)
    options = RunOptions(
        seeds=definition.seeds,
        params=dict(session.params or {}),
        timeout=session.timeout,
        n_jobs=session.n_jobs,
        trial_timeout=session.trial_timeout,
        in_process=session.in_process,
        method_args=method_args or {},
    )
    objectives = [o.name for o in definition.objectives]
    bar = progress(definition) if progress else None
    runner = Runner(study, url, opened, session.task, task, objectives, options, bar)
    outcome = Outcome(
        study=study, definition=definition, storage_url=url, new_trials=0, notes=notes
    )
    try:
        outcome.new_trials = runner.run(source)
    except Interrupted as exc:
        exc.outcome = outcome
        raise
    return outcome


def make_definition(
    session: Session, task: Task, kind: str, space: dict[str, Any]
) -> StudyDefinition:
    """The definition a command's study must hold; checks objectives and seeds."""
    names = list(session.objectives) or [next(iter(task.metrics))]
    unknown = [n for n in names if n not in task.metrics]
    if unknown:
        raise WeightsearchError(
            f"--objective must be a metric the task declares, but got {', '.join(unknown)}. "
            f"The task's metrics are: {', '.join(task.metrics)}."
        )
    if len(set(names)) != len(names):
        raise WeightsearchError(f"--objective names a metric twice: {', '.join(names)}.")
    if session.seeds < 1:
        raise WeightsearchError(f"--seeds must be at least 1, but got {session.seeds}.")
    return StudyDefinition(
        kind=kind,
        task=f"{task_stem(session.task)}:{task.name}",
        losses=task.losses,
        objectives=tuple(Objective(n, task.metrics[n]) for n in names),
        space=space,
        seeds=tuple(range(session.seeds)),
        metrics=dict(task.metrics),
    )


def make_pruner(name: str, definition: StudyDefinition) -> optuna.pruners.BasePruner:
    """The Optuna pruner for ``--pruner``; multi-objective studies never prune."""
    if name not in PRUNERS:
        raise WeightsearchError(f"--pruner must be one of {', '.join(PRUNERS)}, but got {name!r}.")
    if name == "none" or len(definition.objectives) > 1:
        return optuna.pruners.NopPruner()
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1)
    return optuna.pruners.HyperbandPruner()
