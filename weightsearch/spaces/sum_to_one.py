"""The sum-to-one multiplier grid: the first folk heuristic of manual loss weighting.

Keep ``a + b + c = 1``; scale some weights by multipliers (2x, 4x, 6x of their base) and
renormalise so that the weights sum to one again. Every combination of multipliers over the
varied losses is a candidate; candidates that coincide after normalisation (1,1,1 and 2,2,2)
are one point.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence

# Weights that agree to this many decimals are the same point (1/3 computed two ways, say).
_DECIMALS = 12


def sum_to_one_grid(
    losses: Sequence[str],
    multipliers: Sequence[float],
    vary: Sequence[str] | None = None,
    base: Mapping[str, float] | None = None,
) -> list[dict[str, float]]:
    """List the distinct weight vectors of the sum-to-one grid, in a stable order.

    Args:
        losses: all loss names of the task.
        multipliers: the factors tried on each varied loss's base weight.
        vary: the losses whose weight is multiplied (default: all); the others keep their base.
        base: base weight per loss before normalisation (default: equal); unnamed losses get 1.

    Returns:
        One dict per point, loss name -> weight, each summing to 1.

    Example:
        >>> sum_to_one_grid(["a", "b"], [1, 3])
        [{'a': 0.5, 'b': 0.5}, {'a': 0.25, 'b': 0.75}, {'a': 0.75, 'b': 0.25}]
    """
    _check_multipliers(multipliers)
    varied = list(losses) if vary is None else list(vary)
    _check_names("--vary", varied, losses)
    base_weights = dict.fromkeys(losses, 1.0)
    if base:
        _check_names("--base", list(base), losses)
        for name, weight in base.items():
            if not (weight > 0 and math.isfinite(weight)):
                raise ValueError(
                    f"base weights must be positive numbers, but {name}={weight}. "
                    "Example: --base cls=1,box=0.5"
                )
            base_weights[name] = float(weight)

    points: dict[tuple[float, ...], dict[str, float]] = {}
    for combo in itertools.product(multipliers, repeat=len(varied)):
        factor = dict(zip(varied, combo, strict=True))
        raw = [base_weights[name] * factor.get(name, 1.0) for name in losses]
        total = sum(raw)
        weights = [w / total for w in raw]
        key = tuple(round(w, _DECIMALS) for w in weights)
        points.setdefault(key, dict(zip(losses, weights, strict=True)))
    return list(points.values())


def parse_multipliers(text: str) -> list[float]:
    """Parse ``--multipliers`` (``"1,2,4,6"``) into distinct positive numbers, order kept."""
    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        values = []
    if not values or not all(v > 0 and math.isfinite(v) for v in values):
        raise ValueError(
            f"--multipliers must be positive numbers, but got {text!r}. "
            "Example: --multipliers 1,2,4,6"
        )
    return list(dict.fromkeys(values))


def parse_base_weights(text: str) -> dict[str, float]:
    """Parse ``--base name=w,...`` into a dict; names are checked against the task later."""
    weights: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        try:
            weight = float(value)
        except ValueError:
            weight = math.nan
        if not sep or not name.strip() or not (weight > 0 and math.isfinite(weight)):
            raise ValueError(
                f"--base takes name=weight pairs with positive weights, but got {text!r}. "
                "Example: --base cls=1,box=0.5"
            )
        weights[name.strip()] = weight
    if not weights:
        raise ValueError("--base is empty. Example: --base cls=1,box=0.5")
    return weights


def _check_multipliers(multipliers: Sequence[float]) -> None:
    if not multipliers or not all(m > 0 and math.isfinite(m) for m in multipliers):
        raise ValueError(
            f"multipliers must be positive numbers, but got {list(multipliers)}. "
            "Example: --multipliers 1,2,4,6"
        )


def _check_names(option: str, names: Sequence[str], losses: Sequence[str]) -> None:
    unknown = [name for name in names if name not in losses]
    if unknown:
        raise ValueError(
            f"{option} names losses the task doesn't have: {', '.join(unknown)}. "
            f"The task's losses are: {', '.join(losses)}."
        )
    if not names:
        raise ValueError(f"{option} is empty. Name one or more of: {', '.join(losses)}.")
