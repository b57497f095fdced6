"""PCGrad: project away the conflicting components of task gradients (Yu et al. 2020)."""

from __future__ import annotations

import torch
from torch import Tensor

from weightsearch.methods.gradients import GradientBalancer, TaskGradients


class PCGrad(GradientBalancer):
    """Gradient surgery: each task gradient loses its component along every conflicting one.

    For each task i, in a random order of the other tasks j: if ``g_i' . g_j < 0``, then
    ``g_i' -= (g_i' . g_j) / ||g_j||^2 * g_j``; the update is ``sum_i g_i'``. Each ``g_i'`` is a
    combination of the original gradients, so the update is ``sum_i c_i g_i`` and the reported
    weights are the ``c_i``. The order comes from torch's global generator.
    """

    name = "pcgrad"
    reference = (
        "Yu, Kumar, Gupta, Levine, Hausman & Finn 2020, Gradient Surgery for Multi-Task "
        "Learning, NeurIPS. https://arxiv.org/abs/2001.06782"
    )

    def _coefficients(self, grads: TaskGradients, losses: list[Tensor]) -> Tensor:
        return pcgrad_coefficients(grads.gram())


def pcgrad_coefficients(gram: Tensor, orders: list[list[int]] | None = None) -> Tensor:
    """The ``c`` with ``sum_i g_i' = sum_j c_j g_j``, from the Gram matrix of the gradients.

    Args:
        gram: K x K inner products of the task gradients.
        orders: for each task, the order in which to visit the others (random if None).
    """
    k = gram.shape[0]
    m = gram.tolist()
    total = [0.0] * k
    for i in range(k):
        row = [0.0] * k  # g_i' in the basis of the original gradients
        row[i] = 1.0
        order = orders[i] if orders is not None else torch.randperm(k).tolist()
        for j in order:
            if j == i or m[j][j] <= 0:
                continue
            dot = sum(row[a] * m[a][j] for a in range(k))
            if dot < 0:
                row[j] -= dot / m[j][j]
        for a in range(k):
            total[a] += row[a]
    return torch.tensor(total, dtype=torch.float64)
