"""Nash-MTL: the Nash bargaining solution among the tasks (Navon et al. 2022)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
import torch
from torch import Tensor

from weightsearch.methods.gradients import GradientBalancer, TaskGradients
from weightsearch.methods.small_linalg import Matrix, dot, matvec, solve


class NashMTL(GradientBalancer):
    """Weights ``a > 0`` solving the bargaining condition ``a_i * (G G^T a)_i = 1`` for all i.

    The condition holds on the raw Gram matrix ``M = G G^T``, as in the authors' code (which
    divides ``M`` by its Frobenius norm and multiplies ``a`` by the same factor in the
    constraint): the update ``d = G^T a`` has ``||d||^2 = a^T M a = sum_i a_i (M a)_i = K``, so
    its norm is ``sqrt(K)`` whatever the gradients' scale, and the weights shrink as the gradients
    grow. The weights may be recomputed only every few steps. The authors approximate the solution
    with a sequence of convex programs (cvxpy); here it is found exactly by Newton's method on the
    strictly convex ``0.5 a^T M a - sum(log a_i)``, whose stationary point is the condition,
    starting from the previous step's weights (as the authors' code does). Only a singular ``M``
    (a zero gradient, gradients that directly oppose) gets a ridge, relative to its smallest
    non-zero eigenvalue. Unlike the authors' code (``max_norm=1.0``) the update isn't clipped: clip
    in the training loop if wanted.

    Args:
        update_weights_every: recompute the weights every this many steps, reusing them between.
    """

    name = "nash-mtl"
    scale = "invariant-update"
    reference = (
        "Navon, Shamsian, Achituve, Maron, Kawaguchi, Chechik & Fetaya 2022, Multi-Task Learning "
        "as a Bargaining Game, ICML. https://arxiv.org/abs/2202.01017"
    )
    steps: Tensor

    def __init__(
        self,
        losses: Sequence[str],
        shared: Iterable[Tensor] | Tensor = (),
        *,
        update_weights_every: int = 1,
    ) -> None:
        super().__init__(losses, shared)
        if update_weights_every < 1:
            raise ValueError(
                f"nash-mtl.update_weights_every must be >= 1, but got {update_weights_every}. "
                f"Example: update_weights_every=1"
            )
        self.update_weights_every = update_weights_every
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))

    def _backward(
        self, losses: list[Tensor], features: list[Tensor] | None
    ) -> Sequence[float] | None:
        steps = self._numbers["steps"]
        due = steps[0] % self.update_weights_every == 0
        steps[0] += 1
        if due:
            return super()._backward(losses, features)
        self._backward_weighted(losses, self._numbers["applied"].tolist())
        return None

    def _coefficients(self, grads: TaskGradients, losses: list[Tensor]) -> list[float]:
        previous = self._numbers["applied"].tolist() if self._numbers["steps"][0] > 1 else None
        precision = torch.finfo(grads.matrix.dtype).eps
        return nash_weights(grads.gram(), start=previous, precision=precision)


def nash_weights(
    gram: Matrix,
    iterations: int = 100,
    start: Sequence[float] | None = None,
    precision: float = 2.0**-52,
) -> list[float]:
    """The Nash-MTL weights for a Gram matrix: ``a > 0`` with ``a_i (M a)_i = 1`` for all i.

    Newton's method runs on ``M`` divided by its Frobenius norm ``f`` (for conditioning) and the
    result is divided by ``sqrt(f)``, so the condition holds on ``M`` itself, as in the authors'
    code. A ridge is added only when ``M`` is singular to the gradients' precision (a zero or
    linearly dependent gradient, where the potential may have no minimum): a millionth of the
    smallest non-zero eigenvalue, so it skews no task by more than about that fraction.

    Args:
        gram: K x K inner products of the task gradients.
        iterations: at most this many Newton steps.
        start: where Newton's method starts (e.g. the previous step's weights); positive weights,
            else ``1 / sqrt(M_ii)``. The solution doesn't depend on it, only the number of steps.
        precision: machine epsilon of the dtype the Gram matrix was computed in: eigenvalues
            of the normalised matrix (the largest between ``1 / sqrt(K)`` and 1) below
            ``K * precision`` count as zero.
    """
    m = [[float(v) for v in row] for row in gram]
    k = len(m)
    size = math.sqrt(sum(v * v for row in m for v in row))
    if not math.isfinite(size) or size <= 0:
        return [1.0] * k
    m = [[v / size for v in row] for row in m]
    ridge = _ridge(m, k * precision)
    if ridge:
        m = [[v + (ridge if i == j else 0.0) for j, v in enumerate(row)] for i, row in enumerate(m)]
    root = math.sqrt(size)
    if start is not None and len(start) == k and all(0 < v < math.inf for v in start):
        a = [float(v) * root for v in start]
    else:
        a = [1.0 / math.sqrt(m[i][i]) for i in range(k)]
    return [v / root for v in _newton(m, a, iterations)]


def _ridge(m: list[list[float]], tolerance: float) -> float:
    """What to add to the diagonal of the normalised Gram matrix: 0 unless it is singular.

    Positive definite beyond the tolerance (a Cholesky factorisation of ``m - tolerance * I``
    exists, the common case, in plain Python) needs none; otherwise the eigenvalues decide.
    """
    shifted = [
        [v - (tolerance if i == j else 0.0) for j, v in enumerate(row)] for i, row in enumerate(m)
    ]
    if _cholesky_exists(shifted):
        return 0.0
    eigenvalues = np.linalg.eigvalsh(np.array(m)).tolist()
    nonzero = [v for v in eigenvalues if v > tolerance]  # the largest is >= 1 / sqrt(K)
    return max(0.0, -eigenvalues[0]) + max(1e-6 * nonzero[0], tolerance)


def _cholesky_exists(m: list[list[float]]) -> bool:
    """Whether the symmetric matrix ``m`` is positive definite (its Cholesky pivots are > 0)."""
    k = len(m)
    low = [[0.0] * k for _ in range(k)]
    for j in range(k):
        pivot = m[j][j] - sum(v * v for v in low[j][:j])
        if not pivot > 0:
            return False
        low[j][j] = math.sqrt(pivot)
        for i in range(j + 1, k):
            low[i][j] = (
                m[i][j] - sum(x * y for x, y in zip(low[i][:j], low[j][:j], strict=True))
            ) / low[j][j]
    return True


def _newton(m: list[list[float]], a: list[float], iterations: int) -> list[float]:
    """Minimise the strictly convex ``0.5 a^T m a - sum(log a_i)`` from ``a`` by damped Newton."""

    def potential(x: list[float]) -> float:
        return 0.5 * dot(x, matvec(m, x)) - sum(math.log(v) for v in x)

    value = potential(a)
    for _ in range(iterations):
        ma = matvec(m, a)
        grad = [v - 1.0 / ai for v, ai in zip(ma, a, strict=True)]
        # The Hessian m + diag(1 / a^2), scaled by diag(a) on both sides: I + diag(a) m diag(a).
        # Weights far apart (gradient norms 1e-3 and 1e3) make the Hessian itself look singular
        # to elimination; the scaled one has every eigenvalue >= 1.
        scaled = [
            [a[i] * v * a[j] + (1.0 if i == j else 0.0) for j, v in enumerate(row)]
            for i, row in enumerate(m)
        ]
        solution = solve(scaled, [[ai * gi for ai, gi in zip(a, grad, strict=True)]])
        if solution is None:  # only through overflow
            break
        step = [ai * yi for ai, yi in zip(a, solution[0], strict=True)]
        decrement = dot(grad, step)
        if decrement <= 1e-13 * (1.0 + abs(value)):
            # The predicted decrease is below what the potential's rounding can show, so a line
            # search can't judge the step; Newton's quadratic convergence makes it the last one.
            trial = [ai - si for ai, si in zip(a, step, strict=True)]
            return trial if min(trial) > 0 else a
        t = 1.0
        while True:  # backtracking: stay positive and decrease the potential
            trial = [ai - t * si for ai, si in zip(a, step, strict=True)]
            if min(trial) > 0:
                trial_value = potential(trial)
                if trial_value <= value - 0.25 * t * decrement:
                    break
            t *= 0.5
            if t < 1e-12:
                return a
        a, value = trial, trial_value
    return a
