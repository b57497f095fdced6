"""A file with two tasks and a plain function: naming the file alone is ambiguous."""

from __future__ import annotations

import weightsearch as ws


@ws.task(losses=["x", "y"], metrics={"loss": "minimize"})
def first(run: ws.Run) -> dict[str, float]:
    return {"loss": run.weights["x"]}


@ws.task(losses=["x", "y", "z"], metrics={"gain": "maximize"})
def second(run: ws.Run) -> dict[str, float]:
    return {"gain": run.weights["z"]}


def helper(run: ws.Run) -> dict[str, float]:
    return {"loss": 0.0}
