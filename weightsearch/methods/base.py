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
import math
import re
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Protocol

import torch
from torch import Tensor

from weightsearch.methods import engine

Kind = Literal["loss-level", "gradient-level", "representation-level"]
#: What happens to a method's step when every loss is multiplied by one constant ``c`` (so every
#: task gradient and loss value is): ``invariant-update``, the update on every parameter stays the
#: same; ``invariant-weights``, the weights stay the same, so the update is ``c`` times as large;
#: ``adaptive``, no promise: the weights follow the losses' values over the run.
Scale = Literal["invariant-update", "invariant-weights", "adaptive"]


@dataclass(frozen=True)
class Hyperparameter:
    """One hyperparameter of a method, as declared by its ``__init__``.

    Args:
        name: keyword argument name.
        type: the annotation, e.g. ``float`` or ``Literal["none", "l2"]``.
        default: the default value (the paper's or the authors' code's).
        help: one line from the class docstring's ``Args:`` section.
        required: it has no default and must be given (some torchjd aggregators' arguments).
    """

    name: str
    type: Any
    default: Any
    help: str = ""
    required: bool = False

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

    The state is a few numbers per task that the method reads and writes in Python every step, so
    it stays on the CPU in float64 whatever the model's device and dtype: ``.to()``, ``.cuda()``
    and ``.half()`` leave it as it is (the losses may live anywhere).

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
    #: How the update scales with the losses (see :data:`Scale`); the property suite checks it.
    scale: ClassVar[Scale] = "adaptive"
    #: True when the method needs at least one shared parameter.
    needs_shared: ClassVar[bool] = False
    #: Attributes :meth:`_reset_caches` makes: derived from the state, never copied or saved.
    _cache_names: ClassVar[tuple[str, ...]] = ("_numbers", "_roots")
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
        self._reset_caches()

    def _reset_caches(self) -> None:
        """(Re)create what is derived from the state and reused across steps, never saved.

        Subclasses with caches of their own extend it. It runs at creation, after a copy or
        unpickling and after ``load_state_dict`` (which may replace the state's tensors).
        """
        #: Python-speed views of the state: ``self._numbers["applied"][i]`` reads and writes
        #: the buffer in place. A numpy or torch call on K numbers costs 10-50 us on the caches
        #: a training step leaves behind, a sizeable part of a step on small models.
        self._numbers = _StateViews(self._parameters, self._buffers)
        self._roots: (
            tuple[tuple[torch.dtype, torch.device], tuple[Tensor, ...], NumberView | None] | None
        ) = None

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        for name in self._cache_names:  # memoryviews can't be copied or pickled
            state.pop(name, None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self._reset_caches()

    def _load_from_state_dict(self, *args: Any, **kwargs: Any) -> None:
        super()._load_from_state_dict(*args, **kwargs)
        self._reset_caches()

    def _apply(self, fn: Any, recurse: bool = True) -> Balancer:
        # The state stays on the CPU in float64 (see the class docstring).
        return self

    @property
    def num_tasks(self) -> int:
        return len(self.loss_names)

    @property
    def weights(self) -> dict[str, float]:
        """The current weights: those the last :meth:`backward` applied (before the first, the
        initial ones; for DWA after :meth:`epoch_end`, those of the coming epoch)."""
        return dict(zip(self.loss_names, self._numbers["applied"].tolist(), strict=True))

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
            view = self._numbers["applied"]
            for i, w in enumerate(applied):
                view[i] = w
        return self.weights

    @abc.abstractmethod
    def _backward(
        self, losses: list[Tensor], features: list[Tensor] | None
    ) -> Sequence[float] | None:
        """Accumulate the combined gradient; return the weights applied (None: unchanged)."""

    def epoch_end(self) -> None:
        """Mark the end of an epoch; methods defined per epoch (DWA) update here."""

    def _ordered(self, losses: Mapping[str, Tensor]) -> list[Tensor]:
        """The losses in declaration order; one cheap check a step, the full one on a problem."""
        try:
            values = [losses[n] for n in self.loss_names]
            if len(losses) == len(values) and all(v.ndim == 0 and v.requires_grad for v in values):
                return values
        except (KeyError, TypeError, AttributeError):
            pass
        return self._checked(losses)

    def _checked(self, losses: Mapping[str, Tensor]) -> list[Tensor]:
        """The losses as 0-dim tensors, or a ValueError saying what is wrong with them."""
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

    def _backward_weighted(self, losses: Sequence[Tensor], weights: Sequence[float]) -> None:
        """Backpropagate ``sum(w_i * L_i)`` for plain float weights, accumulating into ``.grad``.

        The weights go in as the losses' output gradients, so no product or sum is built: same
        gradients as ``(sum(w_i * L_i)).backward()`` in one engine call (which casts them to each
        loss's dtype). On the CPU they are written into K reused numbers instead of a new tensor.
        """
        first = losses[0]
        key = (first.dtype, first.device)
        if self._roots is None or self._roots[0] != key:
            buffer = torch.zeros(len(losses), dtype=first.dtype, device=first.device)
            self._roots = (key, buffer.unbind(), number_view(buffer))
        _, scales, view = self._roots
        if view is None:
            scales = torch.tensor(weights, dtype=first.dtype, device=first.device).unbind()
        else:
            for i, w in enumerate(weights):
                view[i] = w
        engine.backward(losses, scales, engine.direct(losses))

    def _adam(self, param: str, lr: float, weight_decay: float = 0.0) -> None:
        """Give the method its own Adam over the parameter named ``param``; the user's optimiser
        never sees it.

        The moments are buffers, so ``state_dict()`` holds them; a few float operations on K
        numbers cost far less per step than ``torch.optim.Adam``'s bookkeeping.
        """
        tensor = self._parameters[param]
        assert tensor is not None
        self._adam_param = param
        self._adam_lr = lr
        self._adam_weight_decay = weight_decay
        self.register_buffer("adam_mean", torch.zeros_like(tensor, requires_grad=False))
        self.register_buffer("adam_square", torch.zeros_like(tensor, requires_grad=False))
        self.register_buffer("adam_steps", torch.zeros((), dtype=torch.long))

    def _adam_step(self, grad: Sequence[float]) -> None:
        """One Adam step on the parameter (betas 0.9 and 0.999, eps 1e-8, weight decay added to
        the gradient, as ``torch.optim.Adam``), in place through the state's views."""
        numbers = self._numbers
        p, mean, square, steps = (
            numbers[self._adam_param],
            numbers["adam_mean"],
            numbers["adam_square"],
            numbers["adam_steps"],
        )
        steps[0] += 1
        t = steps[0]
        step_size = self._adam_lr / (1.0 - 0.9**t)
        correction = 1.0 - 0.999**t
        decay = self._adam_weight_decay
        for i, g in enumerate(grad):
            g = g + decay * p[i]
            m = mean[i] = 0.9 * mean[i] + 0.1 * g
            v = square[i] = 0.999 * square[i] + 0.001 * g * g
            p[i] -= step_size * m / (math.sqrt(v / correction) + 1e-8)

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


class NumberView(Protocol):
    """A flat view of a state tensor that reads and writes Python numbers (a memoryview)."""

    def __getitem__(self, index: int, /) -> float: ...

    def __setitem__(self, index: int, value: float, /) -> None: ...

    def tolist(self) -> list[float]: ...


class _StateViews(dict[str, NumberView]):
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


def loss_values(losses: Sequence[Tensor]) -> list[float]:
    """The losses' values as Python floats."""
    return [loss.item() for loss in losses]


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


# The graph node that accumulates into a leaf's ``.grad`` (its ``variable``).
_ACCUMULATE_GRAD = torch._C._functions.AccumulateGrad  # type: ignore[attr-defined]


def reachable_leaves(roots: Iterable[Tensor]) -> dict[int, Tensor]:
    """The tensors whose ``.grad`` a backward from ``roots`` accumulates into, keyed by ``id``."""
    leaves: dict[int, Tensor] = {}
    stack: list[Any] = []
    for r in roots:
        if r.grad_fn is not None:
            stack.append(r.grad_fn)
        elif r.requires_grad:  # the loss is a leaf itself
            leaves[id(r)] = r
    seen: set[Any] = set()
    # Bound methods and no temporary lists: the walk runs every step, on caches the backward
    # passes leave cold (this form takes 40% less time than the plain loop).
    pop, push, visit = stack.pop, stack.append, seen.add
    while stack:
        fn = pop()
        if fn in seen:
            continue
        visit(fn)
        if type(fn) is _ACCUMULATE_GRAD:
            variable = fn.variable
            leaves[id(variable)] = variable
            continue
        for next_fn, _ in fn.next_functions:
            if next_fn is not None:
                push(next_fn)
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
