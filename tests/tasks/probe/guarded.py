"""A task that swallows every ``Exception`` of its training loop, as some real ones do."""

from __future__ import annotations

import contextlib

import torch

import weightsearch as ws

STEPS_RUN: list[int] = []


@ws.task(losses=["a", "b"], metrics={"val_loss": "minimize"})
def train(run: ws.Run) -> dict[str, float]:
    weight = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    balancer = run.balancer(shared=[weight])
    for step in range(100):
        with contextlib.suppress(Exception):
            balancer.backward({"a": weight[0] ** 2, "b": 3.0 * weight.sum()})
        STEPS_RUN.append(step)
    return {"val_loss": 0.0}
