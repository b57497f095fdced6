"""A task inside a package: loaded as ``wstest_taskpkg.models:fit``."""

from __future__ import annotations

import weightsearch as ws


@ws.task(losses=["left", "right"], metrics={"err": "minimize"})
def fit(run: ws.Run) -> dict[str, float]:
    return {"err": abs(run.weights["left"] - 0.25)}
