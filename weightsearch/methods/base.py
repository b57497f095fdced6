"""The small base every balancing method derives from.

A method is a :class:`Balancer`: it is created once per training run over the names of the losses
and the shared parameters, and its :meth:`Balancer.backward` replaces ``loss.backward()`` in the
training loop. Hyperparameters are the keyword-only arguments of a method's ``__init__``
(``hyperparameters.py`` reads them). The checks of what a user passes in live in ``inputs.py``, the
views of the state in ``state.py``, the graph walk in ``graph.py`` and the internal Adam some
methods use in ``adam.py``.

Gradients are written in two places: :meth:`Balancer._backward_weighted` (one backward of
``sum(w_i L_i)``, the loss-level methods) and ``TaskGradients.accumulate`` in ``gradients.py``
(the gradient-level methods, whose per-task gradients are formed in ``TaskGradients.compute``).
"""

from __future__ import annotations

import abc
import inspect
import typing
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor

from weightsearch.methods import amp, distributed, engine
from weightsearch.methods.graph import reachable_leaves
from weightsearch.methods.hyperparameters import Hyperparameter, arg_docs
from weightsearch.methods.inputs import as_features, checked_losses, checked_names, checked_tensors
from weightsearch.methods.state import NumberView, StateViews, number_view

__all__ = [
    "Balancer",
    "Hyperparameter",
    "Kind",
    "NumberView",
    "Scale",
    "loss_values",
    "number_view",
    "reachable_leaves",
]

Kind = Literal["loss-level", "gradient-level", "representation-level"]
#: What happens to a method's step when every loss is multiplied by one constant ``c`` (so every
#: task gradient and loss value is): ``invariant-update``, the update on every parameter stays the
#: same; ``invariant-weights``, the weights stay the same, so the update is ``c`` times as large;
#: ``adaptive``, no promise: the weights follow the losses' values over the run.
Scale = Literal["invariant-update", "invariant-weights", "adaptive"]


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

    def __init__(self, losses: Sequence[str], shared: Iterable[Tensor] | Tensor = ()) -> None:
        super().__init__()
        self.loss_names: tuple[str, ...] = checked_names(losses)
        params = checked_tensors(shared)
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
        self.register_buffer("applied", torch.ones(len(self.loss_names), dtype=torch.float64))
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
        self._numbers = StateViews(self._parameters, self._buffers)
        self._roots: (
            tuple[tuple[torch.dtype, torch.device], tuple[Tensor, ...], NumberView | None] | None
        ) = None
        #: The GradScaler's scale during a backward given one (``amp.py``), else 1: every
        #: output gradient a method back-propagates is multiplied by it.
        self._seed = 1.0
        #: This step's loss values (averaged over the ranks under torch.distributed) and random
        #: draw (:meth:`_draw`, rank 0's), once read: see :meth:`_loss_values`.
        self._step_values: list[float] | None = None
        self._random: Tensor | None = None
        self._random_shared = False

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
        self,
        losses: Mapping[str, Tensor],
        features: Tensor | Sequence[Tensor] | None = None,
        scaler: torch.amp.GradScaler | None = None,
    ) -> dict[str, float]:
        """Compute the combined gradient and accumulate it into ``.grad``, like ``loss.backward()``.

        Args:
            losses: one scalar tensor per loss name given at creation.
            features: the shared representation the task heads read; used by representation-level
                variants (MGDA-UB) and ignored by the other methods.
            scaler: the ``torch.amp.GradScaler`` of a mixed-precision loop. ``.grad`` gets the
                scaled gradient (as from ``scaler.scale(loss).backward()``), so call
                ``scaler.step(opt)`` and ``scaler.update()`` as usual; weights and state are
                computed from unscaled values, and a step with an inf or NaN loss or gradient
                leaves the state as it was (see ``amp.py``).

        Returns:
            The weight applied to each loss.
        """
        values = self._ordered(losses)
        if not self._checked_reach:
            self._check_reach(values)
        scale = amp.loss_scale(scaler, values[0])
        self._step_values = None
        self._random = self._draw()
        self._random_shared = False
        if scale is None:
            applied = self._backward(values, as_features(features))
        else:
            applied = self._scaled_backward(values, as_features(features), scale)
        if applied is not None:
            view = self._numbers["applied"]
            for i, w in enumerate(applied):
                view[i] = w
        return self.weights

    def _scaled_backward(
        self, losses: list[Tensor], features: list[Tensor] | None, scale: float
    ) -> Sequence[float] | None:
        """:meth:`_backward` with every output gradient times ``scale``; undone on inf/NaN."""
        saved = amp.snapshot(self)
        # Every leaf, not only the shared ones: an overflow may be in a head alone.
        written = list(reachable_leaves(losses).values())
        self._seed = scale
        try:
            applied = self._backward(losses, features)
        finally:
            self._seed = 1.0
        if amp.finite_step(self._loss_values(losses), written):
            return applied
        amp.restore(self, saved)
        return None

    @abc.abstractmethod
    def _backward(
        self, losses: list[Tensor], features: list[Tensor] | None
    ) -> Sequence[float] | None:
        """Accumulate the combined gradient; return the weights applied (None: unchanged)."""

    def _draw(self) -> Tensor | None:
        """This step's random numbers, for methods that draw (read by :meth:`_shared_random`)."""
        return None

    def _shared_random(self) -> Tensor:
        """This step's draw; under torch.distributed, rank 0's on every rank (one collective)."""
        assert self._random is not None
        if not self._random_shared and distributed.world_size() > 1:
            self._random = distributed.reduce((), [self._random])[1][0]
        self._random_shared = True
        return self._random

    def _loss_values(self, losses: Sequence[Tensor]) -> list[float]:
        """The losses' values as floats; under torch.distributed, their mean over the ranks (one
        collective, read once a step), which is the whole batch's for equal shards."""
        if self._step_values is None:
            values = [loss.item() for loss in losses]
            if distributed.world_size() > 1:
                local = torch.tensor(values, dtype=torch.float64, device=losses[0].device)
                values = distributed.reduce([local])[0][0].tolist()
            self._step_values = values
        return self._step_values

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
        return checked_losses(self.loss_names, losses)

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
        if self._seed != 1.0:
            weights = [w * self._seed for w in weights]
        if view is None:
            scales = torch.tensor(weights, dtype=first.dtype, device=first.device).unbind()
        else:
            for i, w in enumerate(weights):
                view[i] = w
        engine.backward(losses, scales, engine.direct(losses))

    @classmethod
    def hyperparameters(cls) -> tuple[Hyperparameter, ...]:
        """The method's hyperparameters: its ``__init__``'s keyword-only arguments."""
        init: Any = cls.__init__
        hints = typing.get_type_hints(init)
        docs = arg_docs(cls.__doc__ or "")
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


def loss_values(losses: Sequence[Tensor]) -> list[float]:
    """The losses' values as Python floats."""
    return [loss.item() for loss in losses]
