"""What every figure of a report shares: the template and colours, the ``NamedFigure`` a figure
is handed out as, each trial's run record, and reading trials for hover text and axes."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go
from optuna.trial import FrozenTrial

from weightsearch import records

# A small template of our own: plotly's default one adds ~6 KB of JSON to every figure, which
# the dashboard stores in the database in 2 KB pieces.
COLORS = (
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
        "colorway": list(COLORS),
        "xaxis": {"gridcolor": "#e5e5e5", "linecolor": "#888", "zeroline": False},
        "yaxis": {"gridcolor": "#e5e5e5", "linecolor": "#888", "zeroline": False},
        "margin": {"l": 60, "r": 30, "t": 60, "b": 50},
        "hoverlabel": {"align": "left"},
    }
)
BEST = "#d62728"
MUTED = "#b0b0b0"
# Objectives drawn side by side (or stacked) at most; the rest are in the tables.
MAX_SUBPLOTS = 3


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


def complete_trials(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The report's completed trials that have values."""
    return [t for t in report["trials"] if t["state"] == "COMPLETE" and t["values"]]


def best_numbers(report: dict[str, Any]) -> set[int]:
    """The numbers of the best trials (the Pareto front with several objectives)."""
    return {b["number"] for b in report.get("best", [])}


def axis_label(objective: Mapping[str, str]) -> str:
    """An objective's name with an arrow for its direction."""
    arrow = "↑" if objective["direction"] == "maximize" else "↓"
    return f"{objective['name']} {arrow}"


def objective_value(trial: Mapping[str, Any], objective: Mapping[str, str]) -> float:
    """A trial's value of an objective."""
    return float(trial["values"][objective["name"]])


def weights_text(trial: Mapping[str, Any], report: Mapping[str, Any]) -> str:
    """A trial's weights as ``loss=w`` pairs."""
    return ", ".join(
        f"{loss}={trial['weights'].get(loss, math.nan):.3g}" for loss in report["losses"]
    )


def hover_text(trial: Mapping[str, Any], report: Mapping[str, Any]) -> str:
    """A trial's number, exponents, weights and values, one per line of a hover label."""
    lines = [f"trial #{trial['number']}"]
    if "exponents" in trial:
        lines.append(", ".join(f"n_{k}={v:.3g}" for k, v in trial["exponents"].items()))
    lines.append("w: " + weights_text(trial, report))
    lines += [f"{k} = {v:.5g}" for k, v in trial["values"].items()]
    return "<br>".join(lines)


def method_colors(report: dict[str, Any]) -> dict[str, str]:
    """A colour per contender of a compare study, in its ranked order."""
    names = [m["name"] for m in report.get("methods", [])]
    names += sorted({t["method"] for t in report["trials"]} - set(names))
    return {name: COLORS[i % len(COLORS)] for i, name in enumerate(names)}
