"""Tasks whose function raises: for some weights (``picky``) or always (``always_fails``)."""

from __future__ import annotations

import weightsearch as ws


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
def two_reasons(run: ws.Run) -> dict[str, float]:
    # On the 1,2 grid: c > 0.35 at three points, else b > 0.35 at two, two points complete.
    if run.weights["c"] > 0.35:
        raise ValueError("c is too large")
    if run.weights["b"] > 0.35:
        raise RuntimeError("b is too large")
    return {"score": run.weights["a"]}
