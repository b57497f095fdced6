"""A task that reports what its worker process's environment holds, instead of training.

``value`` is ``WSTEST_VALUE`` as a number (-1 when unset); ``gone`` is 1 while ``WSTEST_GONE``
is set and 0 once it is not.
"""

import os

import weightsearch as ws


@ws.task(losses=["a"], metrics={"value": "maximize", "gone": "maximize"})
def environment(run: ws.Run) -> dict[str, float]:
    return {
        "value": float(os.environ.get("WSTEST_VALUE", "-1")),
        "gone": float("WSTEST_GONE" in os.environ),
    }
