"""Geometric Loss Strategy: minimise the geometric mean of the losses (Chennupati et al. 2019)."""

from __future__ import annotations

import math

from torch import Tensor

from weightsearch.methods.base import Balancer

_EPS = 1e-12


class GLS(Balancer):
    """Minimises ``(prod_i L_i) ** (1/K)``: weights ``GLS / (K * L_i)``.

    The geometric mean is scale-free: multiplying one loss by a constant doesn't change the
    weighted direction. Losses must be non-negative; a loss of exactly 0 is clamped to 1e-12 so the
    weights stay finite.
    """

    name = "gls"
    scale = "invariant-weights"
    kind = "loss-level"
    reference = (
        "Chennupati, Sistu, Yogamani & Rawashdeh 2019, MultiNet++: Multi-Stream Feature "
        "Aggregation and Geometric Loss Strategy for Multi-Task Learning, CVPR Workshops. "
        "https://arxiv.org/abs/1904.08492"
    )

    def _backward(self, losses: list[Tensor], features: list[Tensor] | None) -> list[float]:
        values = self._loss_values(losses)
        if min(values) < 0:
            negative = [n for n, v in zip(self.loss_names, values, strict=True) if v < 0]
            raise ValueError(
                f"gls needs non-negative losses (it takes their geometric mean), but {negative} "
                f"{'is' if len(negative) == 1 else 'are'} negative. Shift the loss or use another "
                f"method."
            )
        clamped = [max(v, _EPS) for v in values]
        k = self.num_tasks
        geometric = math.exp(sum(math.log(v) for v in clamped) / k)
        weights = [geometric / (k * v) for v in clamped]
        self._backward_weighted(losses, weights)
        return weights
