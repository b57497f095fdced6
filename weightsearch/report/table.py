"""Rich tables of a study's results, for the terminal.

The rows are the study's summary from :func:`weightsearch.report.summary.summary_table`, the
same the markdown report and the HTML page show; this module only draws them.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from weightsearch.report.cost import cost_line
from weightsearch.report.document import halving_line, trial_counts
from weightsearch.report.summary import failure_lines, summary_table
from weightsearch.study import StudyDefinition

# Columns of text rather than numbers, drawn left-aligned.
_TEXT_COLUMNS = ("method", "dominated by static")


def render_table(report: dict[str, Any], definition: StudyDefinition, console: Console) -> None:
    """Print the study's summary (top points, Pareto front, or ranked contenders) and counts."""
    title, header, rows, footnote = summary_table(report, definition)
    trials = report["trials"]
    if rows:
        _print_summary(title, header, rows, footnote, definition, console)
    elif not any(t["state"] == "COMPLETE" for t in trials):
        console.print(Text(f"{report['study']} ({report['kind']}): no trial completed"))
    for line in report.get("verdicts", []):
        console.print(Text(line))
    console.print(Text(trial_counts(trials)))
    for line in failure_lines(report):
        console.print(Text(line))
    devices = Counter(t["device"] for t in trials if "device" in t)
    if set(devices) - {"cpu"}:
        ran = ", ".join(f"{name} {count}" for name, count in sorted(devices.items()))
        console.print(Text(f"trials per device: {ran}"))
    console.print(Text(cost_line(report)))
    halving = halving_line(report)
    if halving:
        console.print(Text(halving))


def _print_summary(
    title: str,
    header: list[str],
    rows: list[list[str]],
    footnote: str,
    definition: StudyDefinition,
    console: Console,
) -> None:
    objectives = {o.name for o in definition.objectives}
    table = Table(title=title, title_justify="left")
    for name in header:
        table.add_column(
            name,
            justify="left" if name in _TEXT_COLUMNS else "right",
            style="bold" if name.rsplit(" ", 1)[0] in objectives else "",
        )
    for row in rows:
        table.add_row(*row)
    console.print(table)
    console.print(Text(footnote))
