"""Uncertainty weighting: learned homoscedastic task uncertainty (Kendall et al. 2018)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Literal

import torch
from torch import Tensor

from weightsearch.methods.adam import InternalAdam
from weightsearch.methods.base import Balancer


class Uncertainty(InternalAdam, Balancer):
    """Weights from learned task uncertainties, trained by the method's own optimiser.

    ``kendall`` learns a log-variance ``s_i`` (starting at 0) per task and minimises
    ``sum(0.5 * exp(-s_i) * L_i + 0.5 * s_i)``: weight ``0.5 * exp(-s_i)``, which tends to
    ``1 / (2 L_i)`` when a loss stays constant. ``liebel`` learns ``c_i`` (starting at 1) and
    minimises ``sum(0.5 / c_i^2 * L_i + log(1 + c_i^2))``, whose regulariser keeps the weights
    bounded. The model's parameters get the gradient of the weighted sum; the uncertainties get
    their (closed-form) gradient and one step of an internal Adam, so the user's
    optimiser (over ``model.parameters()``) needs no change. The often-copied form
    ``L / (2 * sigma) + log(sigma)`` with a raw, unconstrained ``sigma`` is not used: it doubles
    the regulariser relative to the paper and can step ``sigma`` through zero into NaN.

    Args:
        form: ``kendall`` (log-variance) or ``liebel`` (``log(1 + c^2)`` regulariser).
        lr: learning rate of the internal Adam over the uncertainties.
    """

    name = "uncertainty"
    scale = "adaptive"
    kind = "loss-level"
    reference = (
        "Kendall, Gal & Cipolla 2018, Multi-Task Learning Using Uncertainty to Weigh Losses for "
        "Scene Geometry and Semantics, CVPR. https://arxiv.org/abs/1705.07115; liebel form: "
        "Liebel & Körner 2018, Auxiliary Tasks in Multi-task Learning. "
        "https://arxiv.org/abs/1805.06334"
    )

    def __init__(
        self,
        losses: Sequence[str],
        shared: Iterable[Tensor] | Tensor = (),
        *,
        form: Literal["kendall", "liebel"] = "kendall",
        lr: float = 0.01,
    ) -> None:
        super().__init__(losses, shared)
        if lr <= 0:
            raise ValueError(f"uncertainty.lr must be positive, but got {lr}. Example: lr=0.01")
        self.form = form
        start = 0.0 if form == "kendall" else 1.0
        #: log-variance s (kendall) or scale c (liebel), one per task.
        self.uncertainty = torch.nn.Parameter(
            torch.full((self.num_tasks,), start, dtype=torch.float64)
        )
        self._adam("uncertainty", lr)
        self.applied.copy_(torch.tensor(self._weights(self.uncertainty.tolist())))

    def _weights(self, u: list[float]) -> list[float]:
        if self.form == "kendall":
            return [0.5 * math.exp(-s) for s in u]
        return [0.5 / (c * c) for c in u]

    def _gradient(self, u: list[float], values: list[float]) -> list[float]:
        """Gradient of the objective with respect to the uncertainties, in closed form."""
        if self.form == "kendall":  # d/ds (0.5 exp(-s) L + 0.5 s)
            return [0.5 - 0.5 * math.exp(-s) * v for s, v in zip(u, values, strict=True)]
        # d/dc (0.5 L / c^2 + log(1 + c^2))
        return [-v / c**3 + 2 * c / (1 + c * c) for c, v in zip(u, values, strict=True)]

    def _backward(self, losses: list[Tensor], features: list[Tensor] | None) -> list[float]:
        u = self._numbers["uncertainty"].tolist()
        weights = self._weights(u)
        self._backward_weighted(losses, weights)
        self._adam_step(self._gradient(u, self._loss_values(losses)))
        return weights
