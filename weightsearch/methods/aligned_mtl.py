"""Aligned-MTL: align the task gradients to a well-conditioned system (Senushkin et al. 2023)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from weightsearch.methods.gradients import GradientBalancer, TaskGradients


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

    def _coefficients(self, grads: TaskGradients, losses: list[Tensor]) -> Tensor:
        return aligned_coefficients(grads.gram(), self.scale_mode)


def aligned_coefficients(gram: Tensor, scale_mode: str = "min") -> Tensor:
    """Aligned-MTL task weights from the K x K Gram matrix."""
    k = gram.shape[0]
    # K x K work in numpy: for tiny arrays its per-call cost is a fraction of torch's.
    values, vectors = np.linalg.eigh(gram.double().cpu().numpy())
    tol = max(values.max(), 0.0) * k * np.finfo(np.float64).eps
    keep = values > tol
    if not keep.any():
        return torch.ones(k, dtype=torch.float64)
    values, vectors = values[keep], vectors[:, keep]
    singular = np.sqrt(values)
    if scale_mode == "min":
        scale = singular.min()
    elif scale_mode == "median":
        scale = np.sort(singular)[(len(singular) - 1) // 2]  # the lower middle, as torch.median
    else:
        scale = np.sqrt(values.mean())
    b = scale * (vectors / singular[None, :]) @ vectors.T
    return torch.from_numpy(b.sum(axis=0))
