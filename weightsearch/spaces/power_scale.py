"""The anchor-one power-scale search space.

One loss, the anchor, keeps weight 1; every other loss gets weight `base ** n` for an exponent
`n` from an integer range (or, with `continuous`, any real number in it). This is the folk
heuristic "fix one weight at 1 and try 10^-3 ... 10^1 for the others" turned into a space that
a grid or a model-based sampler can search. The module knows nothing of Optuna or torch.

Example:
    >>> space = PowerScaleSpace(losses=("cls", "box", "aux"), anchor="cls", base=10.0,
    ...                         exponents=parse_exponent_range("-1:1"))
    >>> space.grid_size
    9
    >>> space.raw_weights({"box": -1, "aux": 1})
    {'cls': 1.0, 'box': 0.1, 'aux': 10.0}
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

DEFAULT_BASE = 10.0
DEFAULT_EXPONENTS = "-3:1"

_RANGE = re.compile(r"\s*([+-]?\d+)\s*:\s*([+-]?\d+)\s*")


def parse_exponent_range(text: str) -> tuple[int, int]:
    """Parse `LO:HI` into the inclusive integer range `(LO, HI)`.

    Args:
        text: Two integers separated by a colon, LO <= HI, e.g. "-3:1".

    Raises:
        ValueError: If the text is not two integers or the range is empty.
    """
    match = _RANGE.fullmatch(text)
    if match is None:
        raise ValueError(
            f"--exponents must be two integers LO:HI, but got {text!r}. "
            f"Example: --exponents {DEFAULT_EXPONENTS}"
        )
    low, high = int(match.group(1)), int(match.group(2))
    _check_range(low, high, given=repr(text))
    return low, high


@dataclass(frozen=True)
class PowerScaleSpace:
    """Anchor-one weights: the anchor loss at 1, each other loss at `base ** exponent`.

    Arguments are checked on construction, so a space that exists is valid.

    Attributes:
        losses: All loss names of the task, in the task's order.
        anchor: The loss whose weight is fixed at 1.
        base: The base m of m ** n; positive, finite and not 1.
        exponents: Inclusive integer range (LO, HI) of the exponents.
        continuous: Whether exponents are real numbers in [LO, HI] rather than integers.
    """

    losses: tuple[str, ...]
    anchor: str
    base: float = DEFAULT_BASE
    exponents: tuple[int, int] = (-3, 1)
    continuous: bool = False
    scaled: tuple[str, ...] = field(init=False)
    """The losses other than the anchor, in task order: the dimensions of the space."""

    def __post_init__(self) -> None:
        losses = tuple(self.losses)
        object.__setattr__(self, "losses", losses)
        duplicates = sorted({name for name in losses if losses.count(name) > 1})
        if duplicates:
            raise ValueError(
                f"Loss names must be unique, but {', '.join(map(repr, duplicates))} repeats. "
                "Give each loss its own name in @ws.task(losses=...)."
            )
        if len(losses) < 2:
            raise ValueError(
                f"power-scale needs at least two losses (an anchor and one to scale), but the "
                f"task has {len(losses)}: {', '.join(losses) or 'none'}."
            )
        if self.anchor not in losses:
            raise ValueError(
                f"--anchor must be one of the task's losses ({', '.join(losses)}), but got "
                f"{self.anchor!r}. Example: --anchor {losses[0]}"
            )
        base = self.base
        if isinstance(base, bool) or not isinstance(base, int | float):
            raise ValueError(f"--base must be a number, but got {base!r}. Example: --base 10")
        if not (math.isfinite(base) and base > 0 and base != 1):
            raise ValueError(
                f"--base must be a positive number other than 1, but got {base!r}. "
                "Example: --base 10"
            )
        object.__setattr__(self, "base", float(base))
        low, high = self.exponents
        _check_range(low, high, given=f"{low}:{high}")
        object.__setattr__(self, "exponents", (low, high))
        for n in (low, high):
            try:
                weight = self.base**n
            except OverflowError:
                weight = math.inf
            if not (math.isfinite(weight) and weight > 0):
                raise ValueError(
                    f"--base {self.base:g} with exponent {n} gives a weight of {weight!r}, "
                    "outside floating-point range. Narrow --exponents."
                )
        object.__setattr__(self, "scaled", tuple(n for n in losses if n != self.anchor))

    @property
    def exponent_values(self) -> list[int]:
        """The integer exponents LO, LO+1, ..., HI."""
        low, high = self.exponents
        return list(range(low, high + 1))

    @property
    def grid_size(self) -> int:
        """Number of integer grid points: (HI - LO + 1) ** (number of scaled losses)."""
        return len(self.exponent_values) ** len(self.scaled)

    def grid(self) -> list[dict[str, int]]:
        """List every integer grid point as a dict scaled loss → exponent.

        Points come in lexicographic order of the exponents, the first scaled loss varying
        slowest, so the order is the same on every machine.
        """
        values = self.exponent_values
        return [
            dict(zip(self.scaled, combination, strict=True))
            for combination in itertools.product(values, repeat=len(self.scaled))
        ]

    def raw_weights(self, exponents: Mapping[str, float]) -> dict[str, float]:
        """Return the weights in task order: 1 for the anchor, `base ** n` for the others.

        Args:
            exponents: Exponent per scaled loss (every loss except the anchor, nothing else).

        Raises:
            ValueError: If a scaled loss is missing, an unknown loss is given or an exponent
                is not a finite number.
        """
        missing = [name for name in self.scaled if name not in exponents]
        extra = [name for name in exponents if name not in self.scaled]
        if missing or extra:
            raise ValueError(
                f"Exponents are needed for exactly the scaled losses ({', '.join(self.scaled)}),"
                f" but got {', '.join(exponents) or 'none'}."
            )
        weights: dict[str, float] = {}
        for name in self.losses:
            if name == self.anchor:
                weights[name] = 1.0
                continue
            n = exponents[name]
            if not math.isfinite(n):
                raise ValueError(f"The exponent of {name!r} must be finite, but got {n!r}.")
            weights[name] = self.base**n
        return weights

    def normalized_weights(self, exponents: Mapping[str, float]) -> dict[str, float]:
        """Return the raw weights divided by their sum, so they sum to 1.

        This puts power-scale points on the same footing as sum-to-one grid points, so the
        two kinds of study can be compared and fed to `compare --static`.

        Args:
            exponents: Exponent per scaled loss, as for `raw_weights`.
        """
        return normalize(self.raw_weights(exponents))

    def definition(self) -> dict[str, Any]:
        """Return a JSON-ready description, to store with a study and compare on resume."""
        return {
            "kind": "power-scale",
            "losses": list(self.losses),
            "anchor": self.anchor,
            "base": self.base,
            "exponents": list(self.exponents),
            "continuous": self.continuous,
        }


def power_scale_space(
    losses: Sequence[str],
    *,
    anchor: str | None = None,
    base: float = DEFAULT_BASE,
    exponents: str | tuple[int, int] = DEFAULT_EXPONENTS,
    continuous: bool = False,
) -> PowerScaleSpace:
    """Build a power-scale space from command-line style arguments.

    Args:
        losses: The task's loss names, in order.
        anchor: Loss fixed at weight 1; the first loss when None.
        base: The base m of m ** n.
        exponents: "LO:HI" or an inclusive (LO, HI) pair of integers.
        continuous: Whether exponents are real numbers in [LO, HI].

    Raises:
        ValueError: If any argument breaks the rules of `PowerScaleSpace`.
    """
    exponent_range = parse_exponent_range(exponents) if isinstance(exponents, str) else exponents
    losses = tuple(losses)
    if anchor is None and losses:
        anchor = losses[0]
    return PowerScaleSpace(
        losses=losses,
        anchor=anchor or "",
        base=base,
        exponents=exponent_range,
        continuous=continuous,
    )


def normalize(weights: Mapping[str, float]) -> dict[str, float]:
    """Return `weights` divided by their sum, keeping the key order.

    Raises:
        ValueError: If the weights are empty, negative or not finite, or sum to zero.
    """
    values = list(weights.values())
    if not values or any(not math.isfinite(w) or w < 0 for w in values):
        raise ValueError(f"Weights must be finite and non-negative, but got {dict(weights)!r}.")
    total = math.fsum(values)
    if total <= 0:
        raise ValueError(f"Weights must not all be zero, but got {dict(weights)!r}.")
    return {name: w / total for name, w in weights.items()}


def _check_range(low: int, high: int, *, given: str) -> None:
    if (
        isinstance(low, bool)
        or isinstance(high, bool)
        or not (isinstance(low, int) and isinstance(high, int))
    ):
        raise ValueError(
            f"--exponents must be two integers LO:HI, but got {given}. "
            f"Example: --exponents {DEFAULT_EXPONENTS}"
        )
    if low > high:
        raise ValueError(
            f"--exponents must be a non-empty range LO:HI with LO <= HI, but got {given}. "
            f"Example: --exponents {DEFAULT_EXPONENTS}"
        )
