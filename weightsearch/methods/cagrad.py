"""CAGrad: improve the worst task within a ball around the mean gradient (Liu et al. 2021)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence

import numpy as np
from torch import Tensor

from weightsearch.methods.gradients import GradientBalancer, TaskGradients
from weightsearch.methods.small_linalg import Matrix, dot, matvec, solve


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
    scale = "invariant-weights"
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

    def _coefficients(self, grads: TaskGradients, losses: list[Tensor]) -> list[float]:
        return cagrad_coefficients(grads.gram(), self.c)


def cagrad_coefficients(gram: Matrix, c: float) -> list[float]:
    """CAGrad task weights from the K x K Gram matrix of the task gradients."""
    m = [[float(v) for v in row] for row in gram]
    k = len(m)
    scale = sum(m[i][i] for i in range(k)) / k
    if not math.isfinite(scale) or scale <= 0 or c == 0:
        return [1.0 / k] * k
    m = [[v / scale for v in row] for row in m]  # the weights don't depend on the overall scale
    u = [sum(row) / k for row in m]  # g_i . g0
    radius = c * math.sqrt(max(sum(u) / k, 0.0) + 1e-8)  # c ||g0||
    w = _solve_by_support(m, u, radius) if k <= _ENUMERATE_UP_TO else None
    if w is None:
        w = _solve_slsqp(m, u, radius)
    gw_norm = math.sqrt(max(dot(w, matvec(m, w)), 0.0))
    lam = radius / (gw_norm + 1e-8)
    return [(1.0 / k + lam * wi) / (1.0 + c**2) for wi in w]


_ENUMERATE_UP_TO = 6


def _solve_by_support(m: list[list[float]], u: list[float], r: float) -> list[float] | None:
    """Exact minimiser of ``w.u + r sqrt(w^T M w)`` on the simplex, by trying supports.

    On a support S, stationarity gives ``w_S = (mu a - b) / (mu A - B)`` with ``a = M_SS^-1 1``,
    ``b = M_SS^-1 u_S``, ``A = 1.a``, ``B = 1.b``, ``C = u_S.b`` and ``mu`` the larger root of
    ``A mu^2 - 2 B mu + C - r^2 = 0``; the support whose ``w`` is non-negative and satisfies
    ``u_j + (mu A - B) (M w)_j >= mu`` off the support is optimal (the problem is convex).

    The order of the supports matters for speed only: first the vertex of least objective (the
    one single task that can be optimal), then all tasks and supports dropping, one at a time, the
    task of least weight in the last candidate, then every other support from the largest down.
    The reference model's optimum is a vertex, which the fixed order alone reached at the seventh
    solve, a fifth of the step's Python. Returns None when no support qualifies (singular blocks:
    parallel gradients).
    """
    k = len(u)
    vertex = min(range(k), key=lambda i: u[i] + r * math.sqrt(max(m[i][i], 0.0)))
    tried: set[tuple[int, ...]] = set()

    def attempt(support: tuple[int, ...]) -> tuple[list[float] | None, list[float] | None]:
        tried.add(support)
        candidate = _support_candidate(m, u, r, support)
        if candidate is None:
            return None, None
        return candidate[0], _if_optimal(m, u, *candidate)

    _, optimum = attempt((vertex,))
    support: tuple[int, ...] = tuple(range(k))
    while optimum is None and support and support not in tried:
        w, optimum = attempt(support)
        if w is None:
            break
        worst = min(support, key=w.__getitem__)
        support = tuple(i for i in support if i != worst)
    for size in range(k, 0, -1):
        for support in itertools.combinations(range(k), size):
            if optimum is not None:
                return optimum
            if support not in tried:
                _, optimum = attempt(support)
    return optimum


def _support_candidate(
    m: list[list[float]], u: list[float], r: float, support: tuple[int, ...]
) -> tuple[list[float], float, float] | None:
    """The stationary point ``w`` with weights only on ``support``, its ``mu`` and ``mu A - B``,
    or None where there is none (a singular block, no real root)."""
    k = len(u)
    size = len(support)
    block = [[m[i][j] for j in support] for i in support]
    u_s = [u[i] for i in support]
    solution = solve(block, [[1.0] * size, u_s])  # both right-hand sides at once
    if solution is None:
        return None
    a, b = solution
    big_a, big_b, big_c = sum(a), sum(b), dot(u_s, b)
    disc = big_b**2 - big_a * (big_c - r**2)
    if big_a <= 0 or disc < 0:
        return None
    mu = (big_b + math.sqrt(disc)) / big_a
    denom = mu * big_a - big_b
    if denom <= 0:
        return None
    w = [0.0] * k
    for i, ai, bi in zip(support, a, b, strict=True):
        w[i] = (mu * ai - bi) / denom
    return w, mu, denom


def _if_optimal(
    m: list[list[float]], u: list[float], w: list[float], mu: float, denom: float
) -> list[float] | None:
    """``w`` normalised if it is non-negative and optimal off its support, else None."""
    tol = 1e-9
    if min(w) < -tol or not all(math.isfinite(v) for v in w):
        return None
    bound = mu - tol * max(1.0, abs(mu))
    if not all(uj + denom * mj >= bound for uj, mj in zip(u, matvec(m, w), strict=True)):
        return None
    clipped = [max(v, 0.0) for v in w]
    total = sum(clipped)
    return [v / total for v in clipped]


def _solve_slsqp(m: list[list[float]], u: list[float], r: float) -> list[float]:
    """The authors' approach (SLSQP), for many tasks or degenerate Gram matrices."""
    from scipy.optimize import minimize

    k = len(u)
    gram, linear = np.array(m), np.array(u)

    def objective(w: np.ndarray) -> tuple[float, np.ndarray]:
        mw = gram @ w
        norm = np.sqrt(max(float(w @ mw), 0.0) + 1e-8)
        return float(w @ linear + r * norm), linear + r * mw / norm

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
    return (w / w.sum() if w.sum() > 0 else start).tolist()
