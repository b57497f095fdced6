"""PCGrad: project away the conflicting components of task gradients (Yu et al. 2020)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from weightsearch.methods.gradients import GradientBalancer, TaskGradients
from weightsearch.methods.small_linalg import Matrix


class PCGrad(GradientBalancer):
    """Gradient surgery: each task gradient loses its component along every conflicting one.

    For each task i, in a random order of the other tasks j: if ``g_i' . g_j < 0``, then
    ``g_i' -= (g_i' . g_j) / ||g_j||^2 * g_j``; the update is ``sum_i g_i'``. Each ``g_i'`` is a
    combination of the original gradients, so the update is ``sum_i c_i g_i`` and the reported
    weights are the ``c_i``. The order comes from torch's global generator.
    """

    name = "pcgrad"
    scale = "invariant-weights"
    reference = (
        "Yu, Kumar, Gupta, Levine, Hausman & Finn 2020, Gradient Surgery for Multi-Task "
        "Learning, NeurIPS. https://arxiv.org/abs/2001.06782"
    )

    def _draw(self) -> Tensor:
        return _random_keys(self.num_tasks)

    def _coefficients(self, grads: TaskGradients, losses: list[Tensor]) -> list[float]:
        keys = self._shared_random().tolist()  # rank 0's under torch.distributed
        return pcgrad_coefficients(grads.gram(), [_order(row) for row in keys])


def pcgrad_coefficients(gram: Matrix, orders: Sequence[Sequence[int]] | None = None) -> list[float]:
    """The ``c`` with ``sum_i g_i' = sum_j c_j g_j``, from the Gram matrix of the gradients.

    Args:
        gram: K x K inner products of the task gradients.
        orders: for each task, the order in which to visit the others (random if None: one
            permutation per task from torch's global generator).
    """
    m = [[float(v) for v in row] for row in gram]
    k = len(m)
    if orders is None:
        orders = [_order(row) for row in _random_keys(k).tolist()]
    total = [0.0] * k
    for i in range(k):
        row = [0.0] * k  # g_i' in the basis of the original gradients
        row[i] = 1.0
        for j in orders[i]:
            if j == i or m[j][j] <= 0:
                continue
            dot = sum(row[a] * m[a][j] for a in range(k))
            if dot < 0:
                row[j] -= dot / m[j][j]
        for a in range(k):
            total[a] += row[a]
    return total


def _random_keys(k: int) -> Tensor:
    """k random keys per task (one draw for all tasks): each task's order sorts its row."""
    return torch.rand(k, k, dtype=torch.float64)


def _order(keys: list[float]) -> list[int]:
    return sorted(range(len(keys)), key=keys.__getitem__)
