"""Whether a weight search's best point and its runner-up are told apart by more than seed noise.

With ``--seeds N`` (N >= 2) a point's value is the mean over its seeds, and the best point is
the best mean. The runner-up is *within seed noise* when its mean lies inside the 95%
t-interval of the best point's seed values: another draw of seeds could swap them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from optuna.trial import FrozenTrial

from weightsearch import records, stats
from weightsearch.study import StudyDefinition


def seed_noise(
    best: Sequence[FrozenTrial], complete: Sequence[FrozenTrial], definition: StudyDefinition
) -> dict[str, Any] | None:
    """The report's ``seed_noise``: the best and the runner-up on the objective, the best's
    95% interval over its seeds, and ``within_noise``.

    None for a compare or multi-objective study, with one seed, or before two points completed.
    """
    if definition.kind == "compare" or len(definition.objectives) != 1 or len(best) != 1:
        return None
    objective = definition.objectives[0]
    sign = -1.0 if objective.direction == "maximize" else 1.0
    values = [
        records.seed_values(best[0])[s][objective.name]
        for s in sorted(records.seed_values(best[0]))
    ]
    others = [
        t for t in complete if t.number != best[0].number and objective.name in records.values(t)
    ]
    if len(values) < 2 or not others:
        return None
    runner_up = min(others, key=lambda t: (sign * records.values(t)[objective.name], t.number))
    low, high = stats.ci95(values)
    mean = records.values(runner_up)[objective.name]
    return {
        "metric": objective.name,
        "best": best[0].number,
        "runner_up": runner_up.number,
        "runner_up_mean": mean,
        "best_ci95": [low, high],
        "seeds": len(values),
        "within_noise": low <= mean <= high,
    }


def noise_line(report: dict[str, Any]) -> str | None:
    """One sentence on the report's ``seed_noise``, or None when there is none."""
    noise = report.get("seed_noise")
    if not noise:
        return None
    low, high = noise["best_ci95"]
    where = (
        f"the runner-up #{noise['runner_up']} ({noise['metric']} {noise['runner_up_mean']:.5g}) "
        f"is {{}} the best's 95% interval over {noise['seeds']} seeds ({low:.5g} to {high:.5g})"
    )
    if noise["within_noise"]:
        return where.format("inside") + ": the two are within seed noise (more --seeds tell)."
    return where.format("outside") + ": the best is ahead by more than seed noise."
