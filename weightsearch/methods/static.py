"""Static weighting: fixed weights given by the user or by a search trial."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import torch
from torch import Tensor

from weightsearch.methods.base import Balancer


class Static(Balancer):
    """Fixed weights: ``sum(w_i * L_i).backward()``.

    The hot path of every grid and power-scale trial, so it costs one plain backward. Losses not
    named in ``weights`` get weight 1.

    Args:
        weights: weight per loss name, e.g. ``{"cls": 1.0, "box": 0.2}``; finite and non-negative.
    """

    name = "static"
    scale = "invariant-weights"
    kind = "loss-level"
    reference = "Baseline: fixed weights, as tuned by the grid and power-scale searches."

    def __init__(
        self,
        losses: Sequence[str],
        shared: Iterable[Tensor] | Tensor = (),
        *,
        weights: Mapping[str, float] | None = None,
    ) -> None:
        super().__init__(losses, shared)
        given = dict(weights or {})
        unknown = [n for n in given if n not in self.loss_names]
        if unknown:
            raise ValueError(
                f"static weights must name declared losses {list(self.loss_names)}, but got "
                f"unknown {unknown}. Fix the names, e.g. weights={{{self.loss_names[0]!r}: 0.5}}."
            )
        values: list[float] = []
        for n in self.loss_names:
            w = given.get(n, 1.0)
            if (
                isinstance(w, bool)
                or not isinstance(w, int | float)
                or not math.isfinite(w)
                or w < 0
            ):
                raise ValueError(
                    f"static weights must be finite non-negative numbers, but weight {n!r} is "
                    f"{w!r}. Example: weights={{{n!r}: 0.5}}."
                )
            values.append(float(w))
        self._fixed = values
        self.applied.copy_(torch.tensor(values, dtype=torch.float64))

    def _backward(self, losses: list[Tensor], features: list[Tensor] | None) -> None:
        self._backward_weighted(losses, self._fixed)
