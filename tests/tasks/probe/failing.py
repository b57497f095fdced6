"""A task whose function raises after two balancer steps."""

from __future__ import annotations

import torch

import weightsearch as ws


@ws.task(losses=["a", "b"], metrics={"val_loss": "minimize"})
def train(run: ws.Run) -> dict[str, float]:
    weight = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    balancer = run.balancer(shared=[weight])
    for _ in range(2):
        balancer.backward({"a": weight[0] ** 2, "b": weight.sum()})
    raise RuntimeError("data loader broke")
