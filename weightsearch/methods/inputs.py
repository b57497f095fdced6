"""Checks of what a user gives a balancer: loss names, shared parameters, losses and features.

Each problem is a ValueError that states the rule, what was given and the fix.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from torch import Tensor


def checked_names(losses: Sequence[str]) -> tuple[str, ...]:
    """The loss names as a tuple, or a ValueError saying what is wrong with them."""
    if isinstance(losses, str) or not isinstance(losses, Sequence):
        raise ValueError(
            f"losses must be a list of loss names, but got {losses!r}. "
            'Example: losses=["cls", "box"]'
        )
    names = tuple(losses)
    if not names or not all(isinstance(n, str) and n for n in names):
        raise ValueError(
            f"losses must be a non-empty list of non-empty strings, but got {list(names)!r}. "
            'Example: losses=["cls", "box"]'
        )
    if len(set(names)) != len(names):
        raise ValueError(
            f"loss names must be unique, but got {list(names)!r}. Give each loss its own name."
        )
    return names


def checked_tensors(shared: Iterable[Tensor] | Tensor) -> list[Tensor]:
    """The shared parameters as a list (a generator is read once), or a ValueError."""
    params = [shared] if isinstance(shared, Tensor) else list(shared)
    for p in params:
        if not isinstance(p, Tensor):
            raise ValueError(
                f"shared must be tensors such as model.trunk.parameters(), but got an item of "
                f"type {type(p).__name__}. Pass the parameters of the shared part of the model."
            )
    return params


def checked_losses(loss_names: Sequence[str], losses: Mapping[str, Tensor]) -> list[Tensor]:
    """The losses as 0-dim tensors, or a ValueError saying what is wrong with them."""
    if not isinstance(losses, Mapping):
        raise ValueError(
            f"backward takes a dict of losses by name, but got {type(losses).__name__}. "
            f"Example: backward({{{', '.join(repr(n) + ': ...' for n in loss_names)}}})"
        )
    if len(losses) != len(loss_names) or any(n not in losses for n in loss_names):
        missing = [n for n in loss_names if n not in losses]
        unknown = [n for n in losses if n not in loss_names]
        raise ValueError(
            f"backward needs exactly the losses {list(loss_names)}, but "
            + ", ".join(
                part
                for part in (
                    f"{missing} {'is' if len(missing) == 1 else 'are'} missing" if missing else "",
                    f"{unknown} {'is' if len(unknown) == 1 else 'are'} unknown" if unknown else "",
                )
                if part
            )
            + ". Pass one scalar loss per declared name."
        )
    values = [losses[n] for n in loss_names]
    for name, value in zip(loss_names, values, strict=True):
        if not isinstance(value, Tensor) or value.numel() != 1:
            shape = tuple(value.shape) if isinstance(value, Tensor) else type(value).__name__
            raise ValueError(
                f"each loss must be a scalar tensor, but loss {name!r} is {shape}. "
                f"Reduce it first, e.g. with .mean()."
            )
        if not value.requires_grad:
            raise ValueError(
                f"each loss must depend on the model (requires_grad), but loss {name!r} does "
                f"not. Don't detach it or compute it under torch.no_grad()."
            )
    return [v.reshape(()) if v.dim() else v for v in values]


def as_features(features: Tensor | Sequence[Tensor] | None) -> list[Tensor] | None:
    """The shared representation as a list of tensors, or None; a ValueError otherwise."""
    if features is None:
        return None
    items = [features] if isinstance(features, Tensor) else list(features)
    for f in items:
        if not isinstance(f, Tensor):
            raise ValueError(
                f"features must be a tensor (the shared representation), but got "
                f"{type(f).__name__}. Pass the output of the shared trunk, or None."
            )
    return items
