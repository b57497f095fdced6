"""IMTL-G: an update with equal projections on every task's gradient direction (Liu et al. 2021)."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from weightsearch.methods.gradients import GradientBalancer, TaskGradients

_TINY = 1e-12


class IMTL(GradientBalancer):
    """IMTL-G: weights ``a`` (summing to 1) so that ``g = sum(a_i g_i)`` has the same projection
    on every unit gradient ``u_i = g_i / ||g_i||``.

    Closed form of the paper: with ``D = [g_1 - g_i]`` and ``U = [u_1 - u_i]`` for ``i = 2..K``,
    ``a_2..K = g_1 U^T (D U^T)^-1`` and ``a_1 = 1 - sum(a_2..K)``; computed from the Gram matrix,
    with a least-squares solve when the gradients are parallel. Only the gradient part (IMTL-G)
    is implemented; the loss part (IMTL-L) is not.
    """

    name = "imtl"
    reference = (
        "Liu, Li, Kuang, Xue, Chen, Yang, Liao & Zhang 2021, Towards Impartial Multi-task "
        "Learning, ICLR. https://openreview.net/forum?id=IMPnRXEWpvr"
    )

    def _coefficients(self, grads: TaskGradients, losses: list[Tensor]) -> Tensor:
        return imtl_coefficients(grads.gram())


def imtl_coefficients(gram: Tensor) -> Tensor:
    """IMTL-G weights from the K x K Gram matrix of the task gradients."""
    k = gram.shape[0]
    if k == 1:
        return torch.ones(1, dtype=torch.float64)
    # K x K work in numpy: for tiny arrays its per-call cost is a fraction of torch's, and its
    # LAPACK solve is bit-for-bit repeatable across calls.
    m = gram.double().cpu().numpy()
    norms = np.maximum(np.sqrt(np.maximum(np.diag(m), 0.0)), _TINY)
    # p[i, j] = g_i . u_j
    p = m / norms[None, :]
    a = p[0, 0] - p[0, 1:]  # g_1 . (u_1 - u_j)
    du = p[0, 0] - p[0, 1:][None, :] - p[1:, 0][:, None] + p[1:, 1:]  # (g_1 - g_i).(u_1 - u_j)
    rest = np.linalg.lstsq(du.T, a, rcond=None)[0]
    if not np.isfinite(rest).all():
        return torch.full((k,), 1.0 / k, dtype=torch.float64)
    return torch.from_numpy(np.concatenate([[1 - rest.sum()], rest]))
