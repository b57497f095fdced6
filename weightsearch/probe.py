"""Probe a task: one short pass that measures the losses, and suggests where to search.

``weightsearch probe`` runs the user's own function with equal weights for a few balancer steps.
The function's ``run.balancer(shared=...)`` hands out a :class:`ProbeBalancer`, whose ``backward``
measures, per step, each loss's value, the norm of the gradient it puts on the shared parameters
and the cosines between the tasks' gradients, trains with equal weights, and stops the function
once enough steps are measured (the function need not cooperate). What the measures suggest is
worked out in :mod:`weightsearch.probe_summary`, which needs no torch.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from torch import Tensor

from weightsearch.devices import device_slots
from weightsearch.errors import WeightsearchError
from weightsearch.methods.base import loss_values
from weightsearch.methods.gradients import GradientLevel
from weightsearch.probe_summary import (
    DEFAULT_BASE,
    ProbeResult,
    StepMeasure,
    check_base,
    equalising_weights,
    exponent_offsets,
    exponent_range,
    summarise,
)
from weightsearch.task import Run, Task, load_task

# The suggestion names lived here before probe_summary.py; they stay importable from here.
__all__ = [
    "DEFAULT_BASE",
    "DEFAULT_STEPS",
    "ProbeBalancer",
    "ProbeResult",
    "StepMeasure",
    "equalising_weights",
    "exponent_offsets",
    "exponent_range",
    "run_probe",
    "summarise",
]

DEFAULT_STEPS = 20


class _Measured(BaseException):
    """Stops the user's function once the probe has its steps.

    A BaseException, like ``KeyboardInterrupt``, so that a task's own ``except Exception``
    around its training loop does not swallow it.
    """


class ProbeBalancer(GradientLevel):
    """Equal weights, measuring each loss's value, shared gradient norm and gradient cosines.

    Each ``backward`` computes the K task gradients on the shared parameters, records a
    :class:`StepMeasure` in ``record``, and accumulates the equal-weight gradient; once
    ``record`` holds ``steps`` measures it stops the training function instead.
    It is not a balancing method (the registry doesn't list it): only the probe creates it.

    Args:
        losses: the task's loss names.
        shared: the shared parameters.
        record: where the measures go; shared by every balancer the function creates.
        steps: stop once ``record`` holds this many measures.
    """

    name = "probe"
    reference = "weightsearch probe: equal weights while measuring the task gradients."

    def __init__(
        self,
        losses: Sequence[str],
        shared: Iterable[Tensor] | Tensor = (),
        *,
        record: list[StepMeasure],
        steps: int,
    ) -> None:
        super().__init__(losses, shared)
        self.record = record
        self.steps = steps

    def _backward(self, losses: list[Tensor], features: list[Tensor] | None) -> None:
        grads = self._grads
        grads.compute(losses, self.shared)
        gram = grads.gram()
        k = len(losses)
        norms = [math.sqrt(max(gram[i][i], 0.0)) for i in range(k)]
        cosines = [
            [
                min(max(gram[i][j] / (norms[i] * norms[j]), -1.0), 1.0)
                if norms[i] * norms[j] > 0
                else math.nan
                for j in range(k)
            ]
            for i in range(k)
        ]
        self.record.append(
            StepMeasure(losses=loss_values(losses), grad_norms=norms, cosines=cosines)
        )
        if len(self.record) >= self.steps:
            raise _Measured
        grads.accumulate([1.0] * k)


def run_probe(
    task: str,
    steps: int = DEFAULT_STEPS,
    anchor: str | None = None,
    base: float = DEFAULT_BASE,
    seed: int = 0,
    params: Mapping[str, Any] | None = None,
    devices: str = "auto",
) -> ProbeResult:
    """Run the task's function with equal weights for ``steps`` balancer steps and summarise.

    Args:
        task: a task reference (``path/file.py:function``, ``module:function``, ``file.py``).
        steps: balancer steps to measure; the function is stopped after them.
        anchor: the loss at weight 1 in the power-scale suggestion (default: the first loss).
        base: the base m of the suggested power-scale weights m**n.
        seed: ``run.seed`` of the pass.
        params: ``run.params`` of the pass (from ``--param``).
        devices: ``--devices``; the pass runs in this process, on the first device.

    Raises:
        WeightsearchError: bad options, a task that can't be loaded, fails during the pass, never
            calls ``balancer.backward``, or has a loss without gradient on the shared parameters.
    """
    if steps < 1:
        raise WeightsearchError(f"--steps must be at least 1, but got {steps}. Example: --steps 20")
    device = device_slots(devices, None, in_process=True)[0].torch_name
    try:
        check_base(base)
    except ValueError as exc:
        raise WeightsearchError(str(exc)) from None
    loaded = load_task(task)
    losses = loaded.losses
    anchor = losses[0] if anchor is None else anchor
    if anchor not in losses:
        raise WeightsearchError(
            f"--anchor must be one of the task's losses ({', '.join(losses)}), but got "
            f"{anchor!r}. Example: --anchor {losses[0]}"
        )
    record, run_params = _measure(loaded, task, steps, seed, dict(params or {}), device)
    notes = []
    if len(record) < steps:
        notes.append(
            f"note: the task finished after {len(record)} of {steps} steps; the suggestions use "
            "those."
        )
    return summarise(task, losses, record, anchor, base, params=run_params, notes=notes)


def _measure(
    loaded: Task, task: str, steps: int, seed: int, params: dict[str, Any], device: str
) -> tuple[list[StepMeasure], dict[str, Any]]:
    """Run the loaded task (``task`` is its reference as given) with a :class:`ProbeBalancer`
    until it has measured ``steps`` steps or returns; return the measures and the run's params."""
    record: list[StepMeasure] = []

    def factory(losses: Sequence[str], shared: Iterable[Tensor] | Tensor) -> ProbeBalancer:
        return ProbeBalancer(losses, shared, record=record, steps=steps)

    run = Run(
        weights=dict.fromkeys(loaded.losses, 1.0),
        method="equal",
        seed=seed,
        device=device,
        params=params,
        losses=loaded.losses,
        balancer_factory=factory,
    )
    try:
        loaded(run)
    except _Measured:
        pass
    except Exception as exc:
        # The user's function is the boundary here, as in a trial: its error becomes one line.
        raise WeightsearchError(
            f"the task failed during the probe after {len(record)} measured step(s): "
            f"{type(exc).__name__}: {exc}"
        ) from None
    if not record:
        raise WeightsearchError(
            f"{task} returned without calling balancer.backward(...), so the probe measured "
            "nothing. In the training loop, use balancer = run.balancer(shared=...) and "
            "balancer.backward(losses) instead of loss.backward()."
        )
    return record, run.params
