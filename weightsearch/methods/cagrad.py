"""CAGrad: improve the worst task within a ball around the mean gradient (Liu et al. 2021)."""

from __future__ import annotations

import itertools
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
    solved exactly by trying each support (up to 6 tasks); beyond that, or for parallel gradients,
    with SLSQP as in the authors' code (needs scipy).

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
    m = np.asarray(gram, dtype=np.float64)
    k = m.shape[0]
    scale = float(np.trace(m)) / k
    if not np.isfinite(scale) or scale <= 0 or c == 0:
        return np.full(k, 1.0 / k)
    m = m / scale  # the weights don't depend on the gradients' overall scale
    u = m.mean(axis=1)  # g_i . g0
    radius = c * np.sqrt(max(float(m.mean()), 0.0) + 1e-8)
    w = _solve_by_support(m, u, radius) if k <= _ENUMERATE_UP_TO else None
    if w is None:
        w = _solve_slsqp(m, u, radius)
    gw_norm = np.sqrt(max(float(w @ m @ w), 0.0))
    lam = radius / (gw_norm + 1e-8)
    return (1.0 / k + lam * w) / (1.0 + c**2)


_ENUMERATE_UP_TO = 6


def _solve_by_support(m: np.ndarray, u: np.ndarray, r: float) -> np.ndarray | None:
    """Exact minimiser of ``w.u + r sqrt(w^T M w)`` on the simplex, by trying each support.

    On a support S, stationarity gives ``w_S = (mu a - b) / (mu A - B)`` with ``a = M_SS^-1 1``,
    ``b = M_SS^-1 u_S``, ``A = 1.a``, ``B = 1.b``, ``C = u_S.b`` and ``mu`` the larger root of
    ``A mu^2 - 2 B mu + C - r^2 = 0``; the support whose ``w`` is non-negative and satisfies
    ``u_j + (mu A - B) (M w)_j >= mu`` off the support is optimal (the problem is convex). Returns
    None when no support qualifies (singular blocks: parallel gradients).
    """
    k = len(u)
    tol = 1e-9
    for size in range(k, 0, -1):
        for support in itertools.combinations(range(k), size):
            idx = list(support)
            block = m[np.ix_(idx, idx)]
            try:  # both right-hand sides in one LAPACK call
                a, b = np.linalg.solve(block, np.stack([np.ones(size), u[idx]], axis=1)).T
            except np.linalg.LinAlgError:
                continue
            big_a, big_b, big_c = a.sum(), b.sum(), float(u[idx] @ b)
            disc = big_b**2 - big_a * (big_c - r**2)
            if big_a <= 0 or disc < 0:
                continue
            mu = (big_b + np.sqrt(disc)) / big_a
            denom = mu * big_a - big_b
            if denom <= 0:
                continue
            w = np.zeros(k)
            w[idx] = (mu * a - b) / denom
            if w.min() < -tol or not np.all(np.isfinite(w)):
                continue
            if np.all(u + denom * (m @ w) >= mu - tol * max(1.0, abs(mu))):
                w = np.clip(w, 0.0, None)
                return w / w.sum()
    return None


def _solve_slsqp(m: np.ndarray, u: np.ndarray, r: float) -> np.ndarray:
    """The authors' approach (SLSQP), for many tasks or degenerate Gram matrices."""
    from scipy.optimize import minimize

    k = len(u)

    def objective(w: np.ndarray) -> tuple[float, np.ndarray]:
        mw = m @ w
        norm = np.sqrt(max(float(w @ mw), 0.0) + 1e-8)
        return float(w @ u + r * norm), u + r * mw / norm

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
    return w / w.sum() if w.sum() > 0 else start
