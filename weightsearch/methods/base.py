"""The small base every balancing method derives from, and its hyperparameter description.

A method is a :class:`Balancer`: it is created once per training run over the names of the losses
and the shared parameters, and its :meth:`Balancer.backward` replaces ``loss.backward()`` in the
training loop. Hyperparameters are the keyword-only arguments of a method's ``__init__``; their
names, types, defaults and help texts are read from the signature and the class docstring, so there
is one place to declare them.
"""

from __future__ import annotations

import abc
import inspect
import re
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from torch import Tensor

Kind = Literal["loss-level", "gradient-level", "representation-level"]


@dataclass(frozen=True)
class Hyperparameter:
    """One hyperparameter of a method, as declared by its ``__init__``.

    Args:
        name: keyword argument name.
        type: the annotation, e.g. ``float`` or ``Literal["none", "l2"]``.
        default: the default value (the paper's or the authors' code's).
        help: one line from the class docstring's ``Args:`` section.
    """

    name: str
    type: Any
    default: Any
    help: str = ""

    @property
    def choices(self) -> tuple[Any, ...] | None:
        """The allowed values of a ``Literal`` hyperparameter, else None."""
        if typing.get_origin(self.type) is Literal:
            return typing.get_args(self.type)
        return None

    @property
    def type_name(self) -> str:
        """A short readable name of the type: ``float``, ``int``, ``none|l2|loss|loss+``."""
        choices = self.choices
        if choices is not None:
            return "|".join(str(c) for c in choices)
        args = [a for a in typing.get_args(self.type) if a is not type(None)]
        if typing.get_origin(self.type) in (typing.Union, types.UnionType):
            return "|".join(_type_name(a) for a in args)
        return _type_name(self.type)


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is not None and issubclass(origin, Mapping):
        return "name:value,..."
    return getattr(tp, "__name__", str(tp))


class Balancer(torch.nn.Module, abc.ABC):
    """Base of all balancing methods: combines the task losses into gradients.

    Subclasses set ``name``, ``kind`` and ``reference``, take their hyperparameters as keyword-only
    arguments of ``__init__`` (documented in the class docstring's ``Args:``), and implement
    :meth:`_backward`. State that changes during training lives in parameters or buffers, so
    :meth:`state_dict` captures it; any optimiser a method needs is internal to it.

    Args:
        losses: names of the losses, in the order weights are reported.
        shared: the parameters all tasks share (a generator such as ``model.trunk.parameters()`` is
            fine: it is read once). Parameters that don't require grad are ignored.
    """

    name: ClassVar[str]
    kind: ClassVar[Kind]
    reference: ClassVar[str]
    #: True when ``.grad`` of every parameter is that of ``sum(w_i * L_i)``, w the returned weights.
    weighted_sum: ClassVar[bool] = True
    #: True when the method needs at least one shared parameter.
    needs_shared: ClassVar[bool] = False
    applied: Tensor
    adam_mean: Tensor
    adam_square: Tensor
    adam_steps: Tensor

    def __init__(self, losses: Sequence[str], shared: Iterable[Tensor] | Tensor = ()) -> None:
        super().__init__()
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
        self.loss_names: tuple[str, ...] = names
        params = [shared] if isinstance(shared, Tensor) else list(shared)
        for p in params:
            if not isinstance(p, Tensor):
                raise ValueError(
                    f"shared must be tensors such as model.trunk.parameters(), but got an item of "
                    f"type {type(p).__name__}. Pass the parameters of the shared part of the model."
                )
        # A plain list keeps the model's parameters out of this module's state_dict; a tensor
        # listed twice would get its gradient twice.
        unique = {id(p): p for p in params if p.requires_grad}
        self.shared: list[Tensor] = list(unique.values())
        if self.needs_shared and not self.shared:
            raise ValueError(
                f"method {self.name!r} needs the shared parameters that all losses depend on, but "
                f"shared held no tensor that requires grad. Pass e.g. "
                f"shared=model.trunk.parameters()."
            )
        self.register_buffer("applied", torch.ones(len(names), dtype=torch.float64))
        self._checked_reach = False

    @property
    def num_tasks(self) -> int:
        return len(self.loss_names)

    @property
    def weights(self) -> dict[str, float]:
        """The current weights: those the last :meth:`backward` applied (before the first, the
        initial ones; for DWA after :meth:`epoch_end`, those of the coming epoch)."""
        return dict(zip(self.loss_names, self.applied.tolist(), strict=True))

    def backward(
        self, losses: Mapping[str, Tensor], features: Tensor | Sequence[Tensor] | None = None
    ) -> dict[str, float]:
        """Compute the combined gradient and accumulate it into ``.grad``, like ``loss.backward()``.

        Args:
            losses: one scalar tensor per loss name given at creation.
            features: the shared representation the task heads read; used by representation-level
                variants (MGDA-UB) and ignored by the other methods.

        Returns:
            The weight applied to each loss.
        """
        values = self._ordered(losses)
        if not self._checked_reach:
            self._check_reach(values)
        applied = self._backward(values, _as_features(features))
        if applied is not None:
            self.applied.copy_(applied.detach().to(self.applied))
        return self.weights

    @abc.abstractmethod
    def _backward(self, losses: list[Tensor], features: list[Tensor] | None) -> Tensor | None:
        """Accumulate the combined gradient; return the weights applied (None: unchanged)."""

    def epoch_end(self) -> None:
        """Mark the end of an epoch; methods defined per epoch (DWA) update here."""

    def _ordered(self, losses: Mapping[str, Tensor]) -> list[Tensor]:
        if not isinstance(losses, Mapping):
            raise ValueError(
                f"backward takes a dict of losses by name, but got {type(losses).__name__}. "
                f"Example: backward({{{', '.join(repr(n) + ': ...' for n in self.loss_names)}}})"
            )
        if len(losses) != len(self.loss_names) or any(n not in losses for n in self.loss_names):
            missing = [n for n in self.loss_names if n not in losses]
            unknown = [n for n in losses if n not in self.loss_names]
            raise ValueError(
                f"backward needs exactly the losses {list(self.loss_names)}, but "
                + ", ".join(
                    part
                    for part in (
                        f"{missing} {'is' if len(missing) == 1 else 'are'} missing"
                        if missing
                        else "",
                        f"{unknown} {'is' if len(unknown) == 1 else 'are'} unknown"
                        if unknown
                        else "",
                    )
                    if part
                )
                + ". Pass one scalar loss per declared name."
            )
        values = [losses[n] for n in self.loss_names]
        for name, value in zip(self.loss_names, values, strict=True):
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

    def _check_reach(self, losses: list[Tensor]) -> None:
        """Once, check that the losses reach at least one shared parameter (a wrong `shared`)."""
        self._checked_reach = True
        if not self.shared:
            return
        reached = reachable_leaves(losses)
        if not any(id(p) in reached for p in self.shared):
            raise ValueError(
                "shared must be parameters the losses depend on, but none of the "
                f"{len(self.shared)} shared tensors is reached by any loss. Pass the parameters "
                "of the part of the model that computes the losses, e.g. model.trunk.parameters()."
            )

    def _adam(self, param: torch.nn.Parameter, lr: float, weight_decay: float = 0.0) -> None:
        """Give the method its own Adam over ``param``; the user's optimiser never sees it.

        The moments are buffers, so ``state_dict()`` holds them; a few tensor operations on K
        numbers cost far less per step than ``torch.optim.Adam``'s bookkeeping.
        """
        # In a tuple: assigned directly, the parameter would be registered a second time.
        self._adam_param = (param,)
        self._adam_lr = lr
        self._adam_weight_decay = weight_decay
        self.register_buffer("adam_mean", torch.zeros_like(param, requires_grad=False))
        self.register_buffer("adam_square", torch.zeros_like(param, requires_grad=False))
        self.register_buffer("adam_steps", torch.zeros((), dtype=torch.long))

    def _adam_step(self, grad: Tensor) -> None:
        """One Adam step (betas 0.9 and 0.999, eps 1e-8, weight decay added to the gradient, as
        ``torch.optim.Adam``).

        On K numbers numpy's per-call cost is a fraction of torch's: in torch this step was 50 us,
        a sixth of a loss-level method's budget on the reference model. On the CPU the arrays are
        views of the buffers; elsewhere they are copied back.
        """
        tensors = (self._adam_param[0].detach(), self.adam_mean, self.adam_square, self.adam_steps)
        p, mean, square, steps = arrays = [t.cpu().numpy() for t in tensors]
        g = grad.detach().cpu().numpy().astype(p.dtype, copy=False)
        if self._adam_weight_decay:
            g = g + self._adam_weight_decay * p
        steps += 1
        t = int(steps)
        mean *= 0.9
        mean += 0.1 * g
        square *= 0.999
        square += 0.001 * g * g
        denom = np.sqrt(square / (1 - 0.999**t)) + 1e-8
        p += (-self._adam_lr / (1 - 0.9**t)) * mean / denom
        for tensor, array in zip(tensors, arrays, strict=True):
            if tensor.device.type != "cpu":
                tensor.copy_(torch.from_numpy(array))

    @classmethod
    def hyperparameters(cls) -> tuple[Hyperparameter, ...]:
        """The method's hyperparameters: its ``__init__``'s keyword-only arguments."""
        init: Any = cls.__init__
        hints = typing.get_type_hints(init)
        docs = _arg_docs(cls.__doc__ or "")
        return tuple(
            Hyperparameter(p.name, hints.get(p.name, Any), p.default, docs.get(p.name, ""))
            for p in inspect.signature(init).parameters.values()
            if p.kind is inspect.Parameter.KEYWORD_ONLY
        )

    @classmethod
    def summary(cls) -> str:
        """The first line of the class docstring."""
        return (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""

    def extra_repr(self) -> str:
        return f"losses={list(self.loss_names)}, shared={len(self.shared)} tensors"


def backward_weighted(losses: Sequence[Tensor], weights: Sequence[float]) -> None:
    """Backpropagate ``sum(w_i * L_i)`` for plain float weights, accumulating into ``.grad``.

    The weights go in as the losses' output gradients, so no product or sum is built: same
    gradients as ``(sum(w_i * L_i)).backward()``, in one engine call without the K multiplications
    and K - 1 additions (a tenth of a loss-level method's overhead on the reference model).
    """
    first = losses[0]
    if all(v.dtype == first.dtype and v.device == first.device for v in losses):
        scales = torch.tensor(weights, dtype=first.dtype, device=first.device).unbind()
        torch.autograd.backward(list(losses), grad_tensors=scales)
        return
    total = losses[0] * weights[0]
    for w, loss in zip(weights[1:], losses[1:], strict=True):
        total = total + loss * w
    total.backward()


def _as_features(features: Tensor | Sequence[Tensor] | None) -> list[Tensor] | None:
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


def reachable_leaves(roots: Iterable[Tensor]) -> dict[int, Tensor]:
    """The tensors whose ``.grad`` a backward from ``roots`` accumulates into, keyed by ``id``."""
    leaves: dict[int, Tensor] = {}
    stack: list[Any] = [r.grad_fn for r in roots if r.grad_fn is not None]
    seen: set[Any] = set()
    while stack:
        fn = stack.pop()
        if fn is None or fn in seen:
            continue
        seen.add(fn)
        variable = getattr(fn, "variable", None)
        if variable is not None:
            leaves[id(variable)] = variable
        stack.extend(next_fn for next_fn, _ in fn.next_functions)
    return leaves


_ARG_LINE = re.compile(r"^(\s*)(\w+)(?: \([^)]*\))?:\s*(.*)$")


def _arg_docs(doc: str) -> dict[str, str]:
    """Map argument names to their help text in a Google-style ``Args:`` section."""
    lines = inspect.cleandoc(doc).splitlines()
    out: dict[str, str] = {}
    inside, indent, current = False, None, None
    for line in lines:
        if line.strip() == "Args:":
            inside, indent, current = True, None, None
            continue
        if not inside:
            continue
        if line and not line.startswith(" "):
            inside = False
            continue
        match = _ARG_LINE.match(line)
        if match and (indent is None or len(match.group(1)) == indent):
            indent = len(match.group(1))
            current = match.group(2)
            out[current] = match.group(3).strip()
        elif current and line.strip():
            out[current] += " " + line.strip()
    return out
