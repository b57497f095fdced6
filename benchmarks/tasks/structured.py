"""Multi-task regression tasks of known structure, K = 3..6 losses, for the search-cost benchmark.

A narrow shared trunk (6 units for 8 hidden factors) feeds one linear head per task, so the tasks
compete for the trunk's capacity. Targets are fixed non-linear readouts of generated hidden
factors; some read the same factors with opposite signs or different non-linearities (``a`` and
``d``, ``b`` and ``e``), so they pull the shared features different ways. Each target is
multiplied by its SCALE, so the losses' magnitudes (MSE grows with SCALE**2) span about 1.5
orders: with equal weights the large-scale tasks dominate the trunk, and the weights that
minimise the metric are neither equal nor (on the benchmark's power-scale grids) at the grid's
edge. The metric ``val_nmse`` is every task's validation MSE divided by its target's variance,
averaged: each task counts the same in it, whatever its scale.

Everything is generated from fixed seeds and runs on one thread, so with ``run.seed`` fixed a
task is deterministic: the benchmark trains each weight point once and replays its curve.

    weightsearch power-scale benchmarks/tasks/structured.py:k4 --base 4 --exponents -2:2
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

import weightsearch as ws

SCALES = {"a": 1.0, "b": 3.0, "c": 0.6, "d": 2.5, "e": 1.8, "f": 0.8}
"""Target scale per task; a task with K losses uses the first K."""

EPOCHS = 16
"""Full length of a trial (``--param epochs=N`` overrides)."""

_READOUTS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "a": lambda h: h[:, 0] + 0.5 * h[:, 1] * h[:, 2],
    "b": lambda h: h[:, 3] - h[:, 4] ** 2,
    "c": lambda h: torch.sin(2.0 * h[:, 5]) + h[:, 6] * h[:, 7],
    "d": lambda h: -h[:, 0] + h[:, 3] * h[:, 5],
    "e": lambda h: h[:, 4] ** 2 - 0.5 * h[:, 1] + torch.sin(3.0 * h[:, 7]),
    "f": lambda h: h[:, 2] * h[:, 6] - h[:, 5],
}


def make_data(
    names: tuple[str, ...], seed: int, n: int
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Inputs and one scaled, slightly noisy target per task."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 8, generator=generator)
    mix = torch.randn(8, 8, generator=torch.Generator().manual_seed(4321))
    hidden = torch.tanh(x @ mix)
    targets = {}
    for name in names:
        noise = 0.05 * torch.randn(n, generator=generator)
        targets[name] = SCALES[name] * (_READOUTS[name](hidden) + noise)
    return x, targets


class Net(nn.Module):
    def __init__(self, names: tuple[str, ...]) -> None:
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(8, 24), nn.Tanh(), nn.Linear(24, 6), nn.Tanh())
        self.heads = nn.ModuleDict({name: nn.Linear(6, 1) for name in names})

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        features = self.trunk(x)
        return features, {name: head(features).squeeze(-1) for name, head in self.heads.items()}


def evaluate(model: Net, x: torch.Tensor, targets: dict[str, torch.Tensor]) -> dict[str, float]:
    with torch.no_grad():
        _, predictions = model(x)
    nmse = {
        name: float(((predictions[name] - y) ** 2).mean() / y.var()) for name, y in targets.items()
    }
    return {"val_nmse": sum(nmse.values()) / len(nmse)}


def fit(run: ws.Run, names: tuple[str, ...]) -> dict[str, float]:
    """Train the trunk and heads with the trial's balancer; report the metric every epoch."""
    torch.set_num_threads(1)
    torch.manual_seed(run.seed)
    x, targets = make_data(names, seed=100 + run.seed, n=256)
    x_val, targets_val = make_data(names, seed=999, n=512)
    model = Net(names).to(run.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=float(run.params.get("lr", 0.02)))
    balancer = run.balancer(shared=model.trunk.parameters())
    metrics: dict[str, float] = {}
    for epoch in range(int(run.params.get("epochs", EPOCHS))):
        for batch in torch.randperm(len(x)).split(64):
            features, predictions = model(x[batch])
            losses = {
                name: ((predictions[name] - y[batch]) ** 2).mean() for name, y in targets.items()
            }
            optimizer.zero_grad()
            balancer.backward(losses, features=features)
            optimizer.step()
        metrics = evaluate(model, x_val, targets_val)
        run.report(epoch, metrics)
    return metrics


_METRICS = {"val_nmse": "minimize"}


@ws.task(losses=list(SCALES)[:3], metrics=_METRICS)
def k3(run: ws.Run) -> dict[str, float]:
    return fit(run, tuple(SCALES)[:3])


@ws.task(losses=list(SCALES)[:4], metrics=_METRICS)
def k4(run: ws.Run) -> dict[str, float]:
    return fit(run, tuple(SCALES)[:4])


@ws.task(losses=list(SCALES)[:5], metrics=_METRICS)
def k5(run: ws.Run) -> dict[str, float]:
    return fit(run, tuple(SCALES)[:5])


@ws.task(losses=list(SCALES)[:6], metrics=_METRICS)
def k6(run: ws.Run) -> dict[str, float]:
    return fit(run, tuple(SCALES)[:6])
