"""FAMO: fast adaptive multitask optimisation with O(1) cost per step (Liu et al. 2023)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import torch
from torch import Tensor

from weightsearch.methods.adam import InternalAdam
from weightsearch.methods.base import Balancer
from weightsearch.methods.small_linalg import softmax

_EPS = 1e-8


class FAMO(InternalAdam, Balancer):
    """Minimises ``sum(z_i log L_i) / c`` with ``z = softmax(xi)``: weight ``z_i / (c L_i)``.

    ``c = sum(z_i / L_i)`` (held constant), so the weights sum over tasks with ``L_i`` to 1. The
    logits ``xi`` (starting at 0) learn from the drop in log losses: each step, with ``delta =
    log L(prev) - log L(now)``, Adam (weight decay ``gamma``) takes a step along the softmax's
    Jacobian times ``delta``. The authors evaluate the losses again on the same batch after the
    model's step; inside ``backward`` only the next batch's losses exist, so the drop is measured
    between consecutive steps. Losses must be non-negative (they are clamped at ``1e-8``).

    Args:
        gamma: weight decay of the logits (the paper's regularisation).
        lr: learning rate of the internal Adam over the logits.
    """

    name = "famo"
    scale = "invariant-weights"
    kind = "loss-level"
    reference = (
        "Liu, Feng, Stone & Liu 2023, FAMO: Fast Adaptive Multitask Optimization, NeurIPS. "
        "https://arxiv.org/abs/2306.03792"
    )
    previous: Tensor
    started: Tensor

    def __init__(
        self,
        losses: Sequence[str],
        shared: Iterable[Tensor] | Tensor = (),
        *,
        gamma: float = 0.01,
        lr: float = 0.025,
    ) -> None:
        super().__init__(losses, shared)
        if lr <= 0 or gamma < 0:
            raise ValueError(
                f"famo needs lr > 0 and gamma >= 0, but got lr={lr}, gamma={gamma}. "
                f"Example: lr=0.025, gamma=0.01"
            )
        k = self.num_tasks
        self.logits = torch.nn.Parameter(torch.zeros(k, dtype=torch.float64))
        self.register_buffer("previous", torch.zeros(k, dtype=torch.float64))
        self.register_buffer("started", torch.zeros((), dtype=torch.bool))
        self._adam("logits", lr, weight_decay=gamma)
        self.applied.fill_(1.0 / k)

    def _backward(self, losses: list[Tensor], features: list[Tensor] | None) -> list[float]:
        numbers = self._numbers
        values = [max(v, _EPS) for v in self._loss_values(losses)]
        previous, started = numbers["previous"], numbers["started"]
        if started[0]:
            delta = [
                math.log(p) - math.log(v) for p, v in zip(previous.tolist(), values, strict=True)
            ]
            z = softmax(numbers["logits"].tolist())
            mean = sum(zi * d for zi, d in zip(z, delta, strict=True))
            # The softmax's Jacobian times delta.
            self._adam_step([zi * (d - mean) for zi, d in zip(z, delta, strict=True)])
        z = softmax(numbers["logits"].tolist())
        scaled = [zi / v for zi, v in zip(z, values, strict=True)]
        total = sum(scaled)
        weights = [s / total for s in scaled]
        self._backward_weighted(losses, weights)
        for i, v in enumerate(values):
            previous[i] = v
        started[0] = True
        return weights
