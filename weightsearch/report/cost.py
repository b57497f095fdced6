"""What a search cost in training, against what the exhaustive grid of its space would cost.

A trial's ``steps`` are its ``run.report`` calls summed over its seeds (see
:mod:`weightsearch.records`); a study's ``cost`` is the sum over every trial that trained,
pruned and failed ones included (a trial lost to a crash recorded none). A proposal answered
from the record trained nothing and costs nothing. ``grid_cost`` is the exhaustive grid of the
same space, every point trained to full length with every seed: the grid's points times the
most steps a COMPLETE trial ran (full length x seeds). It is None until a trial completed, and
for a continuous power-scale space, which has no grid, and for compare studies.
"""

from __future__ import annotations

from typing import Any

from weightsearch.spaces import sum_to_one_grid
from weightsearch.study import StudyDefinition


def grid_points(definition: StudyDefinition) -> int | None:
    """The number of points of the study's exhaustive grid (None: the space has no grid)."""
    space = definition.space
    if definition.kind == "grid":
        weights = sum_to_one_grid(
            definition.losses,
            list(space.get("multipliers", [])),
            vary=space.get("vary") or None,
            base=space.get("base") or None,
        )
        return len(weights)
    if definition.kind == "power-scale" and not space.get("continuous"):
        low, high = space.get("exponents", [0, 0])
        return int(high - low + 1) ** (len(definition.losses) - 1)
    return None


def search_cost(trials: list[dict[str, Any]], definition: StudyDefinition) -> dict[str, Any]:
    """The report's cost fields: ``cost``, ``grid_cost`` and ``grid_points``."""
    points = grid_points(definition)
    full = max((t["steps"] for t in trials if t["state"] == "COMPLETE"), default=None)
    return {
        "cost": sum(t["steps"] for t in trials),
        "grid_cost": None if points is None or not full else points * full,
        "grid_points": points,
    }


def cost_line(report: dict[str, Any]) -> str:
    """``cost 1,130 of 5,625 grid steps (20%)``, and how many proposals the record answered."""
    cost, grid = report["cost"], report.get("grid_cost")
    if grid:
        text = f"cost {cost:,} of {grid:,} grid steps ({cost / grid:.0%})"
    elif report["kind"] == "power-scale" and report.get("grid_points") is None:
        text = f"cost {cost:,} steps (a continuous space has no grid to compare with)"
    elif report.get("grid_points"):
        text = f"cost {cost:,} steps (the grid's cost is known once a trial completes)"
    else:
        text = f"cost {cost:,} steps"
    repeats = len(report.get("repeats", []))
    if repeats:
        text += f"; {repeats} proposals of trained points answered from the record, untrained"
    return text
