"""What the adapter tests share: loading an example, running a task as the worker does, and
comparing a CLI study with the same model trained by hand."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import weightsearch as ws
from weightsearch.worker import Job, JobResult, execute_job

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
LOSSES = ("task1", "task2")
EQUAL = {"task1": 0.5, "task2": 0.5}
METHODS = "equal,mgda,uncertainty"  # a gradient-level method and an adaptive one with state


def example(name: str) -> ModuleType:
    """An example module, imported once by its file name (its neighbours importable)."""
    if name not in sys.modules:
        sys.path.insert(0, str(EXAMPLES))
        spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def run_job(
    task: ws.Task,
    method: str = "static",
    params: Mapping[str, Any] | None = None,
    prune_at: int | None = None,
) -> JobResult:
    """One trial of ``task`` as the worker runs it; the pruner stops it at step ``prune_at``."""
    job = Job(
        number=0,
        weights=dict(EQUAL),
        method=method,
        seeds=(0,),
        objectives=(next(iter(task.metrics)),),
        params=dict(params or {}),
    )

    def report(seed_index: int, step: int, metrics: Mapping[str, float]) -> bool:
        return prune_at is not None and step >= prune_at

    return execute_job(task, job, report)


def assert_matches_by_hand(
    report: dict[str, Any], by_hand: Callable[[dict[str, float], str, int], dict[str, float]]
) -> None:
    """Every COMPLETE trial's metrics equal those of the same model trained by hand."""
    trials = report["trials"]
    assert trials
    for trial in trials:
        assert trial["state"] == "COMPLETE", trial
        method = trial.get("method", "static")
        seed = trial.get("seed", 0)
        expected = by_hand(trial["weights"], method, seed)
        got = {name: trial["values"][name] for name in expected}
        assert got == pytest.approx(expected, rel=1e-5, abs=1e-7), (method, trial["weights"])
