"""A task that records where it ran instead of training: one JSON line per trial.

--param out=FILE appends {"visible": CUDA_VISIBLE_DEVICES or null, "device": run.device, "pid",
"start", "end"} to FILE; --param sleep=S sleeps S seconds in between, so trials overlap.
"""

import json
import os
import time

import weightsearch as ws


@ws.task(losses=["a", "b"], metrics={"score": "maximize"})
def pinned(run: ws.Run) -> dict[str, float]:
    start = time.time()
    time.sleep(float(run.params.get("sleep", 0.0)))
    line = {
        "visible": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "device": run.device,
        "pid": os.getpid(),
        "weight": run.weights["a"],
        "start": start,
        "end": time.time(),
    }
    with open(run.params["out"], "a") as out:
        out.write(json.dumps(line) + "\n")
    return {"score": run.weights["a"]}
