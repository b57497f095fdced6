"""Tasks whose function raises: for some weights (``picky``), always (``always_fails``), or
weightsearch's own error for a set-up no trial can run with (``refuses_its_setup``)."""

from __future__ import annotations

import weightsearch as ws
from weightsearch.errors import WeightsearchError


@ws.task(losses=["a", "b", "c"], metrics={"score": "minimize"})
def picky(run: ws.Run) -> dict[str, float]:
    c = run.weights["c"]
    if c > 0.45:
        raise ValueError(f"weight c is too large:\nc={c:.3f} > 0.45")
    return {"score": c}


@ws.task(losses=["a", "b", "c"], metrics={"score": "minimize"})
def always_fails(run: ws.Run) -> dict[str, float]:
    raise RuntimeError(f"no luck with a={run.weights['a']:.3f}")


@ws.task(losses=["a", "b", "c"], metrics={"score": "minimize"})
def refuses_its_setup(run: ws.Run) -> dict[str, float]:
    # As an integration does when the user's module gives losses named other than the task's.
    raise WeightsearchError("losses named x, y don't match the task's a, b, c. Rename them.")


@ws.task(losses=["a", "b", "c"], metrics={"score": "minimize"})
def two_reasons(run: ws.Run) -> dict[str, float]:
    # On the 1,2 grid: c > 0.35 at three points, else b > 0.35 at two, two points complete.
    if run.weights["c"] > 0.35:
        raise ValueError("c is too large")
    if run.weights["b"] > 0.35:
        raise RuntimeError("b is too large")
    return {"score": run.weights["a"]}
