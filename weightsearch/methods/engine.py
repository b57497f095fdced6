"""Backward passes called on autograd's engine directly, where that is safe, for the methods' steps.

``torch.autograd.grad`` and ``torch.autograd.backward`` wrap the engine's ``run_backward`` in
Python work a balancer doesn't need: checks for tensor subclasses, a new tensor of ones as the
output gradient, logging hooks, and the Python context stashed for the engine's device threads
(``torch.compile`` reads its settings there). On the CPU reference model that work is 50-80 us a
call, 5-7% of the floor of K per-task calls (``benchmarks/step_time.py`` measures it). So plain
CPU tensors go straight to the engine; anything else (a tensor subclass, a GPU, autograd's debug
logging on, a torch without the entry point) takes the public function, with the same result.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import torch
from torch import Tensor

_run_backward = getattr(
    getattr(torch.autograd.Variable, "_execution_engine", None), "run_backward", None
)
_PLAIN = (Tensor, torch.nn.Parameter)
_autograd_log = logging.getLogger("torch.autograd.graph")
_ones: dict[torch.dtype, Tensor] = {}


def direct(tensors: Sequence[Tensor]) -> bool:
    """Whether backward passes over these tensors may skip the public functions' wrappers."""
    return (
        _run_backward is not None
        and all(type(t) in _PLAIN and t.is_cpu for t in tensors)
        and not _autograd_log.isEnabledFor(logging.DEBUG)
    )


def gradients(
    loss: Tensor, inputs: tuple[Tensor, ...], retain_graph: bool, fast: bool, seed: float = 1.0
) -> tuple[Tensor | None, ...]:
    """``torch.autograd.grad(seed * loss, inputs, retain_graph=..., allow_unused=True)``.

    Args:
        loss: a scalar.
        inputs: the tensors to differentiate with respect to.
        retain_graph: keep the graph for another backward.
        fast: :func:`direct` holds for the loss and the inputs (checked by the caller, once for
            inputs that don't change between steps).
        seed: the output gradient (a GradScaler's scale; cast to the loss's dtype, as autograd
            casts it).

    The gradients are new tensors except where autograd hands an output gradient through
    unchanged (a loss that is one of the inputs): never modify them in place.
    """
    if seed != 1.0:
        one = torch.full((), seed, dtype=loss.dtype, device=loss.device)
    elif not fast:
        one = None
    else:
        one = _ones.get(loss.dtype)
        if one is None:
            one = _ones[loss.dtype] = torch.ones((), dtype=loss.dtype)
    if not fast:
        return torch.autograd.grad(
            loss, inputs, grad_outputs=one, retain_graph=retain_graph, allow_unused=True
        )
    assert _run_backward is not None
    return _run_backward((loss,), (one,), retain_graph, False, inputs, True, False)


def backward(losses: Sequence[Tensor], grad_tensors: Sequence[Tensor], fast: bool) -> None:
    """``torch.autograd.backward(losses, grad_tensors)``: accumulate into every leaf's ``.grad``.

    ``fast`` is :func:`direct` of the losses and the output gradients.
    """
    if not fast:
        torch.autograd.backward(list(losses), grad_tensors=list(grad_tensors))
        return
    assert _run_backward is not None
    _run_backward(tuple(losses), tuple(grad_tensors), False, False, (), True, True)
