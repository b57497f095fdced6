"""Random Loss Weighting: fresh random weights every step (Lin et al. 2022)."""

from __future__ import annotations

import torch
from torch import Tensor

from weightsearch.methods.base import Balancer
from weightsearch.methods.small_linalg import softmax


class RLW(Balancer):
    """Weights ``softmax(z)`` with ``z ~ N(0, I)`` drawn anew at every step (they sum to 1).

    Draws from torch's global generator, so ``torch.manual_seed`` makes a run reproducible;
    under torch.distributed every rank uses rank 0's draw.
    """

    name = "rlw"
    scale = "invariant-weights"
    kind = "loss-level"
    reference = (
        "Lin, Ye, Xu, Shi & Zhang 2022, Reasonable Effectiveness of Random Weighting: A Litmus "
        "Test for Multi-Task Learning, TMLR. https://arxiv.org/abs/2111.10603"
    )

    def _draw(self) -> Tensor:
        return torch.randn(self.num_tasks, dtype=torch.float64)

    def _backward(self, losses: list[Tensor], features: list[Tensor] | None) -> list[float]:
        weights = softmax(self._shared_random().tolist())
        self._backward_weighted(losses, weights)
        return weights
