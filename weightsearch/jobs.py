"""One trial's work: the :class:`Job` a worker receives, and running the user's function for it.

:func:`execute_job` runs the function once per seed and turns what happens (metrics, an
exception, a non-finite value, a prune) into a :class:`JobResult`; it never raises for the user's
errors. Where it runs (this process or a worker process) is :mod:`weightsearch.worker`'s concern.
"""

from __future__ import annotations

import math
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from weightsearch.errors import WeightsearchError
from weightsearch.out_of_memory import HINT as OUT_OF_MEMORY_HINT
from weightsearch.out_of_memory import is_out_of_memory, release_memory
from weightsearch.task import Pruned, Run, RungReached, Task

# Long learning curves are thinned to this many points per seed before they are stored.
_MAX_CURVE_POINTS = 200
_MAX_TRACEBACK_CHARS = 8000


@dataclass(frozen=True)
class Job:
    """Everything a worker needs to run one trial; picklable, so it can cross a process boundary."""

    number: int
    weights: dict[str, float]
    method: str
    seeds: tuple[int, ...]
    objectives: tuple[str, ...]
    params: dict[str, Any] = field(default_factory=dict)
    method_args: dict[str, Any] = field(default_factory=dict)
    device: str = "cpu"
    max_steps: int | None = None


@dataclass
class JobResult:
    """What came of a job: metrics per seed, or the error or prune that stopped it.

    ``out_of_memory``: a seed ran out of device memory (its worker process is replaced).
    ``bad_input``: the task raised weightsearch's own error (an integration refusing the user's
    set-up, such as losses named other than the task's), which every trial would meet again:
    ``error`` then holds its message alone, and the command stops with it.
    """

    state: Literal["COMPLETE", "FAIL", "PRUNED"]
    seed_values: dict[int, dict[str, float]] = field(default_factory=dict)
    error: str | None = None
    traceback: str | None = None
    curves: dict[int, list[tuple[int, dict[str, float]]]] = field(default_factory=dict)
    weight_trajectories: dict[int, list[tuple[int, dict[str, float]]]] = field(default_factory=dict)
    final_weights: dict[int, dict[str, float]] = field(default_factory=dict)
    seconds: float = 0.0
    out_of_memory: bool = False
    bad_input: bool = False
    reports: int = 0


class Reporter(Protocol):
    def __call__(self, seed_index: int, step: int, metrics: Mapping[str, float]) -> bool: ...


def execute_job(task: Task, job: Job, report: Reporter) -> JobResult:
    """Run the user's function once per seed of ``job``; never raises for the user's errors.

    Only the first seed's reports reach the pruner: later seeds repeat the same steps. A job with
    ``max_steps`` (a halving rung) stops every seed at that many reports and ends PRUNED, with the
    metrics of each seed's last report as its values; ``reports`` counts the first seed's reports.
    ``KeyboardInterrupt`` propagates, so that Ctrl-C stops the command. A seed that runs out of
    device memory fails the job with a hint, and the memory it held is released.
    """
    started = time.perf_counter()
    result = JobResult(state="COMPLETE")
    for index, seed in enumerate(job.seeds):
        values = _run_seed(task, job, index, seed, report, result)
        if result.state == "FAIL" or values is None:
            break
    # Here, after _run_seed returned, no frame holds the failed seed's tensors any more.
    if result.out_of_memory:
        release_memory()
    result.seconds = time.perf_counter() - started
    return result


def _run_seed(
    task: Task, job: Job, index: int, seed: int, report: Reporter, result: JobResult
) -> dict[str, float] | None:
    """Run one seed of ``job``, add what came of it to ``result``; its metrics, or None."""
    run = Run(
        weights=dict(job.weights),
        method=job.method,
        seed=seed,
        device=job.device,
        params=dict(job.params),
        losses=task.losses,
        method_args=dict(job.method_args),
        reporter=lambda step, metrics: report(index, step, metrics),
        max_steps=job.max_steps,
    )
    values: dict[str, float] | None = None
    try:
        values = _check_metrics(task(run), job.objectives)
    except RungReached:
        try:
            values = _rung_metrics(run, job.objectives)
            result.state = "PRUNED"
        except MetricError as exc:
            result.state, result.error = "FAIL", _one_line(exc)
    except Pruned:
        result.state = "PRUNED"
    except WeightsearchError as exc:
        result.state, result.error, result.bad_input = "FAIL", str(exc), True
        result.traceback = traceback.format_exc()[-_MAX_TRACEBACK_CHARS:]
    except Exception as exc:
        result.state = "FAIL"
        result.error = _one_line(exc)
        result.traceback = traceback.format_exc()[-_MAX_TRACEBACK_CHARS:]
        if is_out_of_memory(exc):
            result.out_of_memory = True
            result.error = f"{result.error} ({OUT_OF_MEMORY_HINT})"
    if values is not None:
        result.seed_values[seed] = values
    if index == 0:
        result.reports = len(run.curve)
    result.curves[seed] = _thin(run.curve)
    result.weight_trajectories[seed] = _thin(run.weight_trajectory)
    result.final_weights[seed] = run.current_weights
    return values


class MetricError(Exception):
    """The function returned something other than finite numbers for its metrics."""


def _check_metrics(returned: Any, objectives: Sequence[str]) -> dict[str, float]:
    if not isinstance(returned, Mapping):
        raise MetricError(
            f"the task must return a dict of metric -> number, but returned "
            f"{type(returned).__name__}"
        )
    missing = [name for name in objectives if name not in returned]
    if missing:
        raise MetricError(
            f"the task returned no {', '.join(map(repr, missing))} "
            f"(it returned: {', '.join(map(str, returned)) or 'nothing'})"
        )
    values: dict[str, float] = {}
    for name, value in returned.items():
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise MetricError(f"metric {name!r} is not a number: {value!r}") from None
        if not math.isfinite(number):
            raise MetricError(f"metric {name!r} is {number}")
        values[str(name)] = number
    return values


def _rung_metrics(run: Run, objectives: Sequence[str]) -> dict[str, float]:
    """The metrics a halving rung ranks a point by: those of its last ``run.report``."""
    reported = run.curve[-1][1]
    missing = [name for name in objectives if not math.isfinite(reported.get(name, math.nan))]
    if missing:
        raise MetricError(
            f"--pruner halving ranks points by {', '.join(map(repr, missing))} at each rung, but "
            "run.report gave no finite value of it (it reported: "
            f"{', '.join(reported) or 'nothing'}). Pass it to run.report, or drop --pruner halving"
        )
    return dict(reported)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[-1]}" if text else type(exc).__name__


def _thin(points: list[tuple[int, dict[str, float]]]) -> list[tuple[int, dict[str, float]]]:
    if len(points) <= _MAX_CURVE_POINTS:
        return list(points)
    stride = len(points) / _MAX_CURVE_POINTS
    kept = [points[int(i * stride)] for i in range(_MAX_CURVE_POINTS - 1)]
    return [*kept, points[-1]]
