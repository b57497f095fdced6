"""Aligned-MTL: align the task gradients to a well-conditioned system (Senushkin et al. 2023)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Literal

import numpy as np
from torch import Tensor

from weightsearch.methods.gradients import GradientBalancer, TaskGradients
from weightsearch.methods.small_linalg import Matrix


class AlignedMTL(GradientBalancer):
    """Replaces the gradient matrix G by the closest one with orthogonal rows of equal norm.

    With the Gram matrix ``G G^T = V diag(l) V^T`` (rank r), the aligned gradients are ``B G`` with
    ``B = s * V diag(l)^-1/2 V^T``; the update is their sum, so task i's weight is the i-th column
    sum of B. The scale ``s`` is the smallest singular value (``min``), the median one, or the root
    of the mean eigenvalue (``rmse``).

    Args:
        scale_mode: how the aligned gradients are scaled: ``min``, ``median`` or ``rmse``.
    """

    name = "aligned-mtl"
    scale = "invariant-weights"
    reference = (
        "Senushkin, Patakin, Kuznetsov & Konushin 2023, Independent Component Alignment for "
        "Multi-Task Learning, CVPR. https://arxiv.org/abs/2305.19000"
    )

    def __init__(
        self,
        losses: Sequence[str],
        shared: Iterable[Tensor] | Tensor = (),
        *,
        scale_mode: Literal["min", "median", "rmse"] = "min",
    ) -> None:
        super().__init__(losses, shared)
        self.scale_mode = scale_mode

    def _coefficients(self, grads: TaskGradients, losses: list[Tensor]) -> list[float]:
        return aligned_coefficients(grads.gram(), self.scale_mode)


def aligned_coefficients(gram: Matrix, scale_mode: str = "min") -> list[float]:
    """Aligned-MTL task weights from the K x K Gram matrix."""
    k = len(gram)
    # One LAPACK call; the rest is a few K-vectors in plain floats.
    eigen = np.linalg.eigh(np.array(gram, dtype=np.float64))
    values: list[float] = eigen[0].tolist()
    vectors: list[list[float]] = eigen[1].tolist()  # vectors[i][j]: entry i of eigenvector j
    tol = max(max(values), 0.0) * k * 2.220446049250313e-16
    keep = [j for j in range(k) if values[j] > tol]
    if not keep:
        return [1.0] * k
    singular = [math.sqrt(values[j]) for j in keep]
    if scale_mode == "min":
        scale = min(singular)
    elif scale_mode == "median":
        scale = sorted(singular)[(len(singular) - 1) // 2]  # the lower middle, as torch.median
    else:
        scale = math.sqrt(sum(values[j] for j in keep) / len(keep))
    # B = scale V diag(1 / sigma) V^T is symmetric: task i's weight is row sum i of B.
    sums = [sum(vectors[r][j] for r in range(k)) / s for j, s in zip(keep, singular, strict=True)]
    return [
        scale * sum(vectors[i][j] * t for j, t in zip(keep, sums, strict=True)) for i in range(k)
    ]
