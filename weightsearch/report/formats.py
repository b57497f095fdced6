"""Plain-text reports: CSV of every trial, and markdown for a PR or a paper draft."""

from __future__ import annotations

import csv
import io
from typing import Any

from weightsearch.report.cost import cost_line
from weightsearch.report.document import trial_counts
from weightsearch.report.summary import (
    describe_study,
    equivalent_command,
    exponent_losses,
    failure_lines,
    is_numeric_column,
    metric_names,
    summary_table,
)
from weightsearch.study import StudyDefinition

# describe_study, summary_table and equivalent_command lived here before report/summary.py.
__all__ = [
    "describe_study",
    "equivalent_command",
    "markdown_report",
    "markdown_summary",
    "summary_table",
    "trials_csv",
]


def trials_csv(report: dict[str, Any], definition: StudyDefinition) -> str:
    """Every trial, one row each: state, method, seeds, training ``steps`` (their sum is the
    study's cost), weights (``w_``), exponents (``n_``, power-scale), every metric, and the error
    of a failed trial."""
    losses = list(definition.losses)
    exponents = exponent_losses(report, definition)
    metrics = metric_names(definition)
    header = ["number", "state", "method", "seeds", "steps"]
    header += [f"w_{loss}" for loss in losses]
    header += [f"n_{loss}" for loss in exponents]
    header += [*metrics, "error"]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for trial in report["trials"]:
        writer.writerow(
            [
                trial["number"],
                trial["state"],
                trial["method"],
                " ".join(str(s) for s in trial["seeds"]),
                trial["steps"],
                *(_csv_number(trial["weights"].get(loss)) for loss in losses),
                *(_csv_number(trial.get("exponents", {}).get(loss)) for loss in exponents),
                *(_csv_number(trial["values"].get(metric)) for metric in metrics),
                trial.get("error", ""),
            ]
        )
    return buffer.getvalue()


def markdown_report(report: dict[str, Any], definition: StudyDefinition) -> str:
    """The study as markdown: what it was, the summary table, the verdicts and trial counts."""
    lines = [f"## {report['study']} ({report['kind']})", ""]
    for label, text in describe_study(definition, report["study"]):
        shown = f"`{text}`" if label == "command" else _md_escape(text)
        lines.append(f"- **{label}**: {shown}")
    lines.append("")
    lines += markdown_summary(report, definition)
    verdicts = report.get("verdicts", [])
    if verdicts:
        lines.append("")
        lines += [f"- {_md_escape(v)}" for v in verdicts]
    lines += ["", trial_counts(report["trials"]), "", cost_line(report), ""]
    failures = failure_lines(report)
    if failures:
        lines += [
            f"- {_md_escape(line.strip())}" if line.startswith(" ") else line for line in failures
        ]
        lines.append("")
    return "\n".join(lines)


def markdown_summary(report: dict[str, Any], definition: StudyDefinition) -> list[str]:
    """The summary table as markdown lines, its title in bold above and its footnote below."""
    title, header, rows, footnote = summary_table(report, definition)
    lines = [f"**{_md_escape(title)}**", ""]
    if rows:
        right = [is_numeric_column(rows, i) for i in range(len(header))]
        lines.append("| " + " | ".join(_md_escape(h) for h in header) + " |")
        lines.append("| " + " | ".join("---:" if r else "---" for r in right) + " |")
        lines += ["| " + " | ".join(_md_escape(c) for c in row) + " |" for row in rows]
    else:
        lines.append("No completed trial yet.")
    if footnote and rows:
        lines += ["", f"_{_md_escape(footnote)}_"]
    return lines


def _csv_number(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")
