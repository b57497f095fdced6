"""The figures of a weight search (grid, power-scale), judged from the weight space: the
objective over the weight simplex, the objective against each loss's weight, and the Pareto
front with several objectives."""

from __future__ import annotations

import math
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from weightsearch.report.figures.common import (
    BEST,
    COLORS,
    MAX_SUBPLOTS,
    MUTED,
    NamedFigure,
    axis_label,
    best_numbers,
    complete_trials,
    hover_text,
    objective_value,
)


def weight_space(report: dict[str, Any]) -> NamedFigure | None:
    """The objective over the weight simplex: a line with two losses, a triangle with three,
    parallel coordinates with more."""
    losses = report["losses"]
    complete = complete_trials(report)
    if len(losses) < 2 or not complete:
        return None
    objectives = report["objectives"][:MAX_SUBPLOTS]
    best = best_numbers(report)
    if len(losses) == 2:
        return _two_loss_line(report, complete, objectives, best)
    if len(losses) > 3:
        return _parallel_coordinates(report, complete)
    figure = make_subplots(
        rows=1,
        cols=len(objectives),
        specs=[[{"type": "ternary"}] * len(objectives)],
    )
    for index, objective in enumerate(objectives, start=1):
        shown = [t for t in complete if objective["name"] in t["values"]]
        colorbar_x = index / len(objectives) - 0.02
        trace = _ternary_points(report, shown, objective, best, colorbar_x)
        figure.add_trace(trace, row=1, col=index)
    axis = {"min": 0, "linecolor": "#888", "gridcolor": "#e5e5e5", "tickformat": ".2f"}
    for index in range(1, len(objectives) + 1):
        key = "ternary" if index == 1 else f"ternary{index}"
        titles = {
            f"{side}axis": {**axis, "title": {"text": f"w_{loss}"}}
            for side, loss in zip("abc", losses, strict=True)
        }
        figure.update_layout({key: {"sum": 1, **titles}})
    figure.update_layout(
        title={"text": "Objective over the weight simplex"}, height=480, margin={"t": 90}
    )
    caption = (
        "Each point is one weight vector (normalised to sum 1); colour is the objective, "
        "brighter is better; the best point"
        + ("s (Pareto front) are" if len(report["objectives"]) > 1 else " is")
        + " ringed in red."
    )
    return NamedFigure("weight-simplex", "Objective over the weight simplex", caption, figure)


def _ternary_points(
    report: dict[str, Any],
    shown: list[dict[str, Any]],
    objective: dict[str, str],
    best: set[int],
    colorbar_x: float,
) -> go.Scatterternary:
    a, b, c = report["losses"]
    name = objective["name"]
    return go.Scatterternary(
        a=[t["weights"].get(a) for t in shown],
        b=[t["weights"].get(b) for t in shown],
        c=[t["weights"].get(c) for t in shown],
        mode="markers",
        marker={
            "size": 13,
            "color": [t["values"][name] for t in shown],
            "colorscale": "Viridis",
            "reversescale": objective["direction"] == "minimize",
            "colorbar": {
                "title": {"text": axis_label(objective)},
                "x": colorbar_x,
                "len": 0.8,
                "thickness": 12,
            },
            "line": {
                "color": [BEST if t["number"] in best else "white" for t in shown],
                "width": [3 if t["number"] in best else 1 for t in shown],
            },
        },
        text=[hover_text(t, report) for t in shown],
        hoverinfo="text",
        name=name,
        showlegend=False,
    )


def _two_loss_line(
    report: dict[str, Any],
    complete: list[dict[str, Any]],
    objectives: list[dict[str, str]],
    best: set[int],
) -> NamedFigure:
    first = report["losses"][0]
    figure = make_subplots(rows=len(objectives), cols=1, shared_xaxes=True)
    for row, objective in enumerate(objectives, start=1):
        name = objective["name"]
        shown = sorted(
            (t for t in complete if name in t["values"]), key=lambda t: t["weights"][first]
        )
        figure.add_trace(
            go.Scatter(
                x=[t["weights"][first] for t in shown],
                y=[t["values"][name] for t in shown],
                mode="lines+markers",
                marker={
                    "size": [12 if t["number"] in best else 7 for t in shown],
                    "color": [BEST if t["number"] in best else COLORS[0] for t in shown],
                },
                line={"color": COLORS[0]},
                text=[hover_text(t, report) for t in shown],
                hoverinfo="text",
                showlegend=False,
            ),
            row=row,
            col=1,
        )
        figure.update_yaxes(title_text=axis_label(objective), row=row, col=1)
    other = report["losses"][1]
    figure.update_xaxes(title_text=f"w_{first}  (w_{other} = 1 - w_{first})", row=len(objectives))
    figure.update_layout(title={"text": "Objective along the weight simplex"}, height=420)
    caption = "Two losses: the simplex is a line. Best point(s) in red."
    return NamedFigure("weight-simplex", "Objective along the weight simplex", caption, figure)


def _parallel_coordinates(report: dict[str, Any], complete: list[dict[str, Any]]) -> NamedFigure:
    first = report["objectives"][0]
    shown = [t for t in complete if first["name"] in t["values"]]
    dimensions = [
        {"label": f"w_{loss}", "values": [t["weights"].get(loss, 0.0) for t in shown]}
        for loss in report["losses"]
    ]
    dimensions += [
        {"label": axis_label(o), "values": [t["values"].get(o["name"], math.nan) for t in shown]}
        for o in report["objectives"]
    ]
    figure = go.Figure(
        go.Parcoords(
            dimensions=dimensions,
            line={
                "color": [t["values"][first["name"]] for t in shown],
                "colorscale": "Viridis",
                "reversescale": first["direction"] == "minimize",
                "showscale": True,
                "colorbar": {"title": {"text": axis_label(first)}, "thickness": 12},
            },
        )
    )
    figure.update_layout(title={"text": "Weights and objectives"}, height=460, margin={"t": 100})
    caption = (
        f"{len(report['losses'])} losses: one line per weight vector (normalised to sum 1) "
        "through each weight and objective; colour is the first objective, brighter is "
        "better. Drag along an axis to filter."
    )
    return NamedFigure("weight-simplex", "Weights and objectives", caption, figure)


def objective_per_weight(report: dict[str, Any]) -> NamedFigure | None:
    """One panel per loss and objective: the objective against the loss's weight."""
    complete = complete_trials(report)
    if not complete:
        return None
    losses = report["losses"]
    objectives = report["objectives"][:MAX_SUBPLOTS]
    raw = report["kind"] == "power-scale" and all("raw_weights" in t for t in complete)
    best = best_numbers(report)
    figure = make_subplots(
        rows=len(objectives),
        cols=len(losses),
        shared_yaxes=True,
        horizontal_spacing=0.04,
        vertical_spacing=0.12,
    )
    for row, objective in enumerate(objectives, start=1):
        name = objective["name"]
        shown = [t for t in complete if name in t["values"]]
        for col, loss in enumerate(losses, start=1):
            key = "raw_weights" if raw else "weights"
            figure.add_trace(
                go.Scatter(
                    x=[t[key].get(loss) for t in shown],
                    y=[t["values"][name] for t in shown],
                    mode="markers",
                    marker={
                        "size": [12 if t["number"] in best else 8 for t in shown],
                        "color": [BEST if t["number"] in best else COLORS[0] for t in shown],
                        "opacity": 0.8,
                    },
                    text=[hover_text(t, report) for t in shown],
                    hoverinfo="text",
                    showlegend=False,
                ),
                row=row,
                col=col,
            )
            if row == len(objectives):
                figure.update_xaxes(title_text=f"w_{loss}", row=row, col=col)
            if raw:
                figure.update_xaxes(type="log", row=row, col=col)
        figure.update_yaxes(title_text=axis_label(objective), row=row, col=1)
    figure.update_layout(
        title={"text": "Objective against each loss's weight"}, height=330 * len(objectives)
    )
    what = (
        "the weight each loss trained with (anchor = 1, log scale)"
        if raw
        else "each loss's weight (normalised to sum 1)"
    )
    caption = f"One panel per loss: the objective against {what}. Best point(s) in red."
    return NamedFigure("objective-per-weight", "Objective per weight", caption, figure)


def pareto_front(report: dict[str, Any]) -> NamedFigure | None:
    """The first two objectives of every completed point, with the Pareto front drawn."""
    objectives = report["objectives"]
    if len(objectives) < 2:
        return None
    x_obj, y_obj = objectives[0], objectives[1]
    points, front = _points_and_front(report, x_obj, y_obj)
    if not points:
        return None
    on_front = {t["number"] for t in front}
    others = [t for t in points if t["number"] not in on_front]
    shape = "hv" if x_obj["direction"] == "minimize" else "vh"
    styles = {
        "dominated": {"mode": "markers", "marker": {"size": 8, "color": MUTED}},
        "Pareto front": {
            "mode": "lines+markers",
            "marker": {"size": 11, "color": BEST},
            "line": {"color": BEST, "shape": shape},
        },
    }
    figure = go.Figure()
    for name, trials in (("dominated", others), ("Pareto front", front)):
        figure.add_trace(_scatter(trials, (x_obj, y_obj), report, name=name, **styles[name]))
    figure.update_xaxes(title_text=axis_label(x_obj))
    figure.update_yaxes(title_text=axis_label(y_obj))
    figure.update_layout(title={"text": "Pareto front"}, height=440)
    caption = f"Every completed point by {x_obj['name']} and {y_obj['name']}; the front in red."
    if len(objectives) > 2:
        caption += f" The study has {len(objectives)} objectives; the front is over all of them."
    return NamedFigure("pareto-front", "Pareto front", caption, figure)


def searched_points(
    report: dict[str, Any], x_obj: dict[str, str], y_obj: dict[str, str]
) -> list[go.Scatter]:
    """A weight search's points and its Pareto front in grey, to draw other results over."""
    points, front = _points_and_front(report, x_obj, y_obj)
    axes = (x_obj, y_obj)
    style = {"mode": "markers", "marker": {"size": 7, "color": MUTED, "symbol": "circle-open"}}
    traces = [_scatter(points, axes, report, name=f"{report['study']}: searched points", **style)]
    if front:
        line = {"color": MUTED, "dash": "dot", "shape": "hv"}
        name = f"{report['study']}: Pareto front"
        traces.append(_scatter(front, axes, None, mode="lines", line=line, name=name))
    return traces


def _points_and_front(
    report: dict[str, Any], x_obj: dict[str, str], y_obj: dict[str, str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The completed trials with both objectives, and those on the front, by the first."""
    points = [
        t
        for t in complete_trials(report)
        if x_obj["name"] in t["values"] and y_obj["name"] in t["values"]
    ]
    best = best_numbers(report)
    front = sorted(
        (t for t in points if t["number"] in best), key=lambda t: objective_value(t, x_obj)
    )
    return points, front


def _scatter(
    trials: list[dict[str, Any]],
    axes: tuple[dict[str, str], dict[str, str]],
    hover: dict[str, Any] | None,
    **style: Any,
) -> go.Scatter:
    """Trials at their values of the two objectives ``axes``; each point's hover text from
    the ``hover`` report, or no hover label without one."""
    x_obj, y_obj = axes
    if hover is None:
        labels: dict[str, Any] = {"hoverinfo": "skip"}
    else:
        labels = {"text": [hover_text(t, hover) for t in trials], "hoverinfo": "text"}
    return go.Scatter(
        x=[objective_value(t, x_obj) for t in trials],
        y=[objective_value(t, y_obj) for t in trials],
        **labels,
        **style,
    )
