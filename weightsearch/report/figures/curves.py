"""The figures of what trials recorded during training: a weight search's learning curves, and
a compare study's curves per method and the weights its adaptive methods chose."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from weightsearch import stats
from weightsearch.report.figures.common import (
    BEST,
    COLORS,
    MUTED,
    NamedFigure,
    axis_label,
    best_numbers,
    method_colors,
    weights_text,
)

Curve = list[tuple[float, float]]


def learning_curves(
    report: dict[str, Any], runs: Mapping[int, Mapping[str, Any]]
) -> NamedFigure | None:
    """The first objective during training, a line per trial (its mean over seeds); the best
    trials in red, pruned ones stopping early."""
    objective = report["objectives"][0]
    name = objective["name"]
    best = best_numbers(report)
    figure = go.Figure()
    drawn = 0
    ordered = sorted(report["trials"], key=lambda t: t["number"] in best)
    for trial in ordered:
        curve = _mean_curve(_seed_curves(runs.get(trial["number"], {}), name))
        if not curve:
            continue
        is_best = trial["number"] in best
        figure.add_trace(
            _line(
                curve,
                line={"color": BEST if is_best else MUTED, "width": 2.5 if is_best else 1},
                opacity=1.0 if is_best else 0.7,
                name=f"#{trial['number']}" + (" (best)" if is_best else ""),
                hovertemplate=f"#{trial['number']} {weights_text(trial, report)}"
                "<br>step %{x}: %{y:.4g}<extra></extra>",
                showlegend=is_best,
            )
        )
        drawn += 1
    if not drawn:
        return None
    figure.update_xaxes(title_text="step")
    figure.update_yaxes(title_text=axis_label(objective))
    figure.update_layout(title={"text": f"Learning curves ({name})"}, height=400)
    caption = (
        f"{name} as the task reported it during training (mean over seeds), one line per "
        "trial; the best in red, pruned trials stop early."
    )
    return NamedFigure("learning-curves", "Learning curves", caption, figure)


def method_curves(
    report: dict[str, Any], runs: Mapping[int, Mapping[str, Any]]
) -> NamedFigure | None:
    """The first objective during training, a line per method (its mean over seeds)."""
    objective = report["objectives"][0]
    name = objective["name"]
    colors = method_colors(report)
    curves: dict[str, list[Curve]] = {}
    for trial in report["trials"]:
        for seed_curve in _seed_curves(runs.get(trial["number"], {}), name):
            curves.setdefault(trial["method"], []).append(seed_curve)
    if not curves:
        return None
    figure = go.Figure()
    order = [m["name"] for m in report.get("methods", []) if m["name"] in curves]
    order += [m for m in curves if m not in order]
    for method in order:
        figure.add_trace(
            _line(
                _mean_curve(curves[method]),
                line={"color": colors.get(method, MUTED), "width": 2},
                name=method,
                hovertemplate=f"{method}<br>step %{{x}}: %{{y:.4g}}"
                f" (mean of {len(curves[method])} seeds)<extra></extra>",
            )
        )
    figure.update_xaxes(title_text="step")
    figure.update_yaxes(title_text=axis_label(objective))
    figure.update_layout(title={"text": f"Learning curves ({name}, mean over seeds)"}, height=400)
    caption = f"{name} as the task reported it during training, averaged over each method's seeds."
    return NamedFigure("learning-curves", "Learning curves", caption, figure)


def weight_trajectories(
    report: dict[str, Any], runs: Mapping[int, Mapping[str, Any]]
) -> NamedFigure | None:
    """Each adaptive method's weight per loss at each reported step, a panel per method."""
    by_method = _changing_trajectories(report, runs)
    if not by_method:
        return None
    order = [m["name"] for m in report.get("methods", []) if m["name"] in by_method]
    order += [m for m in by_method if m not in order]
    losses = report["losses"]
    cols = min(len(order), 3)
    rows = math.ceil(len(order) / cols)
    figure = make_subplots(
        rows=rows,
        cols=cols,
        subplot_titles=order,
        horizontal_spacing=0.06,
        vertical_spacing=0.18 if rows > 1 else 0.1,
    )
    for index, method in enumerate(order):
        row, col = divmod(index, cols)
        for seed, trajectory in sorted(by_method[method]):
            for loss_index, loss in enumerate(losses):
                points = [(step, w[loss]) for step, w in trajectory if loss in w]
                if not points:
                    continue
                figure.add_trace(
                    _line(
                        points,
                        line={"color": COLORS[loss_index % len(COLORS)], "width": 1.5},
                        opacity=0.85,
                        name=loss,
                        legendgroup=loss,
                        showlegend=index == 0 and seed == min(s for s, _ in by_method[method]),
                        hovertemplate=f"{method} seed {seed}<br>{loss} "
                        "weight %{y:.4g} at step %{x}<extra></extra>",
                    ),
                    row=row + 1,
                    col=col + 1,
                )
        figure.update_xaxes(title_text="step", row=row + 1, col=col + 1)
        if col == 0:
            figure.update_yaxes(title_text="weight", row=row + 1, col=col + 1)
    figure.update_layout(
        title={"text": "Weights the adaptive methods chose during training"},
        height=max(360, 300 * rows),
        legend={"title": {"text": "loss"}},
    )
    caption = (
        "Each adaptive method's weight per loss at each reported step, one line per seed. "
        "Methods with fixed weights are left out."
    )
    return NamedFigure("weight-trajectories", "Weight trajectories", caption, figure)


def _line(points: Sequence[tuple[float, float]], **style: Any) -> go.Scatter:
    """A line through ``(step, value)`` points."""
    steps, values = zip(*points, strict=True)
    return go.Scatter(x=steps, y=values, mode="lines", **style)


def _changing_trajectories(
    report: dict[str, Any], runs: Mapping[int, Mapping[str, Any]]
) -> dict[str, list[tuple[int, list[Any]]]]:
    """The weight trajectories of completed trials whose weights moved, by method."""
    by_method: dict[str, list[tuple[int, list[Any]]]] = {}
    for trial in report["trials"]:
        if trial["state"] != "COMPLETE":
            continue
        for seed, trajectory in runs.get(trial["number"], {}).get("trajectories", {}).items():
            if _changes(trajectory):
                by_method.setdefault(trial["method"], []).append((int(seed), trajectory))
    return by_method


def _mean_curve(curves: Iterable[Curve]) -> Curve:
    """The mean over curves at each step any of them reached, by step."""
    by_step: dict[float, list[float]] = {}
    for curve in curves:
        for step, value in curve:
            by_step.setdefault(step, []).append(value)
    return [(s, stats.mean(v)) for s, v in sorted(by_step.items())]


def _seed_curves(run: Mapping[str, Any], metric: str) -> list[Curve]:
    result = []
    for points in run.get("curves", {}).values():
        curve = [
            (step, float(values[metric]))
            for step, values in points
            if isinstance(values, Mapping)
            and isinstance(values.get(metric), int | float)
            and math.isfinite(values[metric])
        ]
        if curve:
            result.append(curve)
    return result


def _changes(trajectory: Sequence[Any]) -> bool:
    weights = [w for _, w in trajectory if isinstance(w, Mapping)]
    if len(weights) < 2:
        return False
    first = weights[0]
    return any(abs(w.get(k, 0.0) - v) > 1e-9 for w in weights[1:] for k, v in first.items())
