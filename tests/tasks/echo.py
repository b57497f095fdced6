"""A task without training whose metrics are simple functions of its weights and seed.

Its results can be checked by hand: ``score`` is the weight of ``a`` plus the seed (times
``--param noise=X``, default 1). ``--param fail=true`` makes every trial raise.
"""

from __future__ import annotations

import weightsearch as ws


@ws.task(losses=["a", "b", "c"], metrics={"score": "minimize", "bonus": "maximize"})
def echo(run: ws.Run) -> dict[str, float]:
    if run.params.get("fail"):
        raise RuntimeError("asked to fail")
    return {
        "score": run.weights["a"] + run.seed * float(run.params.get("noise", 1.0)),
        "bonus": run.weights["b"],
        "weight_sum": sum(run.weights.values()),
    }
