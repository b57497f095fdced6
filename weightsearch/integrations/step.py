"""What both adapters do in a training step: check the per-task losses, let the balancer
back-propagate them (with the framework's gradient scaler when there is one)."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
from torch import Tensor

from weightsearch.errors import WeightsearchError

#: The parameters all losses share: a submodule's name, or a function of the model returning them.
Shared = str | Callable[[Any], Iterable[torch.nn.Parameter]]


def task_losses(returned: Any, names: tuple[str, ...], source: str) -> dict[str, Tensor]:
    """``returned`` as the dict of per-task losses the task declares, or a WeightsearchError.

    Args:
        returned: what the user's code gave (a training step's return, a model output's losses).
        names: the task's loss names.
        source: where ``returned`` came from, for the message (e.g. ``"training_step"``).
    """
    example = "{" + ", ".join(f'"{n}": loss_{n}' for n in names) + "}"
    if not isinstance(returned, Mapping):
        kind = "None" if returned is None else type(returned).__name__
        raise WeightsearchError(
            f"{source} must give the per-task losses as a dict of the task's losses "
            f"{list(names)}, but it gave {kind}. Return e.g. {example} instead of their sum."
        )
    missing = [n for n in names if n not in returned]
    unknown = [str(n) for n in returned if n not in names]
    if missing or unknown:
        raise WeightsearchError(
            f"{source} must give exactly the task's losses {list(names)}, but it gave "
            f"{[str(n) for n in returned]} (missing: {missing or 'none'}; not declared: "
            f"{unknown or 'none'}). Rename them to match, or change losses=[...] in @ws.task."
        )
    return {n: returned[n] for n in names}


def balanced_backward(
    balancer: Any, losses: Mapping[str, Tensor], scaler: Any, framework: str
) -> dict[str, float]:
    """``balancer.backward(losses)`` outside autocast, handing it the framework's scaler.

    A balancer whose ``backward`` takes no ``scaler`` can't undo a scaled loss, so mixed precision
    with a gradient scaler is refused with a WeightsearchError.
    """
    kwargs: dict[str, Any] = {}
    if scaler is not None:
        if "scaler" not in inspect.signature(balancer.backward).parameters:
            raise WeightsearchError(
                f"{framework} trains in float16 mixed precision with a gradient scaler, which this "
                "version of weightsearch's balancers can't take. Train in bfloat16 or float32 "
                "instead (bf16-mixed, or 32-bit)."
            )
        kwargs["scaler"] = scaler
    device = next(iter(losses.values())).device.type
    # The framework runs the step under autocast; the balancer's gradient algebra must not be.
    with torch.autocast(device_type=device, enabled=False):
        return balancer.backward(losses, **kwargs)


def shared_parameters(model: torch.nn.Module, shared: Shared) -> Iterable[torch.nn.Parameter]:
    """The parameters ``shared`` names in ``model``, or a WeightsearchError listing its parts."""
    if callable(shared):
        return shared(model)
    try:
        return model.get_submodule(shared).parameters()
    except AttributeError:
        names = [name for name, _ in model.named_children()]
        raise WeightsearchError(
            f"shared must name a submodule of {type(model).__name__} that all losses use, but "
            f"got {shared!r}; its submodules are {names}. Pass one of them, or a function of "
            "the model: shared=lambda m: m.trunk.parameters()."
        ) from None
