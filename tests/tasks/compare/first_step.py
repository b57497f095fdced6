"""A compare task whose every run takes the same time, except what torch loads at first use.

Each run does one optimizer step (torch imports its compiler stack at the first one in a process,
about 2 s) and sleeps 0.1 s; ``warm`` says whether that stack was loaded before the run began.
"""

from __future__ import annotations

import sys
import time

import torch

import weightsearch as ws

SLEEP_S = 0.1


@ws.task(losses=["a", "b"], metrics={"score": "minimize", "warm": "maximize"})
def first_step(run: ws.Run) -> dict[str, float]:
    warm = "torch._dynamo" in sys.modules
    weight = torch.nn.Parameter(torch.ones(2))
    optimizer = torch.optim.SGD([weight], lr=0.1)
    weight.square().sum().backward()
    optimizer.step()
    time.sleep(SLEEP_S)
    return {"score": float(weight.detach().sum()), "warm": float(warm)}
