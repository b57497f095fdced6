"""A task for --pruner halving whose value at every step can be worked out by hand.

Two losses, ``a`` (the anchor, weight 1) and ``b`` (weight ``2 ** n`` in a base-2 power-scale
study). After step ``s`` of ``--param steps=N`` (default 6) it reports
``loss = |n - 0.8| + 1 / s``, so points rank the same at every step: n = 1, 0, 2, -1, 3, ...

``--param sleep=S`` sleeps S seconds per step. ``--param block=DIR`` makes the point n = -1,
once past step 2 (so only when promoted above a 2-step rung), create ``DIR/blocked`` and wait
until ``DIR/go`` exists.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import weightsearch as ws


@ws.task(losses=["a", "b"], metrics={"loss": "minimize"})
def rungs(run: ws.Run) -> dict[str, float]:
    n = math.log2(run.weights["b"] / run.weights["a"])
    loss = math.inf
    for step in range(1, int(run.params.get("steps", 6)) + 1):
        time.sleep(float(run.params.get("sleep", 0)))
        block = run.params.get("block")
        if block and round(n) == -1 and step == 3:
            (Path(block) / "blocked").touch()
            while not (Path(block) / "go").exists():
                time.sleep(0.05)
        loss = abs(n - 0.8) + 1 / step
        run.report(step, {"loss": loss})
    return {"loss": loss}
