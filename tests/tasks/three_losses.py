"""A three-loss task written only against the task contract (DESIGN section 2).

A tiny shared trunk with three heads (a classification and two regressions of very different
scales) trains for a few full-batch steps on generated data: well under a second per trial.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

import weightsearch as ws

LOSSES = ["cls", "box", "aux"]


def make_data(seed: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(64, 4, generator=generator)
    targets = {"cls": (x[:, 0] > 0).float(), "box": 3.0 * x[:, 1], "aux": 0.1 * x[:, 2] * x[:, 3]}
    return x, targets


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(4, 8), nn.Tanh())
        self.heads = nn.ModuleDict({name: nn.Linear(8, 1) for name in LOSSES})

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        features = self.trunk(x)
        return features, {name: head(features).squeeze(-1) for name, head in self.heads.items()}


def compute_losses(
    outputs: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    return {
        "cls": F.binary_cross_entropy_with_logits(outputs["cls"], targets["cls"]),
        "box": F.mse_loss(outputs["box"], targets["box"]),
        "aux": F.mse_loss(outputs["aux"], targets["aux"]),
    }


def evaluate(model: Net, x: torch.Tensor, targets: dict[str, torch.Tensor]) -> dict[str, float]:
    with torch.no_grad():
        _, outputs = model(x)
        losses = compute_losses(outputs, targets)
        accuracy = ((outputs["cls"] > 0).float() == targets["cls"]).float().mean()
    return {"val_loss": float(sum(losses.values())), "val_acc": float(accuracy)}


@ws.task(losses=LOSSES, metrics={"val_loss": "minimize", "val_acc": "maximize"})
def train(run: ws.Run) -> dict[str, float]:
    torch.manual_seed(run.seed)
    x, targets = make_data(seed=run.seed)
    x_val, targets_val = make_data(seed=1000)
    model = Net().to(run.device)
    optimizer = torch.optim.SGD(model.parameters(), lr=float(run.params.get("lr", 0.1)))
    balancer = run.balancer(shared=model.trunk.parameters())
    for step in range(int(run.params.get("steps", 5))):
        features, outputs = model(x)
        optimizer.zero_grad()
        balancer.backward(compute_losses(outputs, targets), features=features)
        optimizer.step()
        run.report(step, evaluate(model, x_val, targets_val))
    return evaluate(model, x_val, targets_val)
