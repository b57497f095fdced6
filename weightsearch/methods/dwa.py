"""Dynamic Weight Average: weights from the tasks' recent rates of loss change (Liu et al. 2019)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import torch
from torch import Tensor

from weightsearch.methods.base import Balancer

_TINY = 1e-12


class DWA(Balancer):
    """Weights ``K * softmax(r / T)`` with ``r_i = L_i(t-1) / L_i(t-2)``, set once per epoch.

    ``L_i(t)`` is the mean of loss ``i`` over epoch ``t``; the weights are 1 during the first two
    epochs. The method needs the epoch boundary: call :meth:`epoch_end` after each epoch
    (``run.report`` does it for you).

    Args:
        temperature: softmax temperature T; larger is closer to equal weights.
    """

    name = "dwa"
    scale = "invariant-weights"
    kind = "loss-level"
    reference = (
        "Liu, Johns & Davison 2019, End-to-End Multi-Task Learning with Attention, CVPR. "
        "https://arxiv.org/abs/1803.10704"
    )
    epoch_sum: Tensor
    epoch_steps: Tensor
    history: Tensor
    epochs: Tensor

    def __init__(
        self,
        losses: Sequence[str],
        shared: Iterable[Tensor] | Tensor = (),
        *,
        temperature: float = 2.0,
    ) -> None:
        super().__init__(losses, shared)
        if temperature <= 0:
            raise ValueError(
                f"dwa.temperature must be positive, but got {temperature}. Example: temperature=2"
            )
        self.temperature = temperature
        k = self.num_tasks
        self.register_buffer("epoch_sum", torch.zeros(k, dtype=torch.float64))
        self.register_buffer("epoch_steps", torch.zeros((), dtype=torch.long))
        #: mean losses of the last two epochs, most recent first.
        self.register_buffer("history", torch.zeros(2, k, dtype=torch.float64))
        self.register_buffer("epochs", torch.zeros((), dtype=torch.long))

    def _backward(self, losses: list[Tensor], features: list[Tensor] | None) -> None:
        numbers = self._numbers
        self._backward_weighted(losses, numbers["applied"].tolist())
        total = numbers["epoch_sum"]
        for i, value in enumerate(self._loss_values(losses)):
            total[i] += value
        numbers["epoch_steps"][0] += 1

    def epoch_end(self) -> None:
        """Close the epoch: record its mean losses and set the next epoch's weights."""
        numbers = self._numbers
        steps = numbers["epoch_steps"][0]
        if steps == 0:
            return
        k = self.num_tasks
        total, history = numbers["epoch_sum"], numbers["history"]
        previous = history.tolist()[:k]
        current = [v / steps for v in total.tolist()]
        for i in range(k):
            history[k + i] = previous[i]
            history[i] = current[i]
            total[i] = 0.0
        numbers["epoch_steps"][0] = 0
        epochs = numbers["epochs"]
        epochs[0] += 1
        if epochs[0] >= 2:
            rates = [
                c / max(p, _TINY) / self.temperature for c, p in zip(current, previous, strict=True)
            ]
            top = max(rates)
            e = [math.exp(r - top) for r in rates]
            total_e = sum(e)
            applied = numbers["applied"]
            for i, v in enumerate(e):
                applied[i] = k * v / total_e
