"""Three regressions with target scales 1 : 10 : 0.1 on a shared trunk (losses x, y, z).

Written from the task contract only (DESIGN section 2). ``y`` is a two-output regression: a
main output and a minor one (0.14 of its size), scaled by 10; ``x`` (scale 1) and ``z`` (scale
0.1) are one output each. The trunk is a 2-unit linear bottleneck, so it can carry only two of
the four input directions the targets need; trained full-batch to convergence, it keeps the
two with the largest weighted squared error. With equal weights those are both of ``y``'s
(100 and 100 * 0.14^2 = 2, against ``x``'s 1), and ``x`` is not learnt at all; weights of 4 : 1
on ``x`` against ``y`` (the sum-to-one grid with multipliers 1,4 has them) swap ``y``'s minor
output for ``x``. Eighty full-batch Adam steps reach that split on every seed tried (0-9), in a
fraction of a second. The metric ``nmse`` (each task's validation MSE over its target variance,
averaged) counts the three tasks the same, so it drops from about 2/3 to about 1/3.
"""

from __future__ import annotations

import torch
from torch import nn

import weightsearch as ws

SCALES = {"x": 1.0, "y": 10.0, "z": 0.1}
OUTPUTS = {"x": 1, "y": 2, "z": 1}
MINOR = 0.14
INPUTS = 4


def make_data(seed: int, n: int = 64) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randn(n, INPUTS, generator=generator)
    clean = {
        "x": inputs[:, [0]],
        "y": torch.stack([inputs[:, 1], MINOR * inputs[:, 2]], dim=1),
        "z": inputs[:, [3]],
    }
    targets = {}
    for name, target in clean.items():
        noise = 0.05 * torch.randn(target.shape, generator=generator)
        targets[name] = SCALES[name] * (target + noise)
    return inputs, targets


class Net(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.trunk = nn.Linear(INPUTS, width)
        self.heads = nn.ModuleDict({name: nn.Linear(width, k) for name, k in OUTPUTS.items()})

    def forward(self, inputs: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        features = self.trunk(inputs)
        return features, {name: head(features) for name, head in self.heads.items()}


def squared_errors(
    predictions: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """Each task's squared error, summed over its outputs and averaged over the samples."""
    return {name: ((predictions[name] - t) ** 2).sum(dim=1).mean() for name, t in targets.items()}


def evaluate(
    model: Net, inputs: torch.Tensor, targets: dict[str, torch.Tensor]
) -> dict[str, float]:
    with torch.no_grad():
        _, predictions = model(inputs)
        errors = squared_errors(predictions, targets)
    nmse = {name: float(errors[name] / t.var(dim=0).sum()) for name, t in targets.items()}
    return {"nmse": sum(nmse.values()) / len(nmse), **{f"nmse_{k}": v for k, v in nmse.items()}}


@ws.task(
    losses=list(SCALES),
    metrics={"nmse": "minimize", **{f"nmse_{name}": "minimize" for name in SCALES}},
)
def train(run: ws.Run) -> dict[str, float]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a net this small is fastest on one thread
    try:
        return fit(run)
    finally:
        torch.set_num_threads(threads)


def fit(run: ws.Run) -> dict[str, float]:
    torch.manual_seed(run.seed)
    inputs, targets = make_data(seed=run.seed)
    val_inputs, val_targets = make_data(seed=10_000, n=256)
    model = Net(int(run.params.get("width", 2)))
    optimizer = torch.optim.Adam(model.parameters(), lr=float(run.params.get("lr", 0.2)))
    balancer = run.balancer(shared=model.trunk.parameters())
    steps = int(run.params.get("steps", 80))
    for step in range(steps):
        features, predictions = model(inputs)
        optimizer.zero_grad()
        balancer.backward(squared_errors(predictions, targets), features=features)
        optimizer.step()
        if step % 20 == 19:
            run.report(step, evaluate(model, val_inputs, val_targets))
    return evaluate(model, val_inputs, val_targets)
