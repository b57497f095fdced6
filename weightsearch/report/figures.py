"""The plotly figures of a study, built from its report document and what its trials recorded.

A weight search (grid, power-scale) is judged from the weight space: the objective over the
weight simplex, the objective against each loss's weight, the Pareto front with several
objectives, and the learning curves. A compare study is judged from each contender's spread
over seeds, the weights the adaptive methods chose during training, and (with several
objectives) where the methods land against the static points.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go
from optuna.trial import FrozenTrial
from plotly.subplots import make_subplots

from weightsearch import records, stats

# A small template of our own: plotly's default one adds ~6 KB of JSON to every figure, which
# the dashboard stores in the database in 2 KB pieces.
_COLORS = (
    "#4c72b0",
    "#dd8452",
    "#55a868",
    "#c44e52",
    "#8172b3",
    "#937860",
    "#da8bc3",
    "#8c8c8c",
    "#ccb974",
    "#64b5cd",
)
TEMPLATE = go.layout.Template(
    layout={
        "font": {"family": "system-ui, -apple-system, Segoe UI, sans-serif", "size": 13},
        "paper_bgcolor": "white",
        "plot_bgcolor": "white",
        "colorway": list(_COLORS),
        "xaxis": {"gridcolor": "#e5e5e5", "linecolor": "#888", "zeroline": False},
        "yaxis": {"gridcolor": "#e5e5e5", "linecolor": "#888", "zeroline": False},
        "margin": {"l": 60, "r": 30, "t": 60, "b": 50},
        "hoverlabel": {"align": "left"},
    }
)
_BEST = "#d62728"
_MUTED = "#b0b0b0"
_MAX_SUBPLOTS = 3


@dataclass(frozen=True)
class NamedFigure:
    """One figure of a report.

    Attributes:
        id: stable, a valid HTML id (also the dashboard's graph object id, so saving again
            replaces it).
        title: a heading.
        caption: one or two sentences on how to read it.
        figure: the plotly figure.
    """

    id: str
    title: str
    caption: str
    figure: go.Figure


def runs_by_trial(trials: Iterable[FrozenTrial]) -> dict[int, dict[str, Any]]:
    """Each trial's ``run`` record (per-seed curves and weight trajectories), by trial number."""
    return {t.number: records.run_info(t) for t in trials}


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
            _method_spread(report),
            _methods_against_static(report, references),
            _weight_trajectories(report, runs),
            _method_curves(report, runs) if curves else None,
        ]
    else:
        candidates = [
            _weight_space(report),
            _objective_per_weight(report),
            _pareto_front(report),
            _learning_curves(report, runs) if curves else None,
        ]
    figures = [f for f in candidates if f is not None]
    for named in figures:
        named.figure.update_layout(template=TEMPLATE)
    return figures


# -- weight searches --------------------------------------------------------------------------


def _weight_space(report: dict[str, Any]) -> NamedFigure | None:
    losses = report["losses"]
    complete = _complete(report)
    if len(losses) < 2 or not complete:
        return None
    objectives = report["objectives"][:_MAX_SUBPLOTS]
    best = _best_numbers(report)
    if len(losses) == 2:
        return _two_loss_line(report, complete, objectives, best)
    if len(losses) > 3:
        return _parallel_coordinates(report, complete)
    a, b, c = losses
    figure = make_subplots(
        rows=1,
        cols=len(objectives),
        specs=[[{"type": "ternary"}] * len(objectives)],
    )
    for index, objective in enumerate(objectives, start=1):
        name = objective["name"]
        shown = [t for t in complete if name in t["values"]]
        colorbar_x = index / len(objectives) - 0.02
        figure.add_trace(
            go.Scatterternary(
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
                        "title": {"text": _label(objective)},
                        "x": colorbar_x,
                        "len": 0.8,
                        "thickness": 12,
                    },
                    "line": {
                        "color": [_BEST if t["number"] in best else "white" for t in shown],
                        "width": [3 if t["number"] in best else 1 for t in shown],
                    },
                },
                text=[_hover(t, report) for t in shown],
                hoverinfo="text",
                name=name,
                showlegend=False,
            ),
            row=1,
            col=index,
        )
    axis = {"min": 0, "linecolor": "#888", "gridcolor": "#e5e5e5", "tickformat": ".2f"}
    for index in range(1, len(objectives) + 1):
        key = "ternary" if index == 1 else f"ternary{index}"
        figure.update_layout(
            {
                key: {
                    "sum": 1,
                    "aaxis": {**axis, "title": {"text": f"w_{a}"}},
                    "baxis": {**axis, "title": {"text": f"w_{b}"}},
                    "caxis": {**axis, "title": {"text": f"w_{c}"}},
                }
            }
        )
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
                    "color": [_BEST if t["number"] in best else _COLORS[0] for t in shown],
                },
                line={"color": _COLORS[0]},
                text=[_hover(t, report) for t in shown],
                hoverinfo="text",
                showlegend=False,
            ),
            row=row,
            col=1,
        )
        figure.update_yaxes(title_text=_label(objective), row=row, col=1)
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
        {"label": _label(o), "values": [t["values"].get(o["name"], math.nan) for t in shown]}
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
                "colorbar": {"title": {"text": _label(first)}, "thickness": 12},
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


def _objective_per_weight(report: dict[str, Any]) -> NamedFigure | None:
    complete = _complete(report)
    if not complete:
        return None
    losses = report["losses"]
    objectives = report["objectives"][:_MAX_SUBPLOTS]
    raw = report["kind"] == "power-scale" and all("raw_weights" in t for t in complete)
    best = _best_numbers(report)
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
                        "color": [_BEST if t["number"] in best else _COLORS[0] for t in shown],
                        "opacity": 0.8,
                    },
                    text=[_hover(t, report) for t in shown],
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
        figure.update_yaxes(title_text=_label(objective), row=row, col=1)
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


def _pareto_front(report: dict[str, Any]) -> NamedFigure | None:
    objectives = report["objectives"]
    if len(objectives) < 2:
        return None
    x_obj, y_obj = objectives[0], objectives[1]
    complete = [
        t
        for t in _complete(report)
        if x_obj["name"] in t["values"] and y_obj["name"] in t["values"]
    ]
    if not complete:
        return None
    best = _best_numbers(report)
    front = sorted((t for t in complete if t["number"] in best), key=lambda t: _value(t, x_obj))
    others = [t for t in complete if t["number"] not in best]
    figure = go.Figure()
    figure.add_trace(
        go.Scatter(
            x=[_value(t, x_obj) for t in others],
            y=[_value(t, y_obj) for t in others],
            mode="markers",
            marker={"size": 8, "color": _MUTED},
            text=[_hover(t, report) for t in others],
            hoverinfo="text",
            name="dominated",
        )
    )
    figure.add_trace(
        go.Scatter(
            x=[_value(t, x_obj) for t in front],
            y=[_value(t, y_obj) for t in front],
            mode="lines+markers",
            marker={"size": 11, "color": _BEST},
            line={"color": _BEST, "shape": "hv" if x_obj["direction"] == "minimize" else "vh"},
            text=[_hover(t, report) for t in front],
            hoverinfo="text",
            name="Pareto front",
        )
    )
    figure.update_xaxes(title_text=_label(x_obj))
    figure.update_yaxes(title_text=_label(y_obj))
    figure.update_layout(title={"text": "Pareto front"}, height=440)
    caption = f"Every completed point by {x_obj['name']} and {y_obj['name']}; the front in red."
    if len(objectives) > 2:
        caption += f" The study has {len(objectives)} objectives; the front is over all of them."
    return NamedFigure("pareto-front", "Pareto front", caption, figure)


def _learning_curves(
    report: dict[str, Any], runs: Mapping[int, Mapping[str, Any]]
) -> NamedFigure | None:
    objective = report["objectives"][0]
    name = objective["name"]
    best = _best_numbers(report)
    figure = go.Figure()
    drawn = 0
    ordered = sorted(report["trials"], key=lambda t: t["number"] in best)
    for trial in ordered:
        curve = _mean_curve(runs.get(trial["number"], {}), name)
        if not curve:
            continue
        is_best = trial["number"] in best
        steps, values = zip(*curve, strict=True)
        figure.add_trace(
            go.Scatter(
                x=steps,
                y=values,
                mode="lines",
                line={"color": _BEST if is_best else _MUTED, "width": 2.5 if is_best else 1},
                opacity=1.0 if is_best else 0.7,
                name=f"#{trial['number']}" + (" (best)" if is_best else ""),
                hovertemplate=f"#{trial['number']} {_weights_text(trial, report)}"
                "<br>step %{x}: %{y:.4g}<extra></extra>",
                showlegend=is_best,
            )
        )
        drawn += 1
    if not drawn:
        return None
    figure.update_xaxes(title_text="step")
    figure.update_yaxes(title_text=_label(objective))
    figure.update_layout(title={"text": f"Learning curves ({name})"}, height=400)
    caption = (
        f"{name} as the task reported it during training (mean over seeds), one line per "
        "trial; the best in red, pruned trials stop early."
    )
    return NamedFigure("learning-curves", "Learning curves", caption, figure)


# -- compare ----------------------------------------------------------------------------------


def _method_spread(report: dict[str, Any]) -> NamedFigure | None:
    methods = [m for m in report.get("methods", []) if m["n"]]
    if not methods:
        return None
    objectives = report["objectives"][:_MAX_SUBPLOTS]
    per_seed = _values_by_method(report)
    colors = _method_colors(report)
    figure = make_subplots(
        rows=1,
        cols=len(objectives),
        subplot_titles=[_label(o) for o in objectives] if len(objectives) > 1 else None,
        horizontal_spacing=0.08,
    )
    for col, objective in enumerate(objectives, start=1):
        name = objective["name"]
        for method in methods:
            label = method["name"]
            seeds = [(s, v[name]) for s, v in per_seed.get(label, []) if name in v]
            figure.add_trace(
                go.Box(
                    x=[label] * len(seeds),
                    y=[v for _, v in seeds],
                    name=label,
                    boxpoints="all",
                    jitter=0.35,
                    pointpos=0,
                    marker={"color": colors[label], "size": 7, "opacity": 0.8},
                    line={"color": colors[label]},
                    fillcolor="rgba(0,0,0,0)",
                    text=[f"seed {s}" for s, _ in seeds],
                    hovertemplate=f"{label} %{{text}}: %{{y:.4g}}<extra></extra>",
                    showlegend=False,
                    legendgroup=label,
                ),
                row=1,
                col=col,
            )
            mean = method["mean"].get(name)
            if mean is None:
                continue
            low, high = method["ci95"].get(name, [mean, mean])
            figure.add_trace(
                go.Scatter(
                    x=[label],
                    y=[mean],
                    mode="markers",
                    marker={"symbol": "diamond", "size": 12, "color": "black"},
                    error_y={
                        "type": "data",
                        "symmetric": False,
                        "array": [_finite(high - mean)],
                        "arrayminus": [_finite(mean - low)],
                        "color": "black",
                        "thickness": 2,
                        "width": 8,
                    },
                    name="mean, 95% CI",
                    legendgroup="mean",
                    showlegend=col == 1 and method is methods[0],
                    hovertemplate=f"{label} mean %{{y:.4g}}<br>95% CI [{low:.4g}, {high:.4g}]"
                    f"<br>p vs equal: {stats.format_p(method['p_vs_equal'].get(name))}"
                    "<extra></extra>",
                ),
                row=1,
                col=col,
            )
        if len(objectives) == 1:
            figure.update_yaxes(title_text=_label(objective), row=1, col=col)
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


def _methods_against_static(
    report: dict[str, Any], references: Sequence[dict[str, Any]]
) -> NamedFigure | None:
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
    colors = _method_colors(report)
    figure = go.Figure()
    for reference in references:
        points = [
            t
            for t in _complete(reference)
            if x_obj["name"] in t["values"] and y_obj["name"] in t["values"]
        ]
        front_numbers = _best_numbers(reference)
        front = sorted(
            (t for t in points if t["number"] in front_numbers), key=lambda t: _value(t, x_obj)
        )
        figure.add_trace(
            go.Scatter(
                x=[_value(t, x_obj) for t in points],
                y=[_value(t, y_obj) for t in points],
                mode="markers",
                marker={"size": 7, "color": _MUTED, "symbol": "circle-open"},
                name=f"{reference['study']}: searched points",
                text=[_hover(t, reference) for t in points],
                hoverinfo="text",
            )
        )
        if front:
            figure.add_trace(
                go.Scatter(
                    x=[_value(t, x_obj) for t in front],
                    y=[_value(t, y_obj) for t in front],
                    mode="lines",
                    line={"color": _MUTED, "dash": "dot", "shape": "hv"},
                    name=f"{reference['study']}: Pareto front",
                    hoverinfo="skip",
                )
            )
    per_seed = _values_by_method(report)
    for method in methods:
        label = method["name"]
        seeds = [
            (s, v) for s, v in per_seed.get(label, []) if x_obj["name"] in v and y_obj["name"] in v
        ]
        figure.add_trace(
            go.Scatter(
                x=[v[x_obj["name"]] for _, v in seeds],
                y=[v[y_obj["name"]] for _, v in seeds],
                mode="markers",
                marker={"size": 6, "color": colors[label], "opacity": 0.45},
                legendgroup=label,
                showlegend=False,
                text=[f"{label} seed {s}" for s, _ in seeds],
                hoverinfo="text",
            )
        )
        x_mean, y_mean = method["mean"][x_obj["name"]], method["mean"][y_obj["name"]]
        x_ci = method["ci95"].get(x_obj["name"], [x_mean, x_mean])
        y_ci = method["ci95"].get(y_obj["name"], [y_mean, y_mean])
        static = label.startswith("static:")
        figure.add_trace(
            go.Scatter(
                x=[x_mean],
                y=[y_mean],
                mode="markers",
                marker={
                    "size": 14,
                    "color": colors[label],
                    "symbol": "square" if static else "diamond",
                    "line": {"color": "black", "width": 1},
                },
                error_x=_error_bar(x_mean, x_ci, colors[label]),
                error_y=_error_bar(y_mean, y_ci, colors[label]),
                name=label,
                legendgroup=label,
                hovertemplate=f"{label} (mean)<br>{x_obj['name']} %{{x:.4g}}"
                f"<br>{y_obj['name']} %{{y:.4g}}<extra></extra>",
            )
        )
    shown: list[tuple[dict[str, float], dict[str, list[float]] | None]]
    shown = [(t["values"], None) for r in references for t in _complete(r)]
    shown += [(v, None) for m in methods for _, v in per_seed.get(m["name"], [])]
    shown += [(m["mean"], m["ci95"]) for m in methods]
    for axis, objective in (("x", x_obj), ("y", y_obj)):
        key = objective["name"]
        values = [v[key] for v, _ in shown if key in v]
        intervals = [ci[key] for _, ci in shown if ci is not None and key in ci]
        title = {"title_text": _label(objective), "range": _axis_range(values, intervals)}
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


def _weight_trajectories(
    report: dict[str, Any], runs: Mapping[int, Mapping[str, Any]]
) -> NamedFigure | None:
    by_method: dict[str, list[tuple[int, list[Any]]]] = {}
    for trial in report["trials"]:
        if trial["state"] != "COMPLETE":
            continue
        for seed, trajectory in runs.get(trial["number"], {}).get("trajectories", {}).items():
            if _changes(trajectory):
                by_method.setdefault(trial["method"], []).append((int(seed), trajectory))
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
                steps, weights = zip(*points, strict=True)
                figure.add_trace(
                    go.Scatter(
                        x=steps,
                        y=weights,
                        mode="lines",
                        line={"color": _COLORS[loss_index % len(_COLORS)], "width": 1.5},
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


def _method_curves(
    report: dict[str, Any], runs: Mapping[int, Mapping[str, Any]]
) -> NamedFigure | None:
    objective = report["objectives"][0]
    name = objective["name"]
    colors = _method_colors(report)
    curves: dict[str, list[list[tuple[float, float]]]] = {}
    for trial in report["trials"]:
        for seed_curve in _seed_curves(runs.get(trial["number"], {}), name):
            curves.setdefault(trial["method"], []).append(seed_curve)
    if not curves:
        return None
    figure = go.Figure()
    order = [m["name"] for m in report.get("methods", []) if m["name"] in curves]
    order += [m for m in curves if m not in order]
    for method in order:
        by_step: dict[float, list[float]] = {}
        for curve in curves[method]:
            for step, value in curve:
                by_step.setdefault(step, []).append(value)
        steps = sorted(by_step)
        figure.add_trace(
            go.Scatter(
                x=steps,
                y=[stats.mean(by_step[s]) for s in steps],
                mode="lines",
                line={"color": colors.get(method, _MUTED), "width": 2},
                name=method,
                hovertemplate=f"{method}<br>step %{{x}}: %{{y:.4g}}"
                f" (mean of {len(curves[method])} seeds)<extra></extra>",
            )
        )
    figure.update_xaxes(title_text="step")
    figure.update_yaxes(title_text=_label(objective))
    figure.update_layout(title={"text": f"Learning curves ({name}, mean over seeds)"}, height=400)
    caption = f"{name} as the task reported it during training, averaged over each method's seeds."
    return NamedFigure("learning-curves", "Learning curves", caption, figure)


# -- shared -----------------------------------------------------------------------------------


def _complete(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [t for t in report["trials"] if t["state"] == "COMPLETE" and t["values"]]


def _best_numbers(report: dict[str, Any]) -> set[int]:
    return {b["number"] for b in report.get("best", [])}


def _label(objective: Mapping[str, str]) -> str:
    arrow = "↑" if objective["direction"] == "maximize" else "↓"
    return f"{objective['name']} {arrow}"


def _value(trial: Mapping[str, Any], objective: Mapping[str, str]) -> float:
    return float(trial["values"][objective["name"]])


def _weights_text(trial: Mapping[str, Any], report: Mapping[str, Any]) -> str:
    return ", ".join(
        f"{loss}={trial['weights'].get(loss, math.nan):.3g}" for loss in report["losses"]
    )


def _hover(trial: Mapping[str, Any], report: Mapping[str, Any]) -> str:
    lines = [f"trial #{trial['number']}"]
    if "exponents" in trial:
        lines.append(", ".join(f"n_{k}={v:.3g}" for k, v in trial["exponents"].items()))
    lines.append("w: " + _weights_text(trial, report))
    lines += [f"{k} = {v:.5g}" for k, v in trial["values"].items()]
    return "<br>".join(lines)


def _mean_curve(run: Mapping[str, Any], metric: str) -> list[tuple[float, float]]:
    by_step: dict[float, list[float]] = {}
    for curve in _seed_curves(run, metric):
        for step, value in curve:
            by_step.setdefault(step, []).append(value)
    return [(s, stats.mean(v)) for s, v in sorted(by_step.items())]


def _seed_curves(run: Mapping[str, Any], metric: str) -> list[list[tuple[float, float]]]:
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


def _values_by_method(report: dict[str, Any]) -> dict[str, list[tuple[int, dict[str, float]]]]:
    result: dict[str, list[tuple[int, dict[str, float]]]] = {}
    for trial in report["trials"]:
        if trial["state"] == "COMPLETE" and trial["values"]:
            seed = trial.get("seed", trial["seeds"][0] if trial["seeds"] else -1)
            result.setdefault(trial["method"], []).append((seed, trial["values"]))
    return result


def _method_colors(report: dict[str, Any]) -> dict[str, str]:
    names = [m["name"] for m in report.get("methods", [])]
    names += sorted({t["method"] for t in report["trials"]} - set(names))
    return {name: _COLORS[i % len(_COLORS)] for i, name in enumerate(names)}


def _changes(trajectory: Sequence[Any]) -> bool:
    weights = [w for _, w in trajectory if isinstance(w, Mapping)]
    if len(weights) < 2:
        return False
    first = weights[0]
    return any(abs(w.get(k, 0.0) - v) > 1e-9 for w in weights[1:] for k, v in first.items())


def _error_bar(mean: float, ci: Sequence[float], color: str) -> dict[str, Any]:
    low, high = ci
    return {
        "type": "data",
        "symmetric": False,
        "array": [_finite(high - mean)],
        "arrayminus": [_finite(mean - low)],
        "color": color,
        "thickness": 1.5,
        "width": 4,
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
