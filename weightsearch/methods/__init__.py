"""Balancing methods: how the task losses of a multi-task model are combined into gradients.

``create(name, losses, shared, **hyperparameters)`` is the one way in::

    from weightsearch import methods

    b = methods.create("mgda", losses=["a", "b"], shared=model.trunk.parameters())
    weights = b.backward({"a": la, "b": lb})  # fills .grad like loss.backward()

``available()`` lists the names, ``describe()`` gives each method's kind, reference and
hyperparameters (what ``weightsearch methods`` prints), and ``parse_method_args`` reads
``--method-arg METHOD.KEY=VALUE`` options. With torchjd installed, each of its aggregators is a
method too, named ``torchjd:<Aggregator>`` (see ``torchjd_aggregators``).
"""

from __future__ import annotations

import json
import math
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from torch import Tensor

from weightsearch.methods.aligned_mtl import AlignedMTL
from weightsearch.methods.base import Balancer, Hyperparameter
from weightsearch.methods.cagrad import CAGrad
from weightsearch.methods.db_mtl import DBMTL
from weightsearch.methods.dwa import DWA
from weightsearch.methods.equal import Equal
from weightsearch.methods.famo import FAMO
from weightsearch.methods.gls import GLS
from weightsearch.methods.gradnorm import GradNorm
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

__all__ = [
    "Balancer",
    "Hyperparameter",
    "MethodInfo",
    "available",
    "check_arguments",
    "create",
    "describe",
    "method_class",
    "parse_method_args",
]

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
                f"{name} takes hyperparameters {_names(known)}, but got {key!r}. "
                f"Run `weightsearch methods` to see each method's hyperparameters."
            )
        _check_value(name, known[key], value)
    return cls(losses, shared, **hyperparameters)


def check_arguments(name: str, losses: Sequence[str], hyperparameters: Mapping[str, Any]) -> None:
    """Check that method ``name`` accepts these hyperparameters over these losses.

    The method is made once on a stand-in parameter, so a value its constructor refuses (a
    negative learning rate, a torchjd argument left out) is reported before any training.

    Raises:
        ValueError: the constructor's message: unknown method or hyperparameter, bad value.
    """
    import torch

    create(name, list(losses), [torch.zeros(1, requires_grad=True)], **hyperparameters)


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


def parse_method_args(items: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Parse ``METHOD.KEY=VALUE`` strings into ``{method: {key: typed value}}``.

    Values are converted to the hyperparameter's declared type (``float``, ``int``, ``bool``,
    one of a fixed set of choices, or ``name:value,...`` for weight maps) and checked; any problem
    raises ValueError with the rule, what was given and an example.

    Example:
        >>> parse_method_args(["mgda.normalization=l2", "gradnorm.alpha=1"])
        {'mgda': {'normalization': 'l2'}, 'gradnorm': {'alpha': 1.0}}
    """
    parsed: dict[str, dict[str, Any]] = {}
    for item in items:
        target, sep, raw = item.partition("=")
        method, dot, key = target.strip().rpartition(".")
        if not sep or not dot or not method or not key:
            raise ValueError(
                f"--method-arg must look like METHOD.KEY=VALUE, but got {item!r}. "
                f"Example: --method-arg mgda.normalization=l2"
            )
        cls = method_class(method)
        known = {h.name: h for h in cls.hyperparameters()}
        if key not in known:
            raise ValueError(
                f"--method-arg: {method} takes {_names(known)}, but got {key!r} in {item!r}. "
                f"Run `weightsearch methods` to see each method's hyperparameters."
            )
        parsed.setdefault(method, {})[key] = _convert(method, known[key], raw.strip())
    return parsed


def _names(known: Mapping[str, Hyperparameter]) -> str:
    return ", ".join(known) if known else "no hyperparameters"


def _convert(method: str, h: Hyperparameter, raw: str) -> Any:
    """Convert the text of a ``--method-arg`` value to the hyperparameter's type."""
    tp = h.type
    options = [a for a in typing.get_args(tp) if a is not type(None)]
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        if raw.lower() == "none" and type(None) in typing.get_args(tp):
            return None
        tp = options[0] if len(options) == 1 else tp
    example = f"Example: --method-arg {method}.{h.name}={_example(h)}"
    where = f"{method}.{h.name} must be {h.type_name}, but got {raw!r}."
    if typing.get_origin(tp) is Literal:
        for choice in typing.get_args(tp):
            if str(choice) == raw:
                return choice
        raise ValueError(f"{where} {example}")
    origin = typing.get_origin(tp)
    if origin is not None and isinstance(origin, type) and issubclass(origin, Mapping):
        return _convert_mapping(raw, where, example)
    try:
        if tp is bool:
            lowered = raw.lower()
            if lowered in ("true", "1", "yes", "on"):
                return True
            if lowered in ("false", "0", "no", "off"):
                return False
            raise ValueError
        if tp is int:
            return int(raw)
        if tp is float:
            value = float(raw)
            if not math.isfinite(value):
                raise ValueError
            return value
        if tp is str:
            return raw
    except ValueError:
        raise ValueError(f"{where} {example}") from None
    raise ValueError(f"{method}.{h.name} can't be set from the command line. Set it in Python.")


def _convert_mapping(raw: str, where: str, example: str) -> dict[str, float]:
    if raw.startswith("{"):
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            raise ValueError(f"{where} {example}") from None
        if isinstance(value, dict):
            return {str(k): float(v) for k, v in value.items()}
        raise ValueError(f"{where} {example}")
    out: dict[str, float] = {}
    for part in raw.split(","):
        name, sep, number = part.partition(":")
        try:
            if not sep or not name.strip():
                raise ValueError
            out[name.strip()] = float(number)
        except ValueError:
            raise ValueError(f"{where} {example}") from None
    return out


def _example(h: Hyperparameter) -> str:
    choices = h.choices
    if h.required:
        return {int: "1", float: "0.5"}.get(h.type, "VALUE")
    if choices:
        return str(choices[-1] if choices[0] == h.default and len(choices) > 1 else choices[0])
    if h.default is None or isinstance(h.default, Mapping):
        return "a:0.5,b:2"
    return str(h.default)


def _check_value(method: str, h: Hyperparameter, value: Any) -> None:
    """Check a Python-given hyperparameter value against its declared type."""
    tp = h.type
    allowed = (
        list(typing.get_args(tp))
        if typing.get_origin(tp)
        in (
            typing.Union,
            types.UnionType,
        )
        else [tp]
    )
    for option in allowed:
        if option is type(None) and value is None:
            return
        if typing.get_origin(option) is Literal and value in typing.get_args(option):
            return
        if option is float and isinstance(value, int | float) and not isinstance(value, bool):
            return
        if option is int and isinstance(value, int) and not isinstance(value, bool):
            return
        if option in (bool, str) and isinstance(value, option):
            return
        origin = typing.get_origin(option)
        if origin is not None and isinstance(origin, type) and isinstance(value, origin):
            return
        if option is Any or (isinstance(option, type) and isinstance(value, option)):
            return
    raise ValueError(
        f"{method}.{h.name} must be {h.type_name}, but got {value!r}. "
        f"Example: {method}.{h.name}={_example(h)}"
    )
