"""Equal weighting: every loss with weight 1, the baseline every other method is compared to."""

from __future__ import annotations

from torch import Tensor

from weightsearch.methods.base import Balancer


class Equal(Balancer):
    """All weights 1.0: ``sum(L_i).backward()``.

    The plain multi-task baseline; a static weighting with every weight at 1.
    """

    name = "equal"
    scale = "invariant-weights"
    kind = "loss-level"
    reference = "Baseline: the unweighted sum of the task losses."

    def _backward(self, losses: list[Tensor], features: list[Tensor] | None) -> None:
        if self._seed != 1.0:  # a GradScaler's scale (amp.py)
            self._backward_weighted(losses, [1.0] * len(losses))
            return
        total = losses[0]
        for loss in losses[1:]:
            total = total + loss
        total.backward()
