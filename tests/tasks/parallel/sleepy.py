"""A three-loss task that sleeps instead of training, so parallel runs are cheap to check.

--param sleep=S sleeps S seconds per trial; --param crash_over=X makes the worker process die
(os._exit) when the weight of "a" is above X; --param hang_over=X sleeps an hour instead.
"""

import os
import time

import weightsearch as ws


@ws.task(losses=["a", "b", "c"], metrics={"score": "maximize"})
def train(run: ws.Run) -> dict[str, float]:
    w = run.weights
    if w["a"] > float(run.params.get("crash_over", 2)):
        os._exit(3)
    if w["a"] > float(run.params.get("hang_over", 2)):
        time.sleep(3600)
    time.sleep(float(run.params.get("sleep", 0.0)))
    return {"score": 2 * w["a"] + w["b"] - w["c"]}
