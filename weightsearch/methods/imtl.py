"""IMTL-G: an update with equal projections on every task's gradient direction (Liu et al. 2021)."""

from __future__ import annotations

import math

import numpy as np
from torch import Tensor

from weightsearch.methods.gradients import GradientBalancer, TaskGradients
from weightsearch.methods.small_linalg import Matrix, solve

_TINY = 1e-12


class IMTL(GradientBalancer):
    """IMTL-G: weights ``a`` (summing to 1) so that ``g = sum(a_i g_i)`` has the same projection
    on every unit gradient ``u_i = g_i / ||g_i||``.

    Closed form of the paper: with ``D = [g_1 - g_i]`` and ``U = [u_1 - u_i]`` for ``i = 2..K``,
    ``a_2..K = g_1 U^T (D U^T)^-1`` and ``a_1 = 1 - sum(a_2..K)``; computed from the Gram matrix,
    with a least-squares solve when the gradients are parallel.

    Only the gradient part (IMTL-G) is a method here. The loss part, IMTL-L, minimises
    ``exp(s_i) * L_i - s_i`` over a learned ``s_i``: with ``s_i = -log(sigma_i^2)`` that is twice
    the objective of ``uncertainty`` (``kendall`` form), so it is that method with every weight
    doubled. The paper's hybrid (IMTL-G on the gradients of ``exp(s_i) * L_i``) has the direction
    of IMTL-G, since the projections on unit gradients don't change when a gradient is scaled;
    only the length of the update differs.
    """

    name = "imtl"
    scale = "invariant-weights"
    reference = (
        "Liu, Li, Kuang, Xue, Chen, Yang, Liao & Zhang 2021, Towards Impartial Multi-task "
        "Learning, ICLR. https://openreview.net/forum?id=IMPnRXEWpvr"
    )

    def _coefficients(self, grads: TaskGradients, losses: list[Tensor]) -> list[float]:
        return imtl_coefficients(grads.gram())


def imtl_coefficients(gram: Matrix) -> list[float]:
    """IMTL-G weights from the K x K Gram matrix of the task gradients."""
    m = [[float(v) for v in row] for row in gram]
    k = len(m)
    if k == 1:
        return [1.0]
    norms = [max(math.sqrt(max(m[i][i], 0.0)), _TINY) for i in range(k)]
    p = [[m[i][j] / norms[j] for j in range(k)] for i in range(k)]  # p[i][j] = g_i . u_j
    others = range(1, k)
    a = [p[0][0] - p[0][j] for j in others]  # g_1 . (u_1 - u_j)
    # du[j][i] = (g_1 - g_i) . (u_1 - u_j): the system D U^T, transposed
    du = [[p[0][0] - p[0][j] - p[i][0] + p[i][j] for i in others] for j in others]
    solution = solve(du, [a])
    if solution is None:  # parallel gradients: least squares
        rest = np.linalg.lstsq(np.array(du), np.array(a), rcond=None)[0].tolist()
    else:
        rest = solution[0]
    if not all(math.isfinite(v) for v in rest):
        return [1.0 / k] * k
    return [1.0 - sum(rest), *rest]
