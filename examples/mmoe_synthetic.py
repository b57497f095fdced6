"""Two regression tasks of controlled correlation: the synthetic generator of MMoE (Ma et al. 2018).

The paper's recipe (section 3.2): two orthogonal unit vectors ``u1, u2`` in ``R^d``; weight
vectors ``w1 = c*u1`` and ``w2 = c*(p*u1 + sqrt(1 - p**2)*u2)``, where ``p`` is the correlation
knob; inputs ``x ~ N(0, I)``; labels ``y_i = w_i.x + sum_j sin(alpha_j * w_i.x + beta_j) +
eps_i`` with ``eps_i ~ N(0, 0.01)``. The closer ``p`` is to 1, the more the two label functions
agree. As in the paper ``d = 100``, ``c = 1`` and ten sinusoids; ``alpha_j, beta_j ~ N(0, 1)``
here (our choice), fixed across runs.

The model is the paper's shared-bottom baseline: one shared hidden layer (a narrow one, 16
units, so that the tasks compete for it) and a small tower per task, trained on
``w1*L1 + w2*L2`` (mean squared errors). The metric ``val_mse`` is the validation MSE averaged
over the two tasks. ``--param correlation=P`` (default 0.9) sets ``p``, ``--param epochs=N``
(default 12) the training length. For each ``p``, tune static weights, then compare:

    weightsearch grid examples/mmoe_synthetic.py --param correlation=0.1 --study mmoe-p0.1-grid
    weightsearch compare examples/mmoe_synthetic.py --param correlation=0.1 \\
        --static mmoe-p0.1-grid --methods equal,uncertainty,gradnorm,mgda,pcgrad --seeds 5 \\
        --study mmoe-p0.1-compare
"""

from __future__ import annotations

import math

import torch
from torch import nn

import weightsearch as ws

DIM, SINUSOIDS, C, WIDTH = 100, 10, 1.0, 3


def make_data(p: float, seed: int, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` inputs and their two labels (columns) at correlation ``p``."""
    fixed = torch.Generator().manual_seed(2018)
    basis, _ = torch.linalg.qr(torch.randn(DIM, 2, generator=fixed))
    u1, u2 = basis[:, 0], basis[:, 1]
    w = torch.stack([C * u1, C * (p * u1 + math.sqrt(1.0 - p * p) * u2)])
    alpha = torch.randn(SINUSOIDS, generator=fixed)
    beta = torch.randn(SINUSOIDS, generator=fixed)
    samples = torch.Generator().manual_seed(seed)
    x = torch.randn(n, DIM, generator=samples)
    z = x @ w.T  # (n, 2)
    waves = torch.sin(alpha * z.unsqueeze(-1) + beta).sum(-1)
    noise = 0.1 * torch.randn(n, 2, generator=samples)  # variance 0.01
    return x, z + waves + noise


class SharedBottom(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.bottom = nn.Sequential(nn.Linear(DIM, WIDTH), nn.Tanh())
        self.towers = nn.ModuleList(
            nn.Sequential(nn.Linear(WIDTH, 8), nn.ReLU(), nn.Linear(8, 1)) for _ in range(2)
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        features = self.bottom(x)
        return features, [tower(features).squeeze(-1) for tower in self.towers]


def evaluate(model: SharedBottom, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    with torch.no_grad():
        _, predictions = model(x)
    mse = [float(((pred - y[:, i]) ** 2).mean()) for i, pred in enumerate(predictions)]
    return {"val_mse": sum(mse) / 2, "mse_task1": mse[0], "mse_task2": mse[1]}


@ws.task(
    losses=["task1", "task2"],
    metrics={"val_mse": "minimize", "mse_task1": "minimize", "mse_task2": "minimize"},
)
def train(run: ws.Run) -> dict[str, float]:
    torch.set_num_threads(1)  # a model this small trains fastest on one thread
    torch.manual_seed(run.seed)
    p = float(run.params.get("correlation", 0.9))
    if not -1.0 <= p <= 1.0:
        raise ValueError(f"correlation must be within [-1, 1], but got {p}. Example: 0.5")
    epochs = int(run.params.get("epochs", 12))
    x, y = make_data(p, seed=100 + run.seed, n=4000)
    x_val, y_val = make_data(p, seed=999, n=2000)
    model = SharedBottom().to(run.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=float(run.params.get("lr", 3e-3)))
    balancer = run.balancer(shared=model.bottom.parameters())
    for epoch in range(epochs):
        for batch in torch.randperm(len(x)).split(128):
            features, predictions = model(x[batch])
            losses = {
                f"task{i + 1}": ((pred - y[batch, i]) ** 2).mean()
                for i, pred in enumerate(predictions)
            }
            optimizer.zero_grad()
            balancer.backward(losses, features=features)
            optimizer.step()
        run.report(epoch, evaluate(model, x_val, y_val))
    return evaluate(model, x_val, y_val)
