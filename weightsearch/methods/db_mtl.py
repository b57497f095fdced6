"""DB-MTL: balance the loss scales with logs and the gradient magnitudes by normalisation."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torch import Tensor

from weightsearch.methods.gradients import GradientLevel

_EPS = 1e-8


class DBMTL(GradientLevel):
    """Dual balancing: the gradients of ``log(L_i + eps)``, averaged over steps, normalised to the
    largest one's norm.

    With ``h_i = grad log(L_i + eps)`` on the shared parameters, each task keeps an exponential
    average ``m_i <- b m_i + (1 - b) h_i`` (``b = beta / step ** beta_sigma``); the shared update is
    ``max_j ||m_j|| * sum_i m_i / ||m_i||``. Task-specific parameters get the gradient of
    ``sum log(L_i + eps)``. The reported weights are the factors ``max_j ||m_j|| / ||m_i||``. The
    shared update includes past steps, so ``.grad`` is not a combination of this step's gradients.

    Args:
        beta: averaging factor of the per-task gradient averages.
        beta_sigma: decay exponent of ``beta`` over steps (0 keeps it constant).
    """

    name = "db-mtl"
    scale = "invariant-update"
    reference = (
        "Lin, Ye, Chen, Xu, Shi & Zhang 2023, Dual-Balancing for Multi-Task Learning. "
        "https://arxiv.org/abs/2308.12029"
    )
    average: Tensor
    steps: Tensor
    weighted_sum = False

    def __init__(
        self,
        losses: Sequence[str],
        shared: Iterable[Tensor] | Tensor = (),
        *,
        beta: float = 0.9,
        beta_sigma: float = 0.0,
    ) -> None:
        super().__init__(losses, shared)
        if not 0 <= beta < 1 or beta_sigma < 0:
            raise ValueError(
                f"db-mtl needs 0 <= beta < 1 and beta_sigma >= 0, but got beta={beta}, "
                f"beta_sigma={beta_sigma}. Example: beta=0.9, beta_sigma=0"
            )
        self.beta = beta
        self.beta_sigma = beta_sigma
        first = self.shared[0]
        size = sum(p.numel() for p in self.shared)
        # A K x P buffer worked on by tensor operations: it lives where the gradients do.
        self.register_buffer(
            "average", torch.zeros(self.num_tasks, size, dtype=first.dtype, device=first.device)
        )
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))

    def _backward(self, losses: list[Tensor], features: list[Tensor] | None) -> list[float]:
        grads = self._grads
        seed = self._seed  # a GradScaler's scale (amp.py): the average is kept unscaled
        matrix = grads.compute(losses, self.shared, seed=seed)
        self._synchronize(grads, losses)
        if seed != 1.0 and not grads.finite():
            grads.accumulate([1.0] * len(losses))  # the overflow, for scaler.step to skip
            return [1.0] * len(losses)
        scale = [1.0 / (max(v, 0.0) + _EPS) for v in self._loss_values(losses)]
        steps = self._numbers["steps"]
        steps[0] += 1
        b = self.beta / steps[0] ** self.beta_sigma
        if (self.average.dtype, self.average.device) != (matrix.dtype, matrix.device):
            self.average = self.average.to(matrix)  # the model moved after the balancer was made
        # average <- b * average + diag((1 - b) * scale) @ matrix: one pass over the K x P
        # buffer (a mul_ then an addcmul_ made two, 55 us a step on the reference model).
        k = len(scale)
        mix = [[(1 - b) * scale[i] / seed if i == j else 0.0 for j in range(k)] for i in range(k)]
        mixing = torch.tensor(mix, dtype=matrix.dtype, device=matrix.device)
        self.average.addmm_(mixing, matrix, beta=b)
        norms = torch.linalg.vector_norm(self.average, dim=1).tolist()
        top = max(norms)
        factors = [top / (n + _EPS) for n in norms]
        scaled = [f * seed for f in factors]
        shared = torch.tensor(scaled, dtype=matrix.dtype, device=matrix.device) @ self.average
        grads.accumulate(scale, shared_vector=shared)
        return factors
