"""Summaries of a sample of runs: the mean, the sample standard deviation and the t confidence
interval of the mean."""

from __future__ import annotations

import math
from collections.abc import Iterable

from weightsearch.stats.student_t import t_quantile


def mean(values: Iterable[float]) -> float:
    """Return the arithmetic mean.

    Args:
        values: At least one finite number.

    Raises:
        ValueError: If there are no values or one is not finite.
    """
    data = finite_list(values, "mean")
    return math.fsum(data) / len(data)


def std(values: Iterable[float]) -> float:
    """Return the sample standard deviation (divisor n - 1).

    One value has no observable spread; for it this returns 0.0 rather than failing, so a
    table of a single seed still renders. Callers show `n` beside it so that the reader sees
    the spread is not an estimate.

    Args:
        values: At least one finite number.

    Raises:
        ValueError: If there are no values or one is not finite.
    """
    data = finite_list(values, "std")
    if len(data) < 2:
        return 0.0
    centre = math.fsum(data) / len(data)
    return math.sqrt(math.fsum((x - centre) ** 2 for x in data) / (len(data) - 1))


def ci95(values: Iterable[float]) -> tuple[float, float]:
    """Return the two-sided 95% confidence interval of the mean, from the t-distribution.

    The interval is `mean ± t(0.975, n - 1) * std / sqrt(n)`. For a single value no interval
    can be estimated; this returns `(value, value)` (the same choice as `std`), and callers
    show `n = 1` so the zero width is not mistaken for certainty.

    Args:
        values: At least one finite number.

    Raises:
        ValueError: If there are no values or one is not finite.
    """
    data = finite_list(values, "ci95")
    centre = mean(data)
    if len(data) < 2:
        return (centre, centre)
    half_width = t_quantile(0.975, len(data) - 1) * std(data) / math.sqrt(len(data))
    return (centre - half_width, centre + half_width)


def finite_list(values: Iterable[float], what: str) -> list[float]:
    """`values` as floats; ValueError (naming `what`) when there are none or one is not finite."""
    data = [float(v) for v in values]
    if not data:
        raise ValueError(f"{what} needs at least one value, but got none.")
    bad = [v for v in data if not math.isfinite(v)]
    if bad:
        raise ValueError(
            f"{what} needs finite numbers, but got {bad[0]!r}. Drop failed or diverged runs "
            "before computing statistics."
        )
    return data
