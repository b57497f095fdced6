"""Mixed precision: a balancer's step with a ``torch.amp.GradScaler``.

The scaler multiplies what is back-propagated by its scale ``S`` so that small fp16 gradients
don't flush to zero. A balancer given a scaler back-propagates with output gradients ``S * w_i``
(never multiplying the losses themselves, so every loss value it reads is unscaled), divides what
it reads off the gradients by ``S`` (and ``S^2`` for inner products, taken in float32 at least),
and so computes every weight and learned state from unscaled values. The gradient it writes into
``.grad`` is scaled, as ``scaler.scale(loss).backward()`` would leave it, so the user's
``scaler.step(opt)`` and ``scaler.update()`` work as usual: they unscale, and skip the step (and
lower the scale) when a gradient is inf or NaN. On such a step the balancer's state is put back as
it was before the step, so a skipped step leaves no trace in it either.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import Tensor

#: Dtypes whose inner products are taken in float32.
LOW_PRECISION = (torch.float16, torch.bfloat16)


def loss_scale(scaler: Any, like: Tensor) -> float | None:
    """The scaler's current scale, or None for no scaler or a disabled one.

    ``scaler.scale`` creates the scale on first use (``scaler.step`` needs it to exist), so it
    is called here rather than reading ``get_scale()``.
    """
    if scaler is None or not scaler.is_enabled():
        return None
    return float(scaler.scale(torch.ones((), dtype=torch.float32, device=like.device)).item())


def snapshot(module: torch.nn.Module) -> dict[str, Tensor]:
    """Copies of a module's parameters and buffers, to put back with :func:`restore`."""
    return {name: t.detach().clone() for name, t in _state(module).items()}


def restore(module: torch.nn.Module, saved: dict[str, Tensor]) -> None:
    """Write the values of a :func:`snapshot` back, in place (views of the state stay valid)."""
    current = _state(module)
    with torch.no_grad():
        for name, value in saved.items():
            tensor = current[name]
            if tensor.shape == value.shape:
                tensor.copy_(value)


def _state(module: torch.nn.Module) -> dict[str, Tensor]:
    state: dict[str, Tensor] = dict(module.named_parameters())
    state.update(module.named_buffers())
    return state


def finite_step(values: Sequence[float], tensors: Iterable[Tensor]) -> bool:
    """Whether every loss value and every ``.grad`` of ``tensors`` is finite."""
    if not all(math.isfinite(v) for v in values):
        return False
    checks = [t.grad.isfinite().all() for t in tensors if t.grad is not None]
    return not checks or bool(torch.stack(checks).all())


def gram(matrix: Tensor, scale: float) -> list[list[float]]:
    """The unscaled inner products of the rows of ``matrix`` (scaled by ``scale``), as floats.

    Low-precision rows are multiplied in float32: a bf16 Gram matrix rounds away the small
    negative inner products that signal a conflict.
    """
    if matrix.dtype in LOW_PRECISION:
        matrix = matrix.float()
    products = torch.mm(matrix, matrix.t()).tolist()
    if scale == 1.0:
        return products
    square = scale * scale
    return [[v / square for v in row] for row in products]
