"""Successive halving over weight points: rungs, and ASHA's asynchronous promotion rule.

A point is first trained for the lowest rung's steps; the best ``1 / reduction_factor`` of the
points that reached a rung are promoted to the next one, up to the task's full length. A promoted
point retrains from scratch to the next rung's steps (no checkpoint is asked of the task), so a
point that reaches the top rung has cost the sum of the rungs it went through.

Promotion is asynchronous (ASHA, Li et al. 2020): whenever a worker is free, it promotes the best
not-yet-promoted point of the highest rung that has one in its top ``1 / reduction_factor``, and
otherwise starts a new point at the lowest rung. When the points come from a finite grid the
search ends only when every point has had the lowest rung and nothing can be promoted, so no
point is skipped. This module is pure arithmetic: no Optuna, no torch; the caller records the
results and marks promotions (a promotion is marked when it is handed out, so two workers never
get the same one).

Example:
    >>> make_rungs(min_steps=1, reduction_factor=3, max_steps=16)
    (1, 3, 9, 16)
    >>> ladder = Ladder(make_rungs(1, 3, 9), reduction_factor=3, direction="minimize")
    >>> for point, value in [("p", 0.5), ("q", 0.2), ("r", 0.9)]:
    ...     ladder.record(point, rung=0, value=value)
    >>> ladder.next_job(can_start=True)
    Promote(point='q', rung=1, steps=3)
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

Direction = Literal["minimize", "maximize"]


@dataclass(frozen=True)
class Promote:
    """Retrain ``point`` from scratch for ``steps`` steps, the length of rung ``rung``."""

    point: str
    rung: int
    steps: int


@dataclass(frozen=True)
class Start:
    """Train a new point for ``steps`` steps, the lowest rung."""

    steps: int
    rung: int = 0


def make_rungs(min_steps: int, reduction_factor: int, max_steps: int) -> tuple[int, ...]:
    """The steps of each rung: ``min_steps * reduction_factor ** i`` below ``max_steps``, then it.

    Args:
        min_steps: Steps (``run.report`` calls) of the lowest rung, at least 1.
        reduction_factor: How many points compete for each promotion, at least 2.
        max_steps: The task's full length in steps, at least ``min_steps``.

    Raises:
        ValueError: If an argument is not an integer or breaks the rule stated above.

    Example:
        >>> make_rungs(2, 2, 16), make_rungs(4, 4, 4)
        ((2, 4, 8, 16), (4,))
    """
    _check_int("--halving-min-steps", min_steps, minimum=1, example="--halving-min-steps 1")
    _check_int("--halving-factor", reduction_factor, minimum=2, example="--halving-factor 3")
    _check_int("the task's full length in steps", max_steps, minimum=1, example="--param epochs=9")
    if min_steps > max_steps:
        raise ValueError(
            f"--halving-min-steps must be at most the task's full length ({max_steps} steps), but "
            f"got {min_steps}. Lower it, e.g. --halving-min-steps {max(1, max_steps // 4)}."
        )
    rungs = []
    steps = min_steps
    while steps < max_steps:
        rungs.append(steps)
        steps *= reduction_factor
    rungs.append(max_steps)
    return tuple(rungs)


def promotable(
    results: Mapping[str, float],
    promoted: Collection[str],
    *,
    reduction_factor: int,
    direction: Direction,
) -> str | None:
    """The best point of one rung's top ``len(results) // reduction_factor`` not yet promoted.

    Ties go to the point recorded first; a value that is NaN or infinite ranks last and is never
    promoted. None when no point qualifies.
    """
    quota = len(results) // reduction_factor
    if quota == 0:
        return None
    sign = 1.0 if direction == "minimize" else -1.0
    order = {point: index for index, point in enumerate(results)}
    finite = [p for p, v in results.items() if math.isfinite(v)]
    ranked = sorted(finite, key=lambda p: (sign * results[p], order[p]))
    for point in ranked[:quota]:
        if point not in promoted:
            return point
    return None


def next_job(
    rungs: Sequence[int],
    results: Sequence[Mapping[str, float]],
    promoted: Sequence[Collection[str]],
    *,
    reduction_factor: int,
    direction: Direction,
    can_start: bool,
) -> Promote | Start | None:
    """Decide what a free worker does next (ASHA).

    Args:
        rungs: Steps per rung, from `make_rungs`.
        results: Per rung, point id -> its value there (the seed mean with several seeds),
            in the order they were recorded.
        promoted: Per rung, the points already promoted (or being promoted) from it.
        reduction_factor: As for `make_rungs`.
        direction: Whether lower or higher values are better.
        can_start: Whether a new point may start (False once a grid is exhausted or the
            trial budget is spent).

    Returns:
        The promotion from the highest rung that has one; else a new point at the lowest rung
        if ``can_start``; else None: nothing left to do once the running jobs finish.
    """
    if not (len(results) == len(promoted) == len(rungs)):
        raise ValueError(
            f"results and promoted need one entry per rung ({len(rungs)}), but got "
            f"{len(results)} and {len(promoted)}."
        )
    for rung in range(len(rungs) - 2, -1, -1):
        point = promotable(
            results[rung], promoted[rung], reduction_factor=reduction_factor, direction=direction
        )
        if point is not None:
            return Promote(point=point, rung=rung + 1, steps=rungs[rung + 1])
    return Start(steps=rungs[0]) if can_start else None


@dataclass
class Ladder:
    """The state of one successive-halving search: results and promotions per rung.

    Attributes:
        rungs: Steps per rung, from `make_rungs`.
        reduction_factor: As for `make_rungs`.
        direction: Whether lower or higher values are better.
    """

    rungs: tuple[int, ...]
    reduction_factor: int
    direction: Direction
    results: list[dict[str, float]] = field(init=False)
    promoted: list[set[str]] = field(init=False)

    def __post_init__(self) -> None:
        self.results = [{} for _ in self.rungs]
        self.promoted = [set() for _ in self.rungs]

    def record(self, point: str, rung: int, value: float) -> None:
        """Record ``point``'s value after training to rung ``rung``."""
        self.results[rung][point] = value

    def next_job(self, *, can_start: bool) -> Promote | Start | None:
        """`next_job` on this ladder; a promotion it returns is marked as handed out."""
        job = next_job(
            self.rungs,
            self.results,
            self.promoted,
            reduction_factor=self.reduction_factor,
            direction=self.direction,
            can_start=can_start,
        )
        if isinstance(job, Promote):
            self.promoted[job.rung - 1].add(job.point)
        return job

    def highest_rung(self, point: str) -> int | None:
        """The highest rung ``point`` has a result at, or None if it has none."""
        reached = [rung for rung, results in enumerate(self.results) if point in results]
        return reached[-1] if reached else None


def _check_int(name: str, value: object, *, minimum: int, example: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(
            f"{name} must be an integer of at least {minimum}, but got {value!r}. "
            f"Example: {example}"
        )
