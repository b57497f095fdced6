"""MGDA: the min-norm point of the task gradients (Sener & Koltun 2018), with MGDA-UB."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from weightsearch.methods.base import backward_weighted
from weightsearch.methods.gradients import GradientBalancer, TaskGradients, loss_values

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
        self._feature_workspace: Tensor | None = None

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
        sizes = [f.numel() for f in features]
        shape = (len(losses), sum(sizes))
        matrix = self._feature_workspace
        first = features[0]
        if matrix is None or (matrix.shape, matrix.dtype, matrix.device) != (
            shape,
            first.dtype,
            first.device,
        ):
            # Reused across steps: a fresh buffer every step costs page faults.
            matrix = torch.empty(shape, dtype=first.dtype, device=first.device)
            self._feature_workspace = matrix
        for i, loss in enumerate(losses):
            grads = torch.autograd.grad(loss, features, retain_graph=True, allow_unused=True)
            torch.cat(
                [
                    g.reshape(-1) if g is not None else matrix.new_zeros(n)
                    for g, n in zip(grads, sizes, strict=True)
                ],
                out=matrix[i],
            )
            del grads
        weights = self._weights((matrix @ matrix.T).double(), loss_values(losses))
        backward_weighted(losses, weights.tolist())
        return weights

    def _coefficients(self, grads: TaskGradients, losses: list[Tensor]) -> Tensor:
        return self._weights(grads.gram(), loss_values(losses))

    def _weights(self, gram: Tensor, values: Tensor) -> Tensor:
        # K x K work in numpy: for tiny arrays its per-call cost is a fraction of torch's.
        m = gram.cpu().numpy()
        norms = np.sqrt(np.clip(np.diag(m), 0.0, None))
        losses = np.abs(values.cpu().numpy())
        if self.normalization == "l2":
            scale = norms
        elif self.normalization == "loss":
            scale = losses
        elif self.normalization == "loss+":
            scale = losses * norms
        else:
            scale = np.ones_like(norms)
        scale = np.maximum(scale, _TINY)
        return torch.from_numpy(min_norm_weights(m / np.outer(scale, scale)))


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
    # Plain Python floats: K is small, and numpy's per-call overhead would dominate.
    g = m.tolist()
    k = len(g)
    lam = [0.0] * k
    first = min(range(k), key=lambda i: g[i][i])
    lam[first] = 1.0
    support = [first]
    for _ in range(50 * k):
        mx = [sum(g[i][a] * lam[a] for a in support) for i in range(k)]
        j = min(range(k), key=mx.__getitem__)
        if sum(lam[a] * mx[a] for a in support) - mx[j] <= tol or j in support:
            break
        support.append(j)
        for _ in range(k + 1):  # minor cycle: at most one point dropped per pass
            beta = _affine_min(m, g, support)
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
    out = np.clip(np.array(lam), 0.0, None)
    return out / out.sum()


def _affine_min(m: np.ndarray, g: list[list[float]], support: list[int]) -> list[float]:
    """Weights (summing to 1) of the min-norm point of the affine hull of the support."""
    n = len(support)
    # KKT system [[G_SS, 1], [1^T, 0]] [beta; mu] = [0; 1]
    rows = [[g[a][b] for b in support] + [1.0, 0.0] for a in support]
    rows.append([1.0] * n + [0.0, 1.0])
    solution = _solve(rows)
    if solution is None:
        # Affinely dependent points (duplicates, parallel gradients): least squares.
        system = np.array([r[:-1] for r in rows])
        rhs = np.array([r[-1] for r in rows])
        return np.linalg.lstsq(system, rhs, rcond=None)[0][:n].tolist()
    return solution[:n]


def _solve(rows: list[list[float]]) -> list[float] | None:
    """Gaussian elimination with partial pivoting on an augmented matrix; None if singular."""
    n = len(rows)
    scale = max(abs(v) for r in rows for v in r[:-1])
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(rows[r][col]))
        if abs(rows[pivot][col]) <= 1e-13 * scale:
            return None
        rows[col], rows[pivot] = rows[pivot], rows[col]
        p = rows[col]
        for r in range(col + 1, n):
            factor = rows[r][col] / p[col]
            if factor:
                rows[r] = [x - factor * y for x, y in zip(rows[r], p, strict=True)]
    out = [0.0] * n
    for r in range(n - 1, -1, -1):
        out[r] = (rows[r][n] - sum(rows[r][c] * out[c] for c in range(r + 1, n))) / rows[r][r]
    return out
