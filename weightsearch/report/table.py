"""Rich tables of a study's results, for the terminal."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from weightsearch import stats
from weightsearch.report.document import trial_counts
from weightsearch.study import StudyDefinition

_TOP = 10


def render_table(report: dict[str, Any], definition: StudyDefinition, console: Console) -> None:
    """Print the top points of a study (from its report document) and a line of counts."""
    trials = report["trials"]
    objectives = [o.name for o in definition.objectives]
    metric_names = objectives + [m for m in definition.metrics if m not in objectives]
    best_numbers = {b["number"] for b in report["best"]}
    complete = [t for t in trials if t["state"] == "COMPLETE"]
    first = definition.objectives[0]
    sign = -1.0 if first.direction == "maximize" else 1.0
    if len(objectives) > 1:
        shown = [t for t in complete if t["number"] in best_numbers]
    else:
        shown = complete
    shown = sorted(shown, key=lambda t: (sign * t["values"].get(first.name, 0.0), t["number"]))

    title = f"{report['study']} ({report['kind']}): "
    title += (
        "Pareto front" if len(objectives) > 1 else f"top {min(_TOP, len(shown))} by {first.name}"
    )
    table = Table(title=title, title_justify="left")
    table.add_column("#", justify="right")
    exponents = [n for n in definition.losses if n != definition.space.get("anchor")]
    power_scale = report["kind"] == "power-scale"
    if power_scale:
        for loss in exponents:
            table.add_column(f"n_{loss}", justify="right")
    for loss in definition.losses:
        table.add_column(f"w_{loss}", justify="right")
    for name in metric_names:
        arrow = "↑" if definition.metrics.get(name) == "maximize" else "↓"
        table.add_column(
            f"{name} {arrow}", justify="right", style="bold" if name in objectives else ""
        )
    table.add_column("seeds", justify="right")
    if power_scale:
        table.caption = (
            "w_ columns: weights scaled to sum 1 (training used anchor=1, others base**n)"
        )
    for trial in shown[: _TOP if len(objectives) == 1 else None]:
        mark = "*" if trial["number"] in best_numbers else ""
        table.add_row(
            f"{trial['number']}{mark}",
            *(_exponent(trial, loss) for loss in exponents if power_scale),
            *(f"{trial['weights'].get(loss, float('nan')):.4g}" for loss in definition.losses),
            *(_number(trial["values"].get(name)) for name in metric_names),
            str(len(trial["seeds"])),
        )
    console.print(table)
    console.print(Text(trial_counts(trials)))
    failed = [t for t in trials if t["state"] == "FAIL"]
    if failed and not complete:
        console.print(Text(f"first error (trial {failed[0]['number']}): {failed[0].get('error')}"))


def _exponent(trial: dict[str, Any], loss: str) -> str:
    value = trial.get("exponents", {}).get(loss)
    return "-" if value is None else f"{value:.3g}"


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.5g}"


def render_compare_table(
    report: dict[str, Any], definition: StudyDefinition, console: Console
) -> None:
    """Print the contenders ranked by the first objective, with CIs, tests and the verdicts."""
    objectives = definition.objectives
    multi = any("dominated_by_static" in m for m in report["methods"])
    table = Table(
        title=f"{report['study']} (compare): ranked by mean {objectives[0].name}",
        title_justify="left",
    )
    table.add_column("#", justify="right")
    table.add_column("method")
    table.add_column("n", justify="right")
    for objective in objectives:
        arrow = "↑" if objective.direction == "maximize" else "↓"
        table.add_column(f"{objective.name} {arrow}", justify="right", style="bold")
        table.add_column("p", justify="right")
    if multi:
        table.add_column("dominated by static", justify="center")
    table.add_column("s/run", justify="right")
    for rank, method in enumerate(report["methods"], start=1):
        cells = [str(rank), method["name"], str(method["n"])]
        for objective in objectives:
            cells += _mean_and_p(method, objective.name)
        if multi:
            dominated = method.get("dominated_by_static")
            cells.append("-" if dominated is None else ("yes" if dominated else "no"))
        seconds = method.get("seconds")
        cells.append("-" if seconds is None else f"{seconds:.3g}")
        table.add_row(*cells)
    console.print(table)
    console.print(
        Text(
            "± half-width of the 95% CI over seeds; p: paired t-test against equal over the "
            "seeds both ran, Holm-corrected across methods; * p < 0.05"
        )
    )
    for line in report.get("verdicts", []):
        console.print(Text(line))
    console.print(Text(trial_counts(report["trials"])))


def _mean_and_p(method: dict[str, Any], metric: str) -> list[str]:
    mean = method["mean"].get(metric)
    if mean is None:
        return ["-", "-"]
    low, high = method["ci95"][metric]
    p = method["p_vs_equal"].get(metric)
    mark = "*" if stats.is_significant(p) else ""
    return [f"{mean:.4g} ± {(high - low) / 2:.2g}", f"{stats.format_p(p)}{mark}"]
