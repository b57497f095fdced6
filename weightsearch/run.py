"""What a trial hands the training function: ``Run``, and ``Pruned`` that stops it early.

:class:`Run` carries the trial's weights, seed, device and ``--param`` values, builds the trial's
balancer (``run.balancer``) and takes the learning curve (``run.report``), which raises
:class:`Pruned` when the pruner stops the trial.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import torch


class Pruned(Exception):
    """Raised by :meth:`Run.report` when the pruner stops the trial; let it propagate."""


class RungReached(Pruned):
    """Raised by :meth:`Run.report` when a trial has trained the steps of its halving rung.

    A :class:`Pruned`, so that a task letting ``Pruned`` propagate lets this one through too.
    """


class Reporter(Protocol):
    """Receives intermediate results of a trial; returns True when the trial should stop."""

    def __call__(self, step: int, metrics: Mapping[str, float]) -> bool: ...


@dataclass
class Run:
    """What a trial hands to the training function.

    Attributes:
        weights: the static weights of this trial (loss name -> weight).
        method: the balancing method of this trial (``"static"`` for a weight search).
        seed: the seed to use for everything random in this run.
        device: where to train: ``"cuda:0"`` in a worker pinned to a GPU (it sees that one GPU
            only), ``"mps"``, or ``"cpu"`` (see ``--devices``).
        params: extra values from ``--param KEY=VALUE`` (strings, numbers or booleans).
        losses: the task's loss names.
        balancer_factory: when set, :meth:`balancer` hands out what it returns (called with
            ``losses=`` and ``shared=``) instead of the trial's method; ``weightsearch probe``
            uses it to measure the task's gradients.
        max_steps: the step budget of a ``--pruner halving`` rung: :meth:`report` raises
            :class:`RungReached` at this many reports (None: the task runs to its end).
    """

    weights: dict[str, float]
    method: str = "static"
    seed: int = 0
    device: str = "cpu"
    params: dict[str, Any] = field(default_factory=dict)
    losses: tuple[str, ...] = ()
    method_args: dict[str, Any] = field(default_factory=dict)
    reporter: Reporter | None = None
    curve: list[tuple[int, dict[str, float]]] = field(default_factory=list)
    weight_trajectory: list[tuple[int, dict[str, float]]] = field(default_factory=list)
    balancer_factory: Callable[..., Any] | None = None
    max_steps: int | None = None
    _balancer: Any = None

    def balancer(
        self, shared: Iterable[torch.nn.Parameter] | torch.Tensor, **hyperparameters: Any
    ) -> Any:
        """Create the balancer of this trial's method over the shared parameters.

        Its ``backward(losses, features=None)`` replaces ``loss.backward()`` in the training loop.

        Args:
            shared: the parameters all losses share (e.g. ``model.trunk.parameters()``).
            **hyperparameters: method hyperparameters; ``--method-arg`` values take precedence.
        """
        if self.balancer_factory is not None:
            self._balancer = self.balancer_factory(losses=list(self.losses), shared=shared)
            return self._balancer
        from weightsearch import methods

        args = {**hyperparameters, **self.method_args}
        if self.method == "static":
            args["weights"] = dict(self.weights)
        self._balancer = methods.create(
            self.method, losses=list(self.losses), shared=shared, **args
        )
        return self._balancer

    @property
    def current_weights(self) -> dict[str, float]:
        """The weights the balancer applies now (the static weights before one exists)."""
        if self._balancer is None:
            return dict(self.weights)
        return dict(self._balancer.weights)

    def report(self, step: int, metrics: Mapping[str, float]) -> None:
        """Record intermediate metrics (one point of the learning curve) at ``step``.

        It also marks an epoch boundary for methods defined per epoch (DWA), and records the
        balancer's weights for the weight trajectory. Raises :class:`Pruned` when the pruner
        decides to stop this trial, :class:`RungReached` when it has reported ``max_steps`` times.
        """
        values = {name: float(value) for name, value in metrics.items()}
        self.curve.append((int(step), values))
        if self._balancer is not None:
            self._balancer.epoch_end()
            self.weight_trajectory.append((int(step), self.current_weights))
        if self.reporter is not None and self.reporter(int(step), values):
            raise Pruned(f"pruned at step {step}")
        if self.max_steps is not None and len(self.curve) >= self.max_steps:
            raise RungReached(f"stopped at its rung's {self.max_steps} steps")
