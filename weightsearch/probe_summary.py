"""What a probe measured and what it suggests, as pure functions of the measures (no torch).

From the mean gradient norms come two suggestions:

- base weights that equalise the gradient norms (``w_i`` proportional to ``1 / norm_i``, summing
  to 1), ready for ``weightsearch grid --base``;
- a ``power-scale`` exponent range: the integers around ``log_base(anchor_norm / norm_i)`` of
  every other loss, widened by one on each side, ready for ``weightsearch power-scale``.

Example:
    >>> equalising_weights({"a": 1.0, "b": 4.0})
    {'a': 0.8, 'b': 0.2}
    >>> exponent_offsets({"a": 1.0, "b": 0.01, "c": 1.0}, anchor="a", base=10.0)
    {'b': 2.0, 'c': 0.0}
    >>> exponent_range({"b": 2.0, "c": 0.0})
    (-1, 3)
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from weightsearch.errors import WeightsearchError

DEFAULT_BASE = 10.0
# Logs within this of an integer count as that integer: log10(1000) is 2.9999999999999996.
_LOG_TOLERANCE = 1e-9


def equalising_weights(grad_norms: Mapping[str, float]) -> dict[str, float]:
    """Weights that give every loss the same gradient norm: ``w_i ∝ 1 / norm_i``, summing to 1.

    Args:
        grad_norms: the norm of each loss's gradient on the shared parameters (positive, finite).

    Raises:
        ValueError: a norm is zero, negative or not finite.
    """
    _check_norms(grad_norms)
    inverse = {name: 1.0 / norm for name, norm in grad_norms.items()}
    total = math.fsum(inverse.values())
    return {name: value / total for name, value in inverse.items()}


def exponent_offsets(
    grad_norms: Mapping[str, float], anchor: str, base: float = DEFAULT_BASE
) -> dict[str, float]:
    """The real exponent ``n_i = log_base(anchor_norm / norm_i)`` of every loss but the anchor.

    With the anchor at weight 1 and loss i at ``base ** n_i``, every loss puts the same gradient
    norm on the shared parameters as the anchor.

    Args:
        grad_norms: the norm of each loss's gradient on the shared parameters (positive, finite).
        anchor: the loss at weight 1.
        base: the base m of the weights m**n (positive, not 1).

    Raises:
        ValueError: an unknown anchor, a bad base, or a norm that isn't positive and finite.
    """
    _check_norms(grad_norms)
    if anchor not in grad_norms:
        raise ValueError(
            f"--anchor must be one of the task's losses ({', '.join(grad_norms)}), but got "
            f"{anchor!r}. Example: --anchor {next(iter(grad_norms), 'NAME')}"
        )
    check_base(base)
    anchor_norm = grad_norms[anchor]
    return {
        name: math.log(anchor_norm / norm) / math.log(base)
        for name, norm in grad_norms.items()
        if name != anchor
    }


def exponent_range(offsets: Mapping[str, float]) -> tuple[int, int]:
    """The inclusive integer range that brackets every offset, widened by one on each side.

    Args:
        offsets: real exponents, e.g. from :func:`exponent_offsets` (at least one).

    Raises:
        ValueError: no offsets, or one that isn't finite.
    """
    values = list(offsets.values())
    if not values or not all(math.isfinite(v) for v in values):
        raise ValueError(f"exponent offsets must be finite numbers, but got {dict(offsets)}.")
    low = math.floor(min(values) + _LOG_TOLERANCE)
    high = math.ceil(max(values) - _LOG_TOLERANCE)
    return low - 1, high + 1


def check_base(base: float) -> None:
    """Raise ValueError unless ``base`` is a positive number other than 1 (``--base``)."""
    if isinstance(base, bool) or not (math.isfinite(base) and base > 0 and base != 1):
        raise ValueError(
            f"--base must be a positive number other than 1, but got {base!r}. Example: --base 10"
        )


def _check_norms(grad_norms: Mapping[str, float]) -> None:
    bad = {n: v for n, v in grad_norms.items() if not (math.isfinite(v) and v > 0)}
    if not grad_norms or bad:
        raise ValueError(
            f"gradient norms must be positive finite numbers, but got {dict(grad_norms)}."
        )


@dataclass
class StepMeasure:
    """What one balancer step measured.

    Attributes:
        losses: each loss's value, in the task's order.
        grad_norms: the norm of each loss's gradient on the shared parameters.
        cosines: K x K cosines between the tasks' shared gradients (NaN where a norm is zero).
    """

    losses: list[float]
    grad_norms: list[float]
    cosines: list[list[float]]


@dataclass
class ProbeResult:
    """What a probe measured and what it suggests; :meth:`to_dict` is the ``--json`` document.

    Attributes:
        task: the task reference as given.
        losses: the loss names, in the task's order.
        steps: how many balancer steps were measured.
        magnitude: mean value of each loss over the steps.
        grad_norm: mean norm of each loss's gradient on the shared parameters.
        cosine: mean cosine between each pair of task gradients (None where undefined).
        conflict_rate: for each pair, the fraction of steps whose cosine was negative.
        base_weights: weights that equalise the gradient norms, summing to 1.
        anchor: the loss at weight 1 in the power-scale suggestion.
        base: the base m of the power-scale weights m**n.
        offsets: ``log_base(anchor_norm / norm_i)`` for every other loss.
        exponents: the suggested inclusive exponent range (None with a single loss).
        commands: ready-to-paste ``grid`` and ``power-scale`` commands.
        notes: messages for the user (e.g. the task ended before all steps were measured).
    """

    task: str
    losses: tuple[str, ...]
    steps: int
    magnitude: dict[str, float]
    grad_norm: dict[str, float]
    cosine: dict[str, dict[str, float | None]]
    conflict_rate: dict[str, dict[str, float]]
    base_weights: dict[str, float]
    anchor: str
    base: float
    offsets: dict[str, float]
    exponents: tuple[int, int] | None
    commands: dict[str, str]
    notes: list[str] = field(default_factory=list)

    @property
    def conflicts(self) -> list[tuple[str, str, float]]:
        """Pairs of losses whose gradients point apart on average (negative mean cosine)."""
        found = []
        for i, a in enumerate(self.losses):
            for b in self.losses[i + 1 :]:
                value = self.cosine[a][b]
                if value is not None and value < 0:
                    found.append((a, b, value))
        return found

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "losses": list(self.losses),
            "steps": self.steps,
            "magnitude": self.magnitude,
            "grad_norm": self.grad_norm,
            "cosine": self.cosine,
            "conflict_rate": self.conflict_rate,
            "conflicts": [{"losses": [a, b], "cosine": value} for a, b, value in self.conflicts],
            "suggested": {
                "base_weights": self.base_weights,
                "anchor": self.anchor,
                "base": self.base,
                "offsets": self.offsets,
                "exponents": list(self.exponents) if self.exponents is not None else None,
            },
            "commands": self.commands,
        }


def summarise(
    task: str,
    losses: Sequence[str],
    record: Sequence[StepMeasure],
    anchor: str,
    base: float = DEFAULT_BASE,
    params: Mapping[str, Any] | None = None,
    notes: list[str] | None = None,
) -> ProbeResult:
    """Average the step measures and derive the suggestions.

    Raises:
        WeightsearchError: a loss put no (or a non-finite) gradient on the shared parameters, so
            no weight can equalise it.
    """
    names = tuple(losses)
    magnitude = {n: _mean(step.losses[i] for step in record) for i, n in enumerate(names)}
    grad_norm = {n: _mean(step.grad_norms[i] for step in record) for i, n in enumerate(names)}
    unusable = [n for n, v in grad_norm.items() if not (math.isfinite(v) and v > 0)]
    if unusable:
        raise WeightsearchError(
            f"every loss needs a finite, non-zero gradient on the shared parameters, but "
            f"{', '.join(unusable)} had {', '.join(f'{grad_norm[n]:g}' for n in unusable)}. "
            "Check that shared= holds the parameters these losses use, and that they are finite."
        )
    cosine, conflict_rate = _cosine_means(names, record)
    base_weights = equalising_weights(grad_norm)
    offsets = exponent_offsets(grad_norm, anchor=anchor, base=base)
    exponents = exponent_range(offsets) if offsets else None
    return ProbeResult(
        task=task,
        losses=names,
        steps=len(record),
        magnitude=magnitude,
        grad_norm=grad_norm,
        cosine=cosine,
        conflict_rate=conflict_rate,
        base_weights=base_weights,
        anchor=anchor,
        base=float(base),
        offsets=offsets,
        exponents=exponents,
        commands=suggested_commands(task, base_weights, anchor, base, exponents, params or {}),
        notes=list(notes or []),
    )


def _cosine_means(
    names: Sequence[str], record: Sequence[StepMeasure]
) -> tuple[dict[str, dict[str, float | None]], dict[str, dict[str, float]]]:
    """Per pair of losses: the mean cosine over the steps where it is defined (None if never),
    and the fraction of those steps where it was negative."""
    cosine: dict[str, dict[str, float | None]] = {a: {} for a in names}
    conflict_rate: dict[str, dict[str, float]] = {a: {} for a in names}
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            values = [step.cosines[i][j] for step in record if math.isfinite(step.cosines[i][j])]
            cosine[a][b] = _mean(values) if values else None
            conflict_rate[a][b] = sum(1 for v in values if v < 0) / len(values) if values else 0.0
    return cosine, conflict_rate


def suggested_commands(
    task: str,
    base_weights: Mapping[str, float],
    anchor: str,
    base: float,
    exponents: tuple[int, int] | None,
    params: Mapping[str, Any],
) -> dict[str, str]:
    """The ``grid`` and ``power-scale`` command lines that search around the suggestions."""
    extra = "".join(f" --param {shlex.quote(_param_text(k, v))}" for k, v in params.items())
    weights = ",".join(f"{name}={weight:.3g}" for name, weight in base_weights.items())
    commands = {"grid": f"weightsearch grid {shlex.quote(task)} --base {weights}{extra}"}
    if exponents is not None:
        commands["power-scale"] = (
            f"weightsearch power-scale {shlex.quote(task)} --anchor {shlex.quote(anchor)} "
            f"--base {base:g} --exponents {exponents[0]}:{exponents[1]}{extra}"
        )
    return commands


def _param_text(key: str, value: Any) -> str:
    text = str(value).lower() if isinstance(value, bool) else str(value)
    return f"{key}={text}"


def _mean(values: Iterable[float]) -> float:
    items = list(values)
    return math.fsum(items) / len(items)
