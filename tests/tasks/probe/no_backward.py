"""A task that trains with plain ``loss.backward()``: it never calls ``balancer.backward``."""

from __future__ import annotations

import torch

import weightsearch as ws


@ws.task(losses=["a", "b"], metrics={"val_loss": "minimize"})
def train(run: ws.Run) -> dict[str, float]:
    weight = torch.nn.Parameter(torch.ones(2))
    run.balancer(shared=[weight])
    loss = (weight**2).sum()
    loss.backward()
    return {"val_loss": float(loss.detach())}
