"""Nash-MTL: the Nash bargaining solution among the tasks (Navon et al. 2022)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import torch
from torch import Tensor

from weightsearch.methods.gradients import GradientBalancer, TaskGradients
from weightsearch.methods.small_linalg import Matrix, dot, matvec, solve


class NashMTL(GradientBalancer):
    """Weights ``a > 0`` solving the bargaining condition ``a_i * (G G^T a)_i = 1`` for all i.

    As in the authors' code the Gram matrix is first divided by its Frobenius norm and the
    solution is applied to the losses as is (so the weights don't depend on the gradients' scale),
    and the weights may be recomputed only every few steps. The authors approximate the solution
    with a sequence of convex programs (cvxpy); here it is found exactly by Newton's method on the
    strictly convex ``0.5 a^T M a - sum(log a_i)``, whose stationary point is the condition,
    starting from the previous step's weights (as the authors' code does). A tiny ridge keeps it
    bounded when gradients directly oppose each other.

    Args:
        update_weights_every: recompute the weights every this many steps, reusing them between.
    """

    name = "nash-mtl"
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
        return nash_weights(grads.gram(), start=previous)


def nash_weights(
    gram: Matrix,
    ridge: float = 1e-6,
    iterations: int = 100,
    start: Sequence[float] | None = None,
) -> list[float]:
    """The Nash-MTL weights for a Gram matrix (normalised by its Frobenius norm first).

    Args:
        gram: K x K inner products of the task gradients.
        ridge: added to the diagonal of the normalised matrix.
        iterations: at most this many Newton steps.
        start: where Newton's method starts (e.g. the previous step's weights); positive weights,
            else ``1 / sqrt(M_ii)``. The solution doesn't depend on it, only the number of steps.
    """
    m = [[float(v) for v in row] for row in gram]
    k = len(m)
    size = math.sqrt(sum(v * v for row in m for v in row))
    if not math.isfinite(size) or size <= 0:
        return [1.0] * k
    m = [
        [v / size + (ridge if i == j else 0.0) for j, v in enumerate(row)]
        for i, row in enumerate(m)
    ]
    if start is not None and len(start) == k and all(0 < v < math.inf for v in start):
        a = [float(v) for v in start]
    else:
        a = [1.0 / math.sqrt(m[i][i]) for i in range(k)]

    def potential(x: list[float]) -> float:
        return 0.5 * dot(x, matvec(m, x)) - sum(math.log(v) for v in x)

    value = potential(a)
    for _ in range(iterations):
        ma = matvec(m, a)
        grad = [v - 1.0 / ai for v, ai in zip(ma, a, strict=True)]
        hessian = [
            [v + (1.0 / (a[i] * a[i]) if i == j else 0.0) for j, v in enumerate(row)]
            for i, row in enumerate(m)
        ]
        solution = solve(hessian, [grad])  # positive definite: singular only through overflow
        if solution is None:
            break
        step = solution[0]
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
