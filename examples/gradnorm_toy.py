"""The synthetic toy of GradNorm (Chen et al. 2018, section 4): T regressions of different scales.

Task i maps x to ``f_i(x) = sigma_i * tanh((B + eps_i) x)``: ``B`` is shared by all tasks and
``eps_i`` is each task's own perturbation, so the tasks are related but not identical, and
``sigma_i`` sets the scale of task i's targets. As in the paper, ``B`` has entries of variance
10 and ``eps_i`` of variance 3.5, the model is a 4-layer ReLU trunk of 100 units with one linear
head per task, trained on the sum of the L2 losses, and two tasks have ``sigma = 1, 100``. Our
choices, to train in seconds on a CPU: 20 inputs and 10 outputs (the paper: 250 and 100), the
argument of tanh scaled to unit variance (else tanh saturates), 2000 training samples, and for
ten tasks ``sigma`` log-spaced from 1 to 100.

A squared loss grows as ``sigma**2``, so summed losses let the large-scale tasks own the trunk
and the small-scale ones are under-fit. GradNorm learns weights (summing to T) that undo this;
``power-scale`` finds static weights that do it. The metric ``val_nmse`` is each task's
validation MSE divided by its target's variance, averaged over the tasks, so every task counts
the same in it. One task function per T:

    weightsearch compare examples/gradnorm_toy.py:two_tasks --methods equal,gradnorm
    weightsearch power-scale examples/gradnorm_toy.py:two_tasks --exponents -5:0
    weightsearch compare examples/gradnorm_toy.py:ten_tasks --methods equal,gradnorm

``--param epochs=N`` (default 15), ``--param lr=X`` (Adam, default 0.003), ``--param alpha=A``
(GradNorm's alpha, default 1.5; the paper used 0.12 on this toy).
"""

from __future__ import annotations

import math

import torch
from torch import nn

import weightsearch as ws

INPUTS, OUTPUTS, HIDDEN = 20, 10, 100


def scales(tasks: int) -> list[float]:
    """The sigma of each task: 1 and 100 for two tasks, log-spaced from 1 to 100 otherwise."""
    return [10.0 ** (2.0 * i / (tasks - 1)) for i in range(tasks)]


def make_data(
    tasks: int, seed: int, n: int
) -> tuple[torch.Tensor, list[torch.Tensor], list[float]]:
    """Inputs and one target matrix per task; the functions are fixed, the samples vary by seed."""
    functions = torch.Generator().manual_seed(2018)
    shared = math.sqrt(10.0) * torch.randn(OUTPUTS, INPUTS, generator=functions)
    own = [math.sqrt(3.5) * torch.randn(OUTPUTS, INPUTS, generator=functions) for _ in range(tasks)]
    sigmas = scales(tasks)
    samples = torch.Generator().manual_seed(seed)
    x = torch.randn(n, INPUTS, generator=samples)
    # Unit variance inside tanh: an entry of B + eps_i has variance 13.5.
    scale = 1.0 / math.sqrt(13.5 * INPUTS)
    targets = [s * torch.tanh(scale * x @ (shared + e).T) for s, e in zip(sigmas, own, strict=True)]
    return x, targets, sigmas


class Net(nn.Module):
    def __init__(self, tasks: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for width in (INPUTS, HIDDEN, HIDDEN, HIDDEN):
            layers += [nn.Linear(width, HIDDEN), nn.ReLU()]
        self.trunk = nn.Sequential(*layers)
        self.heads = nn.ModuleList(nn.Linear(HIDDEN, OUTPUTS) for _ in range(tasks))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        features = self.trunk(x)
        return features, [head(features) for head in self.heads]


def evaluate(model: Net, x: torch.Tensor, targets: list[torch.Tensor]) -> dict[str, float]:
    with torch.no_grad():
        _, predictions = model(x)
    nmse = [
        float(((p - y) ** 2).mean() / y.var()) for p, y in zip(predictions, targets, strict=True)
    ]
    return {"val_nmse": sum(nmse) / len(nmse), **{f"nmse_t{i}": v for i, v in enumerate(nmse)}}


def train(run: ws.Run, tasks: int) -> dict[str, float]:
    """Train the toy with the trial's weights or method; the body of both tasks below."""
    torch.set_num_threads(1)  # a model this small trains fastest on one thread
    torch.manual_seed(run.seed)
    epochs = int(run.params.get("epochs", 15))
    x, targets, _ = make_data(tasks, seed=100 + run.seed, n=2000)
    x_val, targets_val, _ = make_data(tasks, seed=999, n=1000)
    model = Net(tasks).to(run.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=float(run.params.get("lr", 3e-3)))
    hyper = {"alpha": float(run.params.get("alpha", 1.5))} if run.method == "gradnorm" else {}
    balancer = run.balancer(shared=model.trunk.parameters(), **hyper)
    for epoch in range(epochs):
        for batch in torch.randperm(len(x)).split(100):
            features, predictions = model(x[batch])
            losses = {
                f"t{i}": ((p - y[batch]) ** 2).mean()
                for i, (p, y) in enumerate(zip(predictions, targets, strict=True))
            }
            optimizer.zero_grad()
            balancer.backward(losses, features=features)
            optimizer.step()
        run.report(epoch, evaluate(model, x_val, targets_val))
    return evaluate(model, x_val, targets_val)


@ws.task(
    losses=["t0", "t1"],
    metrics={"val_nmse": "minimize", "nmse_t0": "minimize", "nmse_t1": "minimize"},
)
def two_tasks(run: ws.Run) -> dict[str, float]:
    """T = 2: sigma 1 (t0) and 100 (t1)."""
    return train(run, tasks=2)


@ws.task(
    losses=[f"t{i}" for i in range(10)],
    metrics={"val_nmse": "minimize", **{f"nmse_t{i}": "minimize" for i in range(10)}},
)
def ten_tasks(run: ws.Run) -> dict[str, float]:
    """T = 10: sigma log-spaced from 1 (t0) to 100 (t9)."""
    return train(run, tasks=10)
