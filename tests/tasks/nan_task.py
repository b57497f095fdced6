"""A task that returns NaN for its objective when the weight of ``a`` is the largest."""

from __future__ import annotations

import weightsearch as ws


@ws.task(losses=["a", "b", "c"], metrics={"val_loss": "minimize"})
def train(run: ws.Run) -> dict[str, float]:
    a = run.weights["a"]
    return {"val_loss": float("nan") if a > 0.4 else a}
