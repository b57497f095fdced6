"""The figures of a compare study's results: each contender's spread over seeds, and (with
several objectives) where the methods land against the static points and the weight search
they came from."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from weightsearch import stats
from weightsearch.report.figures.common import (
    MAX_SUBPLOTS,
    NamedFigure,
    axis_label,
    complete_trials,
    method_colors,
)
from weightsearch.report.figures.search import searched_points

SeedValues = list[tuple[int, dict[str, float]]]


def method_spread(report: dict[str, Any]) -> NamedFigure | None:
    """Each method's values over seeds (a box per method) with its mean and 95% CI."""
    methods = [m for m in report.get("methods", []) if m["n"]]
    if not methods:
        return None
    objectives = report["objectives"][:MAX_SUBPLOTS]
    per_seed = _values_by_method(report)
    colors = method_colors(report)
    figure = make_subplots(
        rows=1,
        cols=len(objectives),
        subplot_titles=[axis_label(o) for o in objectives] if len(objectives) > 1 else None,
        horizontal_spacing=0.08,
    )
    for col, objective in enumerate(objectives, start=1):
        name = objective["name"]
        for method in methods:
            label = method["name"]
            seeds = [(s, v[name]) for s, v in per_seed.get(label, []) if name in v]
            figure.add_trace(_seed_box(label, seeds, colors[label]), row=1, col=col)
            if method["mean"].get(name) is not None:
                legend = col == 1 and method is methods[0]
                figure.add_trace(_mean_marker(method, name, legend), row=1, col=col)
        if len(objectives) == 1:
            figure.update_yaxes(title_text=axis_label(objective), row=1, col=col)
        values = [v[name] for m in methods for _, v in per_seed.get(m["name"], []) if name in v]
        intervals = [m["ci95"][name] for m in methods if name in m["ci95"]]
        figure.update_yaxes(range=_axis_range(values, intervals), row=1, col=col)
    figure.update_layout(
        title={"text": "Each method over seeds"},
        height=440,
        boxgap=0.45,
        legend={"orientation": "h", "y": 1.02, "x": 1, "xanchor": "right", "yanchor": "bottom"},
    )
    caption = (
        "One point per seed, the box spans its quartiles; the black diamond is the mean with "
        "its 95% confidence interval (wide ones, from few seeds, run off the plot; hover for "
        "the numbers). Methods ranked by the first objective."
    )
    return NamedFigure("methods-over-seeds", "Methods over seeds", caption, figure)


def _seed_box(label: str, seeds: list[tuple[int, float]], color: str) -> go.Box:
    return go.Box(
        x=[label] * len(seeds),
        y=[v for _, v in seeds],
        name=label,
        boxpoints="all",
        jitter=0.35,
        pointpos=0,
        marker={"color": color, "size": 7, "opacity": 0.8},
        line={"color": color},
        fillcolor="rgba(0,0,0,0)",
        text=[f"seed {s}" for s, _ in seeds],
        hovertemplate=f"{label} %{{text}}: %{{y:.4g}}<extra></extra>",
        showlegend=False,
        legendgroup=label,
    )


def _mean_marker(method: dict[str, Any], name: str, legend: bool) -> go.Scatter:
    label = method["name"]
    mean = method["mean"][name]
    low, high = method["ci95"].get(name, [mean, mean])
    return go.Scatter(
        x=[label],
        y=[mean],
        mode="markers",
        marker={"symbol": "diamond", "size": 12, "color": "black"},
        error_y=_error_bar(mean, (low, high), "black", thickness=2, width=8),
        name="mean, 95% CI",
        legendgroup="mean",
        showlegend=legend,
        hovertemplate=f"{label} mean %{{y:.4g}}<br>95% CI [{low:.4g}, {high:.4g}]"
        f"<br>p vs equal: {stats.format_p(method['p_vs_equal'].get(name))}"
        "<extra></extra>",
    )


def methods_against_static(
    report: dict[str, Any], references: Sequence[dict[str, Any]]
) -> NamedFigure | None:
    """The methods' means and seeds on the first two objectives, over the searched points (and
    Pareto front) of the weight searches the static contenders came from."""
    objectives = report["objectives"]
    if len(objectives) < 2:
        return None
    x_obj, y_obj = objectives[0], objectives[1]
    methods = [
        m
        for m in report.get("methods", [])
        if x_obj["name"] in m["mean"] and y_obj["name"] in m["mean"]
    ]
    if not methods:
        return None
    figure = go.Figure()
    for reference in references:
        figure.add_traces(searched_points(reference, x_obj, y_obj))
    per_seed = _values_by_method(report)
    colors = method_colors(report)
    for method in methods:
        figure.add_traces(_method_traces(method, per_seed, colors[method["name"]], x_obj, y_obj))
    shown: list[tuple[dict[str, float], dict[str, list[float]] | None]]
    shown = [(t["values"], None) for r in references for t in complete_trials(r)]
    shown += [(v, None) for m in methods for _, v in per_seed.get(m["name"], [])]
    shown += [(m["mean"], m["ci95"]) for m in methods]
    for axis, objective in (("x", x_obj), ("y", y_obj)):
        key = objective["name"]
        values = [v[key] for v, _ in shown if key in v]
        intervals = [ci[key] for _, ci in shown if ci is not None and key in ci]
        title = {"title_text": axis_label(objective), "range": _axis_range(values, intervals)}
        if axis == "x":
            figure.update_xaxes(**title)
        else:
            figure.update_yaxes(**title)
    figure.update_layout(title={"text": "Methods against the static weights"}, height=480)
    caption = (
        "Each method's mean (large marker, 95% CI bars) and its seeds (small points); static "
        "contenders are squares. Grey: the points of the weight search the static weights "
        "came from, with its Pareto front. Wide intervals (few seeds) run off the plot."
    )
    return NamedFigure("methods-vs-static", "Methods against static weights", caption, figure)


def _method_traces(
    method: dict[str, Any],
    per_seed: dict[str, SeedValues],
    color: str,
    x_obj: dict[str, str],
    y_obj: dict[str, str],
) -> list[go.Scatter]:
    """A method's seeds as small points and its mean as a large marker with 95% CI bars."""
    label, x_name, y_name = method["name"], x_obj["name"], y_obj["name"]
    seeds = [(s, v) for s, v in per_seed.get(label, []) if x_name in v and y_name in v]
    x_mean, y_mean = method["mean"][x_name], method["mean"][y_name]
    x_ci = method["ci95"].get(x_name, [x_mean, x_mean])
    y_ci = method["ci95"].get(y_name, [y_mean, y_mean])
    static = label.startswith("static:")
    return [
        go.Scatter(
            x=[v[x_name] for _, v in seeds],
            y=[v[y_name] for _, v in seeds],
            mode="markers",
            marker={"size": 6, "color": color, "opacity": 0.45},
            legendgroup=label,
            showlegend=False,
            text=[f"{label} seed {s}" for s, _ in seeds],
            hoverinfo="text",
        ),
        go.Scatter(
            x=[x_mean],
            y=[y_mean],
            mode="markers",
            marker={
                "size": 14,
                "color": color,
                "symbol": "square" if static else "diamond",
                "line": {"color": "black", "width": 1},
            },
            error_x=_error_bar(x_mean, x_ci, color),
            error_y=_error_bar(y_mean, y_ci, color),
            name=label,
            legendgroup=label,
            hovertemplate=f"{label} (mean)<br>{x_name} %{{x:.4g}}"
            f"<br>{y_name} %{{y:.4g}}<extra></extra>",
        ),
    ]


def _values_by_method(report: dict[str, Any]) -> dict[str, SeedValues]:
    result: dict[str, SeedValues] = {}
    for trial in report["trials"]:
        if trial["state"] == "COMPLETE" and trial["values"]:
            seed = trial.get("seed", trial["seeds"][0] if trial["seeds"] else -1)
            result.setdefault(trial["method"], []).append((seed, trial["values"]))
    return result


def _error_bar(
    mean: float, ci: Sequence[float], color: str, *, thickness: float = 1.5, width: float = 4
) -> dict[str, Any]:
    """Plotly error bars from ``mean`` to the ends of its interval ``ci``."""
    low, high = ci
    return {
        "type": "data",
        "symmetric": False,
        "array": [_finite(high - mean)],
        "arrayminus": [_finite(mean - low)],
        "color": color,
        "thickness": thickness,
        "width": width,
    }


def _finite(value: float) -> float:
    return value if math.isfinite(value) else 0.0


def _axis_range(
    values: Sequence[float], intervals: Sequence[Sequence[float]]
) -> list[float] | None:
    """An axis range that shows every point and as much of the intervals as stays readable.

    With two or three seeds a t-interval can be many times wider than the spread of the points;
    drawn whole, it would squash the points into a line.
    """
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return None
    low, high = min(finite), max(finite)
    span = high - low or abs(high) or 1.0
    ends = [e for ci in intervals for e in ci if math.isfinite(e)]
    low = max(min([low, *ends]), low - 0.5 * span)
    high = min(max([high, *ends]), high + 0.5 * span)
    pad = 0.06 * (high - low)
    return [low - pad, high + pad]
