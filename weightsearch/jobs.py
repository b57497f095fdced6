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

from weightsearch.task import Pruned, Run, Task, default_device

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
    # None: the default device where the job runs, decided there, so that the coordinator
    # doesn't import torch (seconds) to ask whether CUDA is available.
    device: str | None = None


@dataclass
class JobResult:
    """What came of a job: metrics per seed, or the error or prune that stopped it."""

    state: Literal["COMPLETE", "FAIL", "PRUNED"]
    seed_values: dict[int, dict[str, float]] = field(default_factory=dict)
    error: str | None = None
    traceback: str | None = None
    curves: dict[int, list[tuple[int, dict[str, float]]]] = field(default_factory=dict)
    weight_trajectories: dict[int, list[tuple[int, dict[str, float]]]] = field(default_factory=dict)
    final_weights: dict[int, dict[str, float]] = field(default_factory=dict)
    seconds: float = 0.0


class Reporter(Protocol):
    def __call__(self, seed_index: int, step: int, metrics: Mapping[str, float]) -> bool: ...


def execute_job(task: Task, job: Job, report: Reporter) -> JobResult:
    """Run the user's function once per seed of ``job``; never raises for the user's errors.

    Only the first seed's reports reach the pruner: later seeds repeat the same steps.
    ``KeyboardInterrupt`` propagates, so that Ctrl-C stops the command.
    """
    started = time.perf_counter()
    result = JobResult(state="COMPLETE")
    for index, seed in enumerate(job.seeds):
        run = Run(
            weights=dict(job.weights),
            method=job.method,
            seed=seed,
            device=job.device or default_device(),
            params=dict(job.params),
            losses=task.losses,
            method_args=dict(job.method_args),
            reporter=lambda step, metrics, _i=index: report(_i, step, metrics),
        )
        try:
            returned = task(run)
            values = _check_metrics(returned, job.objectives)
        except Pruned:
            result.state = "PRUNED"
        except Exception as exc:
            result.state = "FAIL"
            result.error = _one_line(exc)
            result.traceback = traceback.format_exc()[-_MAX_TRACEBACK_CHARS:]
        else:
            result.seed_values[seed] = values
        result.curves[seed] = _thin(run.curve)
        result.weight_trajectories[seed] = _thin(run.weight_trajectory)
        result.final_weights[seed] = run.current_weights
        if result.state != "COMPLETE":
            break
    result.seconds = time.perf_counter() - started
    return result


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


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[-1]}" if text else type(exc).__name__


def _thin(points: list[tuple[int, dict[str, float]]]) -> list[tuple[int, dict[str, float]]]:
    if len(points) <= _MAX_CURVE_POINTS:
        return list(points)
    stride = len(points) / _MAX_CURVE_POINTS
    kept = [points[int(i * stride)] for i in range(_MAX_CURVE_POINTS - 1)]
    return [*kept, points[-1]]
