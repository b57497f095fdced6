"""CAGrad: improve the worst task within a ball around the mean gradient (Liu et al. 2021)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import torch
from torch import Tensor

from weightsearch.methods.gradients import GradientBalancer, TaskGradients


class CAGrad(GradientBalancer):
    """Conflict-averse gradient: ``d = (g0 + lam * g_w) / (1 + c^2)``, ``g0`` the mean gradient.

    ``w`` minimises ``g_w . g0 + c ||g0|| ||g_w||`` over the simplex (``g_w = sum(w_i g_i)``),
    ``lam = c ||g0|| / ||g_w||``, and the ``1 / (1 + c^2)`` rescaling is the authors' default, so
    task i's weight is ``(1/K + lam * w_i) / (1 + c^2)``. The small K-dimensional problem is
    solved with SLSQP on the Gram matrix, as in the authors' code (needs scipy).

    Args:
        c: radius of the ball around the mean gradient, relative to its norm; 0 is plain GD on
            the mean loss.
    """

    name = "cagrad"
    reference = (
        "Liu, Liu, Jin, Stone & Liu 2021, Conflict-Averse Gradient Descent for Multi-task "
        "Learning, NeurIPS. https://arxiv.org/abs/2110.14048"
    )

    def __init__(
        self,
        losses: Sequence[str],
        shared: Iterable[Tensor] | Tensor = (),
        *,
        c: float = 0.4,
    ) -> None:
        super().__init__(losses, shared)
        if c < 0:
            raise ValueError(f"cagrad.c must be >= 0, but got {c}. Example: c=0.4")
        self.c = c
        self.applied.fill_(1.0 / self.num_tasks)

    def _coefficients(self, grads: TaskGradients, losses: list[Tensor]) -> Tensor:
        return torch.from_numpy(cagrad_coefficients(grads.gram().numpy(), self.c))


def cagrad_coefficients(gram: np.ndarray, c: float) -> np.ndarray:
    """CAGrad task weights from the K x K Gram matrix of the task gradients."""
    from scipy.optimize import minimize

    m = np.asarray(gram, dtype=np.float64)
    k = m.shape[0]
    scale = float(np.trace(m)) / k
    if not np.isfinite(scale) or scale <= 0 or c == 0:
        return np.full(k, 1.0 / k)
    m = m / scale  # the weights don't depend on the gradients' overall scale
    u = m.mean(axis=1)  # g_i . g0
    radius = c * np.sqrt(max(float(m.mean()), 0.0) + 1e-8)

    def objective(w: np.ndarray) -> tuple[float, np.ndarray]:
        mw = m @ w
        norm = np.sqrt(max(float(w @ mw), 0.0) + 1e-8)
        return float(w @ u + radius * norm), u + radius * mw / norm

    start = np.full(k, 1.0 / k)
    result = minimize(
        objective,
        start,
        jac=True,
        method="SLSQP",
        bounds=[(0.0, 1.0)] * k,
        constraints=({"type": "eq", "fun": lambda w: w.sum() - 1.0, "jac": lambda w: np.ones(k)},),
    )
    w = np.clip(result.x, 0.0, None)
    w = w / w.sum() if w.sum() > 0 else start
    gw_norm = np.sqrt(max(float(w @ m @ w), 0.0))
    lam = radius / (gw_norm + 1e-8)
    return (1.0 / k + lam * w) / (1.0 + c**2)
