"""Nash-MTL: the Nash bargaining solution among the tasks (Navon et al. 2022)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import torch
from torch import Tensor

from weightsearch.methods.base import backward_weighted
from weightsearch.methods.gradients import GradientBalancer, TaskGradients


class NashMTL(GradientBalancer):
    """Weights ``a > 0`` solving the bargaining condition ``a_i * (G G^T a)_i = 1`` for all i.

    As in the authors' code the Gram matrix is first divided by its Frobenius norm and the
    solution is applied to the losses as is (so the weights don't depend on the gradients' scale),
    and the weights may be recomputed only every few steps. The authors approximate the solution
    with a sequence of convex programs (cvxpy); here it is found exactly by Newton's method on the
    strictly convex ``0.5 a^T M a - sum(log a_i)``, whose stationary point is the condition. A
    tiny ridge keeps it bounded when gradients directly oppose each other.

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

    def _backward(self, losses: list[Tensor], features: list[Tensor] | None) -> Tensor | None:
        if int(self.steps) % self.update_weights_every == 0:
            self.steps += 1
            return super()._backward(losses, features)
        self.steps += 1
        weights = self.applied.tolist()
        backward_weighted(losses, weights)
        return None

    def _coefficients(self, grads: TaskGradients, losses: list[Tensor]) -> Tensor:
        return torch.from_numpy(nash_weights(grads.gram().numpy()))


def nash_weights(gram: np.ndarray, ridge: float = 1e-6, iterations: int = 100) -> np.ndarray:
    """The Nash-MTL weights for a Gram matrix (normalised by its Frobenius norm first)."""
    m = np.asarray(gram, dtype=np.float64)
    k = m.shape[0]
    size = float(np.linalg.norm(m))
    if not np.isfinite(size) or size <= 0:
        return np.ones(k)
    m = m / size + ridge * np.eye(k)
    a = 1.0 / np.sqrt(np.diag(m))

    def potential(x: np.ndarray) -> float:
        return float(0.5 * x @ m @ x - np.log(x).sum())

    value = potential(a)
    for _ in range(iterations):
        grad = m @ a - 1.0 / a
        hessian = m + np.diag(1.0 / a**2)
        step = np.linalg.solve(hessian, grad)
        decrement = float(grad @ step)
        if decrement <= 1e-13 * (1.0 + abs(value)):
            # The predicted decrease is below what the potential's rounding can show, so a line
            # search can't judge the step (it accepted ever smaller ones, for all the iterations);
            # Newton's quadratic convergence makes it the last one.
            trial = a - step
            return trial if np.all(trial > 0) else a
        t = 1.0
        while True:  # backtracking: stay positive and decrease the potential
            trial = a - t * step
            if np.all(trial > 0):
                trial_value = potential(trial)
                if trial_value <= value - 0.25 * t * decrement:
                    break
            t *= 0.5
            if t < 1e-12:
                return a
        a, value = trial, trial_value
    return a
