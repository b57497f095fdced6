"""The plotly figures of a study, built from its report document and what its trials recorded.

A weight search (grid, power-scale) is judged from the weight space: the objective over the
weight simplex, the objective against each loss's weight, the Pareto front with several
objectives, and the learning curves. A compare study is judged from each contender's spread
over seeds, the weights the adaptive methods chose during training, and (with several
objectives) where the methods land against the static points.

The figures live by what they show: ``search`` (the weight space), ``compare`` (the contenders'
results), ``curves`` (what trials recorded during training); ``common`` holds what they share.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from weightsearch.report.figures.common import TEMPLATE, NamedFigure, runs_by_trial
from weightsearch.report.figures.compare import method_spread, methods_against_static
from weightsearch.report.figures.curves import learning_curves, method_curves, weight_trajectories
from weightsearch.report.figures.search import objective_per_weight, pareto_front, weight_space

__all__ = ["TEMPLATE", "NamedFigure", "runs_by_trial", "study_figures"]


def study_figures(
    report: dict[str, Any],
    runs: Mapping[int, Mapping[str, Any]],
    *,
    references: Sequence[dict[str, Any]] = (),
    curves: bool = True,
) -> list[NamedFigure]:
    """The figures of a study, in reading order; figures without data are left out.

    Args:
        report: the study's report document (``build_report``).
        runs: each trial's ``run`` record by trial number (``runs_by_trial``).
        references: report documents of the weight searches a compare study took static
            contenders from; their points are drawn under the methods' (several objectives).
        curves: include learning curves (optuna-dashboard draws its own from the reports).
    """
    if report["kind"] == "compare":
        candidates = [
            method_spread(report),
            methods_against_static(report, references),
            weight_trajectories(report, runs),
            method_curves(report, runs) if curves else None,
        ]
    else:
        candidates = [
            weight_space(report),
            objective_per_weight(report),
            pareto_front(report),
            learning_curves(report, runs) if curves else None,
        ]
    figures = [f for f in candidates if f is not None]
    for named in figures:
        named.figure.update_layout(template=TEMPLATE)
    return figures
