"""Three regressions of target scales 1 : 10 : 0.1 on one shared trunk (losses base, big, small).

Written only against the task contract (DESIGN section 2). The trunk is a 3-unit bottleneck that
all three heads read, trained full-batch with Adam for 60 steps, so the trunk follows whichever
weighted loss is largest: with equal weights the 100x larger squared error of ``big`` takes the
trunk and ``small`` (0.01x) is barely learnt. ``nmse`` is each task's validation MSE divided by
its target's variance, averaged, so every task counts the same in it: the weights matter.
"""

from __future__ import annotations

import torch
from torch import nn

import weightsearch as ws

SCALES = {"base": 1.0, "big": 10.0, "small": 0.1}


def make_data(seed: int, n: int = 128) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 6, generator=generator)
    targets = {
        "base": x[:, 0] + x[:, 1],
        "big": x[:, 2] - x[:, 3],
        "small": x[:, 4] + x[:, 5],
    }
    return x, {name: SCALES[name] * y for name, y in targets.items()}


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(6, 3), nn.Tanh())
        self.heads = nn.ModuleDict({name: nn.Linear(3, 1) for name in SCALES})

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        features = self.trunk(x)
        return features, {name: head(features).squeeze(-1) for name, head in self.heads.items()}


def evaluate(model: Net, x: torch.Tensor, targets: dict[str, torch.Tensor]) -> dict[str, float]:
    with torch.no_grad():
        _, predictions = model(x)
    nmse = {
        name: float(((predictions[name] - y) ** 2).mean() / y.var()) for name, y in targets.items()
    }
    return {"nmse": sum(nmse.values()) / len(nmse), **{f"nmse_{k}": v for k, v in nmse.items()}}


@ws.task(
    losses=list(SCALES),
    metrics={"nmse": "minimize", **{f"nmse_{name}": "minimize" for name in SCALES}},
)
def train(run: ws.Run) -> dict[str, float]:
    # A net this small runs fastest on one thread, above all on a busy machine.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return fit(run)
    finally:
        torch.set_num_threads(threads)


def fit(run: ws.Run) -> dict[str, float]:
    torch.manual_seed(run.seed)
    x, targets = make_data(seed=run.seed)
    x_val, targets_val = make_data(seed=1000)
    model = Net().to(run.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=float(run.params.get("lr", 0.05)))
    balancer = run.balancer(shared=model.trunk.parameters())
    for step in range(int(run.params.get("steps", 60))):
        _, predictions = model(x)
        losses = {name: ((predictions[name] - y) ** 2).mean() for name, y in targets.items()}
        optimizer.zero_grad()
        balancer.backward(losses)
        optimizer.step()
        if step % 20 == 19:
            run.report(step, evaluate(model, x_val, targets_val))
    return evaluate(model, x_val, targets_val)
