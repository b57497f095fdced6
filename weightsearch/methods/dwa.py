"""Dynamic Weight Average: weights from the tasks' recent rates of loss change (Liu et al. 2019)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import torch
from torch import Tensor

from weightsearch.methods.base import Balancer, backward_weighted

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
        backward_weighted(losses, self.applied.tolist())
        self.epoch_sum += torch.tensor([loss.item() for loss in losses]).to(self.epoch_sum)
        self.epoch_steps += 1
        return None

    def epoch_end(self) -> None:
        """Close the epoch: record its mean losses and set the next epoch's weights."""
        steps = int(self.epoch_steps)
        if steps == 0:
            return
        # K numbers: numpy, whose per-call cost is a fraction of torch's.
        history = self.history.cpu().numpy().copy()
        history[1] = history[0]
        history[0] = self.epoch_sum.cpu().numpy() / steps
        self.history.copy_(torch.from_numpy(history))
        self.epochs += 1
        self.epoch_sum.zero_()
        self.epoch_steps.zero_()
        if int(self.epochs) >= 2:
            rates = history[0] / np.maximum(history[1], _TINY) / self.temperature
            weights = np.exp(rates - rates.max())
            self.applied.copy_(torch.from_numpy(self.num_tasks * weights / weights.sum()))
