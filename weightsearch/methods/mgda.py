"""MGDA: the min-norm point of the task gradients (Sener & Koltun 2018), with MGDA-UB."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Literal

import numpy as np
from torch import Tensor

from weightsearch.methods.gradients import GradientBalancer, TaskGradients
from weightsearch.methods.small_linalg import Matrix, solve

Normalization = Literal["none", "l2", "loss", "loss+"]
_TINY = 1e-12


class MGDA(GradientBalancer):
    """Min-norm point of the convex hull of the task gradients; MGDA-UB when given ``features``.

    Solves ``min_a ||sum(a_i g_i)||^2`` over the simplex exactly (closed form for two tasks,
    Wolfe's min-norm-point algorithm otherwise) on the normalised gradients ``g_i / n_i``, and
    applies ``sum(a_i L_i)`` to the unnormalised losses, as the authors' code does (so the weights
    sum to 1). With ``features`` (the shared representation) given it is MGDA-UB: the gradients
    are taken with respect to the representation, which costs only the heads' backward passes.

    Args:
        normalization: ``n_i`` is 1 (``none``), ``||g_i||`` (``l2``), ``L_i`` (``loss``) or
            ``L_i * ||g_i||`` (``loss+``, the authors' released configuration).
        use_features: use ``features`` when given (MGDA-UB); False always uses the parameters.
    """

    name = "mgda"
    scale = "invariant-weights"
    kind = "gradient-level"
    reference = (
        "Sener & Koltun 2018, Multi-Task Learning as Multi-Objective Optimization, NeurIPS. "
        "https://arxiv.org/abs/1810.04650"
    )
    _cache_names = (*GradientBalancer._cache_names, "_feature_grads")

    def __init__(
        self,
        losses: Sequence[str],
        shared: Iterable[Tensor] | Tensor = (),
        *,
        normalization: Normalization = "loss+",
        use_features: bool = True,
    ) -> None:
        super().__init__(losses, shared)
        self.normalization = normalization
        self.use_features = use_features
        self.applied.fill_(1.0 / self.num_tasks)

    def _reset_caches(self) -> None:
        super()._reset_caches()
        self._feature_grads = TaskGradients()

    def _backward(
        self, losses: list[Tensor], features: list[Tensor] | None
    ) -> Sequence[float] | None:
        if features is None or not self.use_features:
            return super()._backward(losses, features)
        # MGDA-UB: gradients with respect to the shared representation.
        for f in features:
            if not f.requires_grad:
                raise ValueError(
                    "features must be the shared representation the losses are computed from "
                    "(requires_grad), but got a tensor without grad. Pass the trunk's output, "
                    "not a detached copy, or None."
                )
        grads = self._feature_grads
        grads.compute(losses, features, others=False, retain_graph=True, seed=self._seed)
        self._synchronize(grads, losses, gram_only=True)
        if self._seed != 1.0 and not grads.finite():  # an overflow under a GradScaler
            self._backward_weighted(losses, [1.0] * len(losses))
            return None
        weights = self._weights(grads.gram(), self._loss_values(losses))
        self._backward_weighted(losses, weights)
        return weights

    def _coefficients(self, grads: TaskGradients, losses: list[Tensor]) -> list[float]:
        return self._weights(grads.gram(), self._loss_values(losses))

    def _weights(self, gram: list[list[float]], values: list[float]) -> list[float]:
        k = len(values)
        norms = [math.sqrt(max(gram[i][i], 0.0)) for i in range(k)]
        if self.normalization == "l2":
            scale = norms
        elif self.normalization == "loss":
            scale = [abs(v) for v in values]
        elif self.normalization == "loss+":
            scale = [abs(v) * n for v, n in zip(values, norms, strict=True)]
        else:
            scale = [1.0] * k
        scale = [max(s, _TINY) for s in scale]
        return min_norm_weights(
            [[gram[i][j] / (scale[i] * scale[j]) for j in range(k)] for i in range(k)]
        )


def min_norm_weights(gram: Matrix) -> list[float]:
    """The simplex weights of the min-norm point of the convex hull of K points, given their Gram.

    Exact: the two-point closed form of Sener & Koltun, else Wolfe's (1976) min-norm-point
    algorithm, which ends on the optimal support in finitely many steps. Degenerate inputs (all
    zero, duplicates, parallel points, non-finite entries) give valid simplex weights.

    Args:
        gram: K x K symmetric positive semi-definite matrix of inner products (rows of floats, or
            a numpy array).

    Returns:
        K non-negative weights summing to 1.
    """
    m = [[float(v) for v in row] for row in gram]
    k = len(m)
    if k == 1:
        return [1.0]
    scale = max(m[i][i] for i in range(k))
    if not scale > 0 or not all(math.isfinite(v) for row in m for v in row):
        return [1.0 / k] * k
    m = [[v / scale for v in row] for row in m]
    if k == 2:
        denom = m[0][0] - 2 * m[0][1] + m[1][1]
        if denom <= 1e-12:
            return [0.5, 0.5]
        gamma = min(max((m[1][1] - m[0][1]) / denom, 0.0), 1.0)
        return [gamma, 1.0 - gamma]
    # The affine hull's min-norm point, when it lies in the simplex, is the answer (common when
    # no task dominates): one small solve instead of Wolfe's iterations.
    beta = _affine_min(m, list(range(k)))
    if min(beta) >= 0.0:
        total = sum(beta)
        return [v / total for v in beta]
    return _wolfe(m)


def _wolfe(m: list[list[float]], tol: float = 1e-12) -> list[float]:
    k = len(m)
    lam = [0.0] * k
    first = min(range(k), key=lambda i: m[i][i])
    lam[first] = 1.0
    support = [first]
    for _ in range(50 * k):
        mx = [sum(m[i][a] * lam[a] for a in support) for i in range(k)]
        j = min(range(k), key=mx.__getitem__)
        if sum(lam[a] * mx[a] for a in support) - mx[j] <= tol or j in support:
            break
        support.append(j)
        for _ in range(k + 1):  # minor cycle: at most one point dropped per pass
            beta = _affine_min(m, support)
            if min(beta) > tol:
                for s, b in zip(support, beta, strict=True):
                    lam[s] = b
                break
            # Move from lam towards beta until the first coefficient reaches 0, drop it.
            theta = min(
                [lam[s] / (lam[s] - b) for s, b in zip(support, beta, strict=True) if b <= tol]
                + [1.0]
            )
            for s, b in zip(support, beta, strict=True):
                lam[s] += theta * (b - lam[s])
            for s in support:
                if lam[s] <= tol:
                    lam[s] = 0.0
            support = [s for s in support if lam[s] > 0.0]
            if len(support) <= 1:
                break
    clipped = [max(v, 0.0) for v in lam]
    total = sum(clipped)
    return [v / total for v in clipped]


def _affine_min(m: list[list[float]], support: list[int]) -> list[float]:
    """Weights (summing to 1) of the min-norm point of the affine hull of the support."""
    n = len(support)
    # KKT system [[G_SS, 1], [1^T, 0]] [beta; mu] = [0; 1]
    system = [[m[a][b] for b in support] + [1.0] for a in support]
    system.append([1.0] * n + [0.0])
    rhs = [0.0] * n + [1.0]
    solution = solve(system, [rhs])
    if solution is None:
        # Affinely dependent points (duplicates, parallel gradients): least squares.
        return np.linalg.lstsq(np.array(system), np.array(rhs), rcond=None)[0][:n].tolist()
    return solution[0][:n]
