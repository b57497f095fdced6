"""FAMO: fast adaptive multitask optimisation with O(1) cost per step (Liu et al. 2023)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import torch
from torch import Tensor

from weightsearch.methods.base import Balancer, backward_weighted

_EPS = 1e-8


class FAMO(Balancer):
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
        self._adam(self.logits, lr, weight_decay=gamma)
        self.applied.fill_(1.0 / k)

    def _backward(self, losses: list[Tensor], features: list[Tensor] | None) -> Tensor | None:
        # K numbers: numpy, whose per-call cost is a fraction of torch's.
        values = np.maximum(np.array([loss.item() for loss in losses]), _EPS)
        previous = self.previous.cpu().numpy()
        if bool(self.started):
            delta = np.log(previous) - np.log(values)
            z = _softmax(self.logits.detach().cpu().numpy())
            self._adam_step(torch.from_numpy(z * delta - z * (z @ delta)))
        z = _softmax(self.logits.detach().cpu().numpy())
        weights = z / values / (z / values).sum()
        backward_weighted(losses, weights.tolist())
        self.previous.copy_(torch.from_numpy(values))
        self.started.fill_(True)
        return torch.from_numpy(weights)


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max())
    return e / e.sum()
