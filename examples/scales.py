"""Three regression tasks on one shared trunk, with target scales 1 : 10 : 0.1.

Plain summing lets the large-scale task ("height") dominate the shared trunk, and the small-scale
task ("tilt") is under-fit: the weights matter. The data is generated, so it runs anywhere in a
few seconds on a CPU. The metric ``val_nmse`` is the validation error of each task divided by its
target's variance, averaged over the tasks, so every task counts the same in it.

    weightsearch grid examples/scales.py
"""

from __future__ import annotations

import torch
from torch import nn

import weightsearch as ws

SCALES = {"width": 1.0, "height": 10.0, "tilt": 0.1}


def make_data(seed: int, n: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Inputs and one target per task: shared features, task-specific non-linear readouts."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 8, generator=generator)
    mix = torch.randn(8, 8, generator=torch.Generator().manual_seed(1234))
    hidden = torch.tanh(x @ mix)
    targets = {
        "width": hidden[:, 0] + 0.5 * hidden[:, 1] * hidden[:, 2],
        "height": hidden[:, 3] - hidden[:, 4] ** 2,
        "tilt": torch.sin(2.0 * hidden[:, 5]) + hidden[:, 6] * hidden[:, 7],
    }
    noise = {name: 0.05 * torch.randn(n, generator=generator) for name in targets}
    return x, {name: SCALES[name] * (t + noise[name]) for name, t in targets.items()}


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(8, 32), nn.Tanh(), nn.Linear(32, 16), nn.Tanh())
        self.heads = nn.ModuleDict({name: nn.Linear(16, 1) for name in SCALES})

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        features = self.trunk(x)
        return features, {name: head(features).squeeze(-1) for name, head in self.heads.items()}


def evaluate(model: Net, x: torch.Tensor, targets: dict[str, torch.Tensor]) -> dict[str, float]:
    with torch.no_grad():
        _, predictions = model(x)
    nmse = {
        name: float(((predictions[name] - y) ** 2).mean() / y.var()) for name, y in targets.items()
    }
    return {"val_nmse": sum(nmse.values()) / len(nmse), **{f"nmse_{k}": v for k, v in nmse.items()}}


@ws.task(
    losses=list(SCALES),
    metrics={"val_nmse": "minimize", **{f"nmse_{name}": "minimize" for name in SCALES}},
)
def train(run: ws.Run) -> dict[str, float]:
    torch.set_num_threads(1)  # a model this small trains fastest on one thread
    torch.manual_seed(run.seed)
    epochs = int(run.params.get("epochs", 15))
    x, targets = make_data(seed=100 + run.seed, n=512)
    x_val, targets_val = make_data(seed=999, n=512)
    model = Net().to(run.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=float(run.params.get("lr", 0.01)))
    balancer = run.balancer(shared=model.trunk.parameters())
    for epoch in range(epochs):
        for batch in torch.randperm(len(x)).split(64):
            features, predictions = model(x[batch])
            losses = {
                name: ((predictions[name] - y[batch]) ** 2).mean() for name, y in targets.items()
            }
            optimizer.zero_grad()
            balancer.backward(losses, features=features)
            optimizer.step()
        run.report(epoch, evaluate(model, x_val, targets_val))
    return evaluate(model, x_val, targets_val)
