"""GradNorm: learn weights that equalise the tasks' gradient norms (Chen et al. 2018)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

import torch
from torch import Tensor

from weightsearch.methods.base import Balancer, backward_weighted
from weightsearch.methods.gradients import TaskGradients, loss_values

_TINY = 1e-12


class GradNorm(Balancer):
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
    kind = "gradient-level"
    reference = (
        "Chen, Badrinarayanan, Lee & Rabinovich 2018, GradNorm: Gradient Normalization for "
        "Adaptive Loss Balancing in Deep Multitask Networks, ICML. https://arxiv.org/abs/1711.02257"
    )
    initial_losses: Tensor
    started: Tensor
    needs_shared = True

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
        self._workspace: Tensor | None = None
        if lr <= 0 or alpha < 0:
            raise ValueError(
                f"gradnorm needs lr > 0 and alpha >= 0, but got lr={lr}, alpha={alpha}. "
                f"Example: alpha=1.5, lr=0.025"
            )
        self.alpha = alpha
        self.layer = layer
        matrices = [p for p in self.shared if p.dim() >= 2]
        # In a list: assigned directly, the model's tensor would become this module's parameter,
        # and its state_dict would carry (and load_state_dict overwrite) a weight of the model.
        self._layer_weight = [(matrices or self.shared)[-1]]
        self.task_weights = torch.nn.Parameter(torch.ones(self.num_tasks, dtype=torch.float64))
        self.register_buffer("initial_losses", torch.zeros(self.num_tasks, dtype=torch.float64))
        self.register_buffer("started", torch.zeros((), dtype=torch.bool))
        self._adam(self.task_weights, lr)

    def _backward(self, losses: list[Tensor], features: list[Tensor] | None) -> Tensor | None:
        weights = self.task_weights.detach().clone()
        if self.layer == "all":
            grads = TaskGradients(losses, self.shared, workspace=self._workspace)
            self._workspace = grads.matrix
            norms = grads.gram().diagonal().clamp_min(0).sqrt()
            grads.accumulate(weights)
        else:
            norms = torch.stack(
                [
                    _norm(
                        torch.autograd.grad(
                            loss, self._layer_weight, retain_graph=True, allow_unused=True
                        )[0]
                    )
                    for loss in losses
                ]
            )
            backward_weighted(losses, weights.tolist())
        self._update(norms.to(weights), loss_values(losses).to(weights))
        return weights

    def _update(self, norms: Tensor, values: Tensor) -> None:
        if not bool(self.started):
            self.initial_losses.copy_(values)
            self.started.fill_(True)
        ratios = values / self.initial_losses.abs().clamp_min(_TINY)
        relative = ratios / ratios.mean().abs().clamp_min(_TINY)
        w = self.task_weights.detach()
        g = w * norms
        target = g.mean() * relative.clamp_min(0) ** self.alpha
        # d/dw_i sum_j |w_j n_j - target_j| with the target held constant.
        self._adam_step(torch.sign(g - target) * norms)
        with torch.no_grad():
            w = self.task_weights.clamp_min(_TINY)
            self.task_weights.copy_(w * (self.num_tasks / w.sum()))


def _norm(g: Tensor | None) -> Tensor:
    return torch.zeros((), dtype=torch.float64) if g is None else g.detach().double().norm()
