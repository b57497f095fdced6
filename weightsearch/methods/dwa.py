"""Dynamic Weight Average: weights from the tasks' recent rates of loss change (Liu et al. 2019)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torch import Tensor

from weightsearch.methods.base import Balancer
from weightsearch.methods.gradients import loss_values

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

    def _backward(self, losses: list[Tensor], features: list[Tensor] | None) -> Tensor | None:
        weights = self.applied.tolist()
        total = losses[0] * weights[0]
        for w, loss in zip(weights[1:], losses[1:], strict=True):
            total = total + loss * w
        total.backward()
        self.epoch_sum += loss_values(losses).to(self.epoch_sum)
        self.epoch_steps += 1
        return None

    def epoch_end(self) -> None:
        """Close the epoch: record its mean losses and set the next epoch's weights."""
        if int(self.epoch_steps) == 0:
            return
        self.history[1] = self.history[0]
        self.history[0] = self.epoch_sum / self.epoch_steps
        self.epochs += 1
        self.epoch_sum.zero_()
        self.epoch_steps.zero_()
        if int(self.epochs) >= 2:
            rates = self.history[0] / self.history[1].clamp_min(_TINY)
            self.applied.copy_(self.num_tasks * torch.softmax(rates / self.temperature, dim=0))
