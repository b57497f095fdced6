"""A task whose metrics are computed from its weights alone: no training, a millisecond a trial.

Losses ``base``, ``big``, ``small``. With ``e_x = log10(w_x / w_base)``, ``score`` (minimise) is
``(e_big + 1)**2 + (e_small - 1)**2``, smallest at big 0.1x and small 10x the base weight;
``cost`` (minimise) is ``|e_big| + |e_small|``, smallest at equal weights, so the two conflict.
"""

from __future__ import annotations

import math

import weightsearch as ws


def log_ratios(weights: dict[str, float]) -> tuple[float, float]:
    return (
        math.log10(weights["big"] / weights["base"]),
        math.log10(weights["small"] / weights["base"]),
    )


@ws.task(losses=["base", "big", "small"], metrics={"score": "minimize", "cost": "minimize"})
def analytic(run: ws.Run) -> dict[str, float]:
    e_big, e_small = log_ratios(run.weights)
    return {"score": (e_big + 1.0) ** 2 + (e_small - 1.0) ** 2, "cost": abs(e_big) + abs(e_small)}
