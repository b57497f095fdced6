"""A task with a learning curve that is clearly bad for some weights: a target for pruning.

Losses ``base``, ``big``, ``small``. A trial is *bad* when ``big`` weighs more than ``base``: it
reports ``score`` 11.0 at every step, where a good trial reports 0.0, so a median pruner has an
unambiguous decision. The final ``score`` of a good trial is ``(log10(w_small / w_base) - 1)**2``
(below 5 on the exponent range -1:1), of a bad one 100; ``other`` is a second, conflicting
objective for multi-objective runs.
"""

from __future__ import annotations

import math

import weightsearch as ws

BAD_VALUE = 11.0
STEPS = 4


def is_bad(weights: dict[str, float]) -> bool:
    return weights["big"] > weights["base"] * (1 + 1e-9)


@ws.task(losses=["base", "big", "small"], metrics={"score": "minimize", "other": "minimize"})
def curves(run: ws.Run) -> dict[str, float]:
    bad = is_bad(run.weights)
    e_small = math.log10(run.weights["small"] / run.weights["base"])
    for step in range(STEPS):
        run.report(step, {"score": BAD_VALUE if bad else 0.0})
    score = 100.0 if bad else (e_small - 1.0) ** 2
    return {"score": score, "other": -e_small}
