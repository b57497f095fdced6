"""The Adam a method keeps over its own few parameters (uncertainty, GradNorm, FAMO)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from weightsearch.methods.base import Balancer


class InternalAdam(Balancer):
    """A balancer with its own Adam over one of its parameters; the user's optimiser never sees it.

    Mix it in before the method's base class; call :meth:`_adam` once in ``__init__`` and
    :meth:`_adam_step` with the parameter's gradient each step.
    """

    adam_mean: Tensor
    adam_square: Tensor
    adam_steps: Tensor

    def _adam(self, param: str, lr: float, weight_decay: float = 0.0) -> None:
        """Give the method its own Adam over the parameter named ``param``; the user's optimiser
        never sees it.

        The moments are buffers, so ``state_dict()`` holds them; a few float operations on K
        numbers cost far less per step than ``torch.optim.Adam``'s bookkeeping.
        """
        tensor = self._parameters[param]
        assert tensor is not None
        self._adam_param = param
        self._adam_lr = lr
        self._adam_weight_decay = weight_decay
        self.register_buffer("adam_mean", torch.zeros_like(tensor, requires_grad=False))
        self.register_buffer("adam_square", torch.zeros_like(tensor, requires_grad=False))
        self.register_buffer("adam_steps", torch.zeros((), dtype=torch.long))

    def _adam_step(self, grad: Sequence[float]) -> None:
        """One Adam step on the parameter (betas 0.9 and 0.999, eps 1e-8, weight decay added to
        the gradient, as ``torch.optim.Adam``), in place through the state's views."""
        numbers = self._numbers
        p, mean, square, steps = (
            numbers[self._adam_param],
            numbers["adam_mean"],
            numbers["adam_square"],
            numbers["adam_steps"],
        )
        steps[0] += 1
        t = steps[0]
        step_size = self._adam_lr / (1.0 - 0.9**t)
        correction = 1.0 - 0.999**t
        decay = self._adam_weight_decay
        for i, g in enumerate(grad):
            g = g + decay * p[i]
            m = mean[i] = 0.9 * mean[i] + 0.1 * g
            v = square[i] = 0.999 * square[i] + 0.001 * g * g
            p[i] -= step_size * m / (math.sqrt(v / correction) + 1e-8)
