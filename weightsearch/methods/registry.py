"""The registered methods by name: list, look up, create and describe them.

The registry is built from explicit imports (a test fails if a method class exists that it doesn't
list); torchjd's aggregators are methods too, named ``torchjd:<Aggregator>``, made on demand.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from weightsearch.methods.aligned_mtl import AlignedMTL
from weightsearch.methods.base import Balancer
from weightsearch.methods.cagrad import CAGrad
from weightsearch.methods.db_mtl import DBMTL
from weightsearch.methods.dwa import DWA
from weightsearch.methods.equal import Equal
from weightsearch.methods.famo import FAMO
from weightsearch.methods.gls import GLS
from weightsearch.methods.gradnorm import GradNorm
from weightsearch.methods.hyperparameters import Hyperparameter, check_value, names
from weightsearch.methods.imtl import IMTL
from weightsearch.methods.mgda import MGDA
from weightsearch.methods.nash_mtl import NashMTL
from weightsearch.methods.pcgrad import PCGrad
from weightsearch.methods.rlw import RLW
from weightsearch.methods.static import Static
from weightsearch.methods.torchjd_aggregators import (
    aggregator_names,
    is_torchjd_name,
    torchjd_method,
)
from weightsearch.methods.uncertainty import Uncertainty

_CLASSES: tuple[type[Balancer], ...] = (
    Equal,
    Static,
    Uncertainty,
    GradNorm,
    MGDA,
    DWA,
    RLW,
    GLS,
    PCGrad,
    CAGrad,
    IMTL,
    AlignedMTL,
    NashMTL,
    FAMO,
    DBMTL,
)
_REGISTRY: dict[str, type[Balancer]] = {cls.name: cls for cls in _CLASSES}


def available() -> list[str]:
    """Names of the registered methods, in a stable order (baselines first); torchjd's
    aggregators (``torchjd:<Aggregator>``) are not listed here, see :func:`describe`."""
    return list(_REGISTRY)


def method_class(name: str) -> type[Balancer]:
    """The class registered under ``name``; ValueError listing the known names otherwise."""
    if is_torchjd_name(name):
        return torchjd_method(name)
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"method must be one of {', '.join(_REGISTRY)} (or torchjd:<Aggregator> with torchjd "
            f"installed), but got {name!r}. Run `weightsearch methods` to see them all."
        ) from None


def create(
    name: str, losses: Sequence[str], shared: Iterable[Tensor] | Tensor = (), **hyperparameters: Any
) -> Balancer:
    """Create the balancing method ``name`` over the given losses and shared parameters.

    Args:
        name: a name from :func:`available`.
        losses: the loss names, as later passed to ``backward``.
        shared: the parameters all tasks share; a generator is read once.
        **hyperparameters: the method's hyperparameters (see :func:`describe`); unknown names or
            values of the wrong type raise ValueError.

    Example:
        >>> import torch
        >>> w = torch.nn.Parameter(torch.ones(2))
        >>> b = create("static", losses=["a", "b"], shared=[w], weights={"a": 0.5, "b": 2.0})
        >>> b.backward({"a": w.sum(), "b": (w * w).sum()})
        {'a': 0.5, 'b': 2.0}
    """
    cls = method_class(name)
    known = {h.name: h for h in cls.hyperparameters()}
    for key, value in hyperparameters.items():
        if key not in known:
            raise ValueError(
                f"{name} takes hyperparameters {names(known)}, but got {key!r}. "
                f"Run `weightsearch methods` to see each method's hyperparameters."
            )
        check_value(name, known[key], value)
    return cls(losses, shared, **hyperparameters)


@dataclass(frozen=True)
class MethodInfo:
    """What ``weightsearch methods`` shows for one method.

    Args:
        name: registered name.
        kind: ``loss-level``, ``gradient-level`` or ``representation-level``.
        reference: the paper (authors, year, title, link).
        summary: one line of what the method does.
        hyperparameters: name, type, default and help of each hyperparameter.
    """

    name: str
    kind: str
    reference: str
    summary: str
    hyperparameters: tuple[Hyperparameter, ...]

    def hyperparameters_text(self) -> str:
        """One line for a table: ``normalization=loss+ (none|l2|loss|loss+), use_features=True``."""
        parts = []
        for h in self.hyperparameters:
            default = "required" if h.required else "none" if h.default is None else h.default
            choices = f" ({h.type_name})" if h.choices else ""
            parts.append(f"{h.name}={default}{choices}")
        return ", ".join(parts) if parts else "-"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form: hyperparameters as ``{name: {type, default, help}}``."""
        return {
            "name": self.name,
            "kind": self.kind,
            "reference": self.reference,
            "summary": self.summary,
            "hyperparameters": {
                h.name: {"type": h.type_name, "default": h.default, "help": h.help}
                | ({"required": True} if h.required else {})
                for h in self.hyperparameters
            },
        }


def describe() -> list[MethodInfo]:
    """Every registered method with its kind, reference and hyperparameters (with defaults),
    then torchjd's aggregators when torchjd is installed."""
    torchjd = [torchjd_method(f"torchjd:{name}") for name in aggregator_names() or ()]
    return [
        MethodInfo(cls.name, cls.kind, cls.reference, cls.summary(), cls.hyperparameters())
        for cls in [*_REGISTRY.values(), *torchjd]
    ]


def check_arguments(name: str, losses: Sequence[str], hyperparameters: Mapping[str, Any]) -> None:
    """Check a method's name, loss names and hyperparameters without a model.

    Creates the method over a stand-in shared parameter, so every check of :func:`create` and
    the method's ``__init__`` runs; raises ValueError with the same message.

    Args:
        name: a method name (see :func:`available`).
        losses: the loss names.
        hyperparameters: the method's hyperparameters.
    """
    stand_in = torch.zeros(1, requires_grad=True)
    create(name, losses, [stand_in], **hyperparameters)
