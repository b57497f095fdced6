"""Python-speed views of a balancer's state: read and write its tensors as plain numbers.

A numpy or torch call on K numbers costs 10-50 us on the caches a training step leaves behind, a
sizeable part of a step on small models; a memoryview of the tensor's memory costs a fraction.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import torch
from torch import Tensor


class NumberView(Protocol):
    """A flat view of a state tensor that reads and writes Python numbers (a memoryview)."""

    def __getitem__(self, index: int, /) -> float: ...

    def __setitem__(self, index: int, value: float, /) -> None: ...

    def tolist(self) -> list[float]: ...


class StateViews(dict[str, NumberView]):
    """Flat memoryviews of a module's parameters and buffers by name, made on first use.

    A view reads and writes the tensor's own memory with Python numbers (``view[i]``,
    ``view.tolist()``), with no tensor operation; the tensors are CPU tensors (see
    :meth:`Balancer._apply`).
    """

    def __init__(
        self, parameters: Mapping[str, Tensor | None], buffers: Mapping[str, Tensor | None]
    ) -> None:
        super().__init__()
        self._parameters = parameters
        self._buffers = buffers

    def __missing__(self, name: str) -> NumberView:
        tensor = self._parameters.get(name)
        if tensor is None:
            tensor = self._buffers[name]
        view = None if tensor is None else number_view(tensor)
        if view is None:
            raise ValueError(
                f"a balancer's state must be contiguous CPU tensors, but {name!r} is not (was it "
                f"loaded with assign=True from another device?). Load it without assign=True."
            )
        self[name] = view
        return view


_VIEWABLE = (torch.float32, torch.float64, torch.int64, torch.bool)


def number_view(tensor: Tensor) -> NumberView | None:
    """A flat view of a contiguous CPU tensor's memory that reads and writes Python numbers, or
    None for a tensor elsewhere or of another dtype."""
    if tensor.device.type != "cpu" or tensor.dtype not in _VIEWABLE or not tensor.is_contiguous():
        return None
    view: NumberView = memoryview(tensor.detach().numpy().reshape(-1))  # type: ignore[arg-type,assignment]
    return view
