"""GradNorm: learn weights that equalise the tasks' gradient norms (Chen et al. 2018)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Literal

import torch
from torch import Tensor

from weightsearch.methods import amp, distributed, engine
from weightsearch.methods.adam import InternalAdam
from weightsearch.methods.gradients import GradientLevel

_TINY = 1e-12


class GradNorm(InternalAdam, GradientLevel):
    """Weights ``w_i`` learned so that ``||grad_W w_i L_i||`` tracks each task's training rate.

    Each step the model gets the gradient of ``sum(w_i L_i)``; then, with ``G_i = w_i ||grad_W
    L_i||``, ``r_i = (L_i / L_i(0)) / mean_j(L_j / L_j(0))`` and the target ``mean(G) * r_i **
    alpha`` held constant, the weights take one Adam step on ``sum_i |G_i - target_i|`` and are
    renormalised to sum to the number of tasks (clamped positive first).

    Args:
        alpha: strength of the restoring force towards equal training rates.
        lr: learning rate of the internal Adam over the weights.
        layer: ``last``: W is the last shared weight tensor (the last multi-dimensional one, i.e.
            the last layer's weight, not its bias), as in the paper; ``all``: all shared
            parameters (costs K backward passes).
    """

    name = "gradnorm"
    scale = "invariant-weights"
    reference = (
        "Chen, Badrinarayanan, Lee & Rabinovich 2018, GradNorm: Gradient Normalization for "
        "Adaptive Loss Balancing in Deep Multitask Networks, ICML. https://arxiv.org/abs/1711.02257"
    )
    initial_losses: Tensor
    started: Tensor

    def __init__(
        self,
        losses: Sequence[str],
        shared: Iterable[Tensor] | Tensor = (),
        *,
        alpha: float = 1.5,
        lr: float = 0.025,
        layer: Literal["last", "all"] = "last",
    ) -> None:
        super().__init__(losses, shared)
        if lr <= 0 or alpha < 0:
            raise ValueError(
                f"gradnorm needs lr > 0 and alpha >= 0, but got lr={lr}, alpha={alpha}. "
                f"Example: alpha=1.5, lr=0.025"
            )
        self.alpha = alpha
        self.layer = layer
        matrices = [p for p in self.shared if p.dim() >= 2]
        # In a list: assigned directly, the model's tensor would become this module's parameter
        # (and its state_dict would carry, and load, a weight of the model).
        self._layer_weight = [(matrices or self.shared)[-1]]
        self.task_weights = torch.nn.Parameter(torch.ones(self.num_tasks, dtype=torch.float64))
        self.register_buffer("initial_losses", torch.zeros(self.num_tasks, dtype=torch.float64))
        self.register_buffer("started", torch.zeros((), dtype=torch.bool))
        self._adam("task_weights", lr)

    def _backward(self, losses: list[Tensor], features: list[Tensor] | None) -> list[float]:
        weights = self._numbers["task_weights"].tolist()
        seed = self._seed  # a GradScaler's scale (amp.py): the norms are divided by it
        if self.layer == "all":
            grads = self._grads
            grads.compute(losses, self.shared, seed=seed)
            self._synchronize(grads, losses)
            gram = grads.gram()
            norms = [math.sqrt(max(gram[i][i], 0.0)) for i in range(len(losses))]
            grads.accumulate(weights)
        else:
            layer = tuple(self._layer_weight)
            fast = engine.direct([*losses, *layer])
            rows = []
            for loss in losses:
                (g,) = engine.gradients(loss, layer, True, fast, seed)
                rows.append(torch.zeros_like(layer[0]) if g is None else g)
            norms = self._norms(torch.stack(rows), losses, seed)
            self._backward_weighted(losses, weights)
        self._update(norms, self._loss_values(losses))
        return weights

    def _norms(self, rows: Tensor, losses: list[Tensor], seed: float) -> list[float]:
        """The norms of the task gradients on W (rows times ``seed``), in float32 at least;
        under torch.distributed, of their mean over the ranks, averaged with the loss values
        in one collective."""
        if rows.dtype in amp.LOW_PRECISION:
            rows = rows.float()
        if distributed.world_size() > 1:
            local = torch.tensor(
                [loss.item() for loss in losses], dtype=torch.float64, device=rows.device
            )
            (rows, values), _ = distributed.reduce([rows, local])
            self._step_values = values.tolist()
        norms = torch.linalg.vector_norm(rows.flatten(1), dim=1).tolist()
        return [n / seed for n in norms]

    def _update(self, norms: list[float], values: list[float]) -> None:
        numbers = self._numbers
        initial, started = numbers["initial_losses"], numbers["started"]
        if not started[0]:
            for i, v in enumerate(values):
                initial[i] = v
            started[0] = True
        k = self.num_tasks
        ratios = [v / max(abs(v0), _TINY) for v, v0 in zip(values, initial.tolist(), strict=True)]
        mean_ratio = max(abs(sum(ratios) / k), _TINY)
        w = numbers["task_weights"]
        g = [wi * n for wi, n in zip(w.tolist(), norms, strict=True)]
        mean_g = sum(g) / k
        targets = [mean_g * max(r / mean_ratio, 0.0) ** self.alpha for r in ratios]
        # d/dw_i sum_j |w_j n_j - target_j| with the target held constant.
        self._adam_step([_sign(gi - t) * n for gi, t, n in zip(g, targets, norms, strict=True)])
        clamped = [max(v, _TINY) for v in w.tolist()]
        total = sum(clamped)
        for i, v in enumerate(clamped):
            w[i] = v * k / total


def _sign(x: float) -> float:
    return float((x > 0) - (x < 0))
