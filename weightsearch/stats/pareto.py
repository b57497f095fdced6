"""Pareto dominance between points of several objectives, each minimized or maximized."""

from __future__ import annotations

import math
from collections.abc import Sequence

DIRECTIONS = ("minimize", "maximize")


def dominates(a: Sequence[float], b: Sequence[float], directions: Sequence[str]) -> bool:
    """Return whether point `a` Pareto-dominates point `b`.

    `a` dominates `b` when it is no worse in every objective and strictly better in at least
    one; equal points do not dominate each other.

    Args:
        a: Objective values of the first point.
        b: Objective values of the second point.
        directions: "minimize" or "maximize" per objective.

    Raises:
        ValueError: If the lengths differ, a direction is unknown or a value is NaN.
    """
    _check_points([a, b], directions)
    return _dominates(a, b, directions)


def pareto_front(points: Sequence[Sequence[float]], directions: Sequence[str]) -> list[int]:
    """Return the indices, ascending, of the points no other point dominates.

    Equal points are all kept. Infinite values are allowed and compare as usual.

    Args:
        points: Objective values per point, each as long as `directions`.
        directions: "minimize" or "maximize" per objective.

    Raises:
        ValueError: If a point's length differs from `directions`, a direction is unknown or
            a value is NaN.
    """
    _check_points(points, directions)
    return [
        i
        for i, candidate in enumerate(points)
        if not any(_dominates(other, candidate, directions) for other in points)
    ]


def dominated_by_any(
    point: Sequence[float], front: Sequence[Sequence[float]], directions: Sequence[str]
) -> bool:
    """Return whether some point of `front` dominates `point`.

    Used to say whether an adaptive method's mean result is beaten outright by a static
    Pareto front.

    Args:
        point: Objective values to test.
        front: Objective values of the comparison points.
        directions: "minimize" or "maximize" per objective.

    Raises:
        ValueError: As for `pareto_front`.
    """
    _check_points([point, *front], directions)
    return any(_dominates(other, point, directions) for other in front)


def check_direction(direction: str) -> None:
    """Raise ValueError unless `direction` is "minimize" or "maximize"."""
    if direction not in DIRECTIONS:
        raise ValueError(f"A direction must be 'minimize' or 'maximize', but got {direction!r}.")


def _check_points(points: Sequence[Sequence[float]], directions: Sequence[str]) -> None:
    for direction in directions:
        check_direction(direction)
    for point in points:
        if len(point) != len(directions):
            raise ValueError(
                f"Each point needs one value per objective ({len(directions)}), but got "
                f"{len(point)} in {tuple(point)!r}."
            )
        if any(math.isnan(v) for v in point):
            raise ValueError(f"Points must not contain NaN, but got {tuple(point)!r}.")


def _dominates(a: Sequence[float], b: Sequence[float], directions: Sequence[str]) -> bool:
    strictly_better = False
    for x, y, direction in zip(a, b, directions, strict=True):
        better, worse = (x < y, x > y) if direction == "minimize" else (x > y, x < y)
        if worse:
            return False
        strictly_better = strictly_better or better
    return strictly_better
