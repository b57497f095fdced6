"""A stand-in for a trial that runs out of GPU memory, on the CPU.

The point whose weight of "a" is --param oom_at (default 0.5, the grid's first point) raises
torch.OutOfMemoryError, as CUDA's caching allocator does; --param pids=FILE appends the pid of
every trial's process to FILE.
"""

import os

import torch

import weightsearch as ws


@ws.task(losses=["a", "b"], metrics={"score": "maximize"})
def out_of_memory(run: ws.Run) -> dict[str, float]:
    if "pids" in run.params:
        with open(run.params["pids"], "a") as out:
            out.write(f"{os.getpid()}\n")
    if abs(run.weights["a"] - float(run.params.get("oom_at", 0.5))) < 1e-9:
        raise torch.OutOfMemoryError(
            "CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 7.79 GiB total capacity)"
        )
    return {"score": run.weights["a"]}
