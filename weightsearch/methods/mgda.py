"""MGDA: the min-norm point of the task gradients (Sener & Koltun 2018), with MGDA-UB."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from weightsearch.methods.gradients import GradientBalancer, TaskGradients, loss_values

Normalization = Literal["none", "l2", "loss", "loss+"]
_TINY = 1e-12


class MGDA(GradientBalancer):
    """Weights that make the update the min-norm point in the convex hull of the task gradients.

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
    kind = "gradient-level"
    reference = (
        "Sener & Koltun 2018, Multi-Task Learning as Multi-Objective Optimization, NeurIPS. "
        "https://arxiv.org/abs/1810.04650"
    )

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

    def _backward(self, losses: list[Tensor], features: list[Tensor] | None) -> Tensor | None:
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
        rows = []
        for loss in losses:
            grads = torch.autograd.grad(loss, features, retain_graph=True, allow_unused=True)
            rows.append(
                torch.cat(
                    [
                        (g if g is not None else torch.zeros_like(f)).reshape(-1)
                        for g, f in zip(grads, features, strict=True)
                    ]
                )
            )
        matrix = torch.stack(rows)
        weights = self._weights((matrix @ matrix.T).double(), loss_values(losses))
        total = losses[0] * weights[0].item()
        for w, loss in zip(weights[1:].tolist(), losses[1:], strict=True):
            total = total + loss * w
        total.backward()
        return weights

    def _coefficients(self, grads: TaskGradients, losses: list[Tensor]) -> Tensor:
        return self._weights(grads.gram(), loss_values(losses))

    def _weights(self, gram: Tensor, values: Tensor) -> Tensor:
        norms = gram.diagonal().clamp_min(0).sqrt()
        if self.normalization == "l2":
            scale = norms
        elif self.normalization == "loss":
            scale = values.abs()
        elif self.normalization == "loss+":
            scale = values.abs() * norms
        else:
            scale = torch.ones_like(norms)
        scale = scale.clamp_min(_TINY)
        normalized = gram / scale[:, None] / scale[None, :]
        return torch.from_numpy(min_norm_weights(normalized.numpy()))


def min_norm_weights(gram: np.ndarray) -> np.ndarray:
    """The simplex weights of the min-norm point of the convex hull of K points, given their Gram.

    Exact: the two-point closed form of Sener & Koltun, else Wolfe's (1976) min-norm-point
    algorithm, which ends on the optimal support in finitely many steps. Degenerate inputs (all
    zero, duplicates, parallel points) give valid simplex weights.

    Args:
        gram: K x K symmetric positive semi-definite matrix of inner products.

    Returns:
        K non-negative weights summing to 1.
    """
    m = np.asarray(gram, dtype=np.float64)
    k = m.shape[0]
    if k == 1:
        return np.ones(1)
    scale = float(np.max(np.diag(m)))
    if not np.isfinite(scale) or scale <= 0:
        return np.full(k, 1.0 / k)
    m = m / scale
    if k == 2:
        denom = m[0, 0] - 2 * m[0, 1] + m[1, 1]
        if denom <= 1e-12:
            return np.array([0.5, 0.5])
        gamma = float(np.clip((m[1, 1] - m[0, 1]) / denom, 0.0, 1.0))
        return np.array([gamma, 1.0 - gamma])
    return _wolfe(m)


def _wolfe(m: np.ndarray, tol: float = 1e-12) -> np.ndarray:
    k = m.shape[0]
    lam = np.zeros(k)
    first = int(np.argmin(np.diag(m)))
    lam[first] = 1.0
    support = [first]
    for _ in range(50 * k):
        mx = m @ lam
        j = int(np.argmin(mx))
        if lam @ mx - mx[j] <= tol or j in support:
            break
        support.append(j)
        for _ in range(k + 1):  # minor cycle: at most one point dropped per pass
            beta = _affine_min(m, support)
            if np.all(beta > tol):
                lam[:] = 0.0
                lam[support] = beta
                break
            current = lam[support]
            shrink = current - beta
            ratios = [current[i] / shrink[i] for i in range(len(support)) if beta[i] <= tol]
            theta = min([r for r in ratios if np.isfinite(r)] + [1.0])
            current = current + theta * (beta - current)
            lam[:] = 0.0
            kept = [(s, c) for s, c in zip(support, current, strict=True) if c > tol]
            support = [s for s, _ in kept]
            lam[support] = [c for _, c in kept]
            if len(support) <= 1:
                break
    lam = np.clip(lam, 0.0, None)
    return lam / lam.sum()


def _affine_min(m: np.ndarray, support: list[int]) -> np.ndarray:
    """Weights (summing to 1) of the min-norm point of the affine hull of the support."""
    n = len(support)
    system = np.zeros((n + 1, n + 1))
    system[:n, :n] = m[np.ix_(support, support)]
    system[:n, n] = 1.0
    system[n, :n] = 1.0
    rhs = np.zeros(n + 1)
    rhs[n] = 1.0
    solution = np.linalg.lstsq(system, rhs, rcond=None)[0]
    return solution[:n]
