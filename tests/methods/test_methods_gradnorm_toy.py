"""GradNorm's synthetic toy (Chen et al. 2018, section 4), scaled down to run in about a second.

T = 2 regression tasks ``f_i(x) = sigma_i * tanh((B + eps_i) x)`` with sigma = (1, 100), B and eps_i
constant Gaussian matrices (variances 10 and 3.5): the tasks share B, and the second one's scale
makes its gradients dominate an equal-weight sum. GradNorm must raise the weight of the small-scale
task above 1 while keeping the weights' sum at T.
"""

from __future__ import annotations

import math

import torch

from weightsearch import methods


def test_gradnorm_raises_the_small_scale_task() -> None:
    g = torch.Generator().manual_seed(0)
    d_in, d_out, n = 50, 20, 512
    b = torch.randn(d_out, d_in, generator=g) * math.sqrt(10.0)
    eps = [torch.randn(d_out, d_in, generator=g) * math.sqrt(3.5) for _ in range(2)]
    sigma = (1.0, 100.0)
    x = torch.randn(n, d_in, generator=g)
    targets = [s * torch.tanh(x @ (b + e).T) for s, e in zip(sigma, eps, strict=True)]

    torch.manual_seed(0)
    trunk = torch.nn.Sequential(
        torch.nn.Linear(d_in, 64), torch.nn.ReLU(), torch.nn.Linear(64, 64), torch.nn.ReLU()
    )
    heads = torch.nn.ModuleList(torch.nn.Linear(64, d_out) for _ in range(2))
    params = list(trunk.parameters()) + list(heads.parameters())
    opt = torch.optim.Adam(params, lr=1e-3)
    balancer = methods.create("gradnorm", ["small", "large"], trunk.parameters(), alpha=0.12)
    history = []
    for step in range(100):
        rows = torch.arange(step * 64, step * 64 + 64) % n
        features = trunk(x[rows])
        losses = {
            name: torch.nn.functional.mse_loss(head(features), target[rows])
            for name, head, target in zip(("small", "large"), heads, targets, strict=True)
        }
        opt.zero_grad()
        history.append(balancer.backward(losses))
        opt.step()
    final = balancer.task_weights.detach()
    assert float(final[0]) > 1.0 > float(final[1])
    assert math.isclose(float(final.sum()), 2.0, rel_tol=1e-9)
    assert all(math.isclose(sum(w.values()), 2.0, rel_tol=1e-9) for w in history)
    assert history[-1]["small"] > history[10]["small"] > 1.0
