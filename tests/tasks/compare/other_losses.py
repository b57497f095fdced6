"""A one-step task with losses (p, q) other than ``scripted.py``'s (a, b).

A grid study of it is a ``--static`` study that doesn't fit ``scripted.py``.
"""

from __future__ import annotations

import torch

import weightsearch as ws


@ws.task(losses=["p", "q"], metrics={"score": "maximize", "cost": "minimize"})
def train(run: ws.Run) -> dict[str, float]:
    shared = torch.ones(1, requires_grad=True)
    balancer = run.balancer(shared=[shared])
    balancer.backward({"p": (shared**2).sum(), "q": (2.0 * shared**2).sum()})
    return {"score": run.weights["p"], "cost": run.weights["q"]}
