"""A multi-GPU trial's shape, on the CPU: it starts one process per visible GPU itself.

Each process writes the CUDA_VISIBLE_DEVICES it sees to --param out=PREFIX.<rank>.
"""

import os

import torch.multiprocessing as mp
from ddp_ranks import train_rank

import weightsearch as ws


@ws.task(losses=["a", "b"], metrics={"ranks": "maximize"})
def ddp_spawn(run: ws.Run) -> dict[str, float]:
    # torch.cuda.device_count() on a GPU machine; the faked one has no CUDA to ask.
    ranks = len(os.environ["CUDA_VISIBLE_DEVICES"].split(","))
    mp.spawn(train_rank, args=(run.params["out"],), nprocs=ranks)
    return {"ranks": float(ranks)}
