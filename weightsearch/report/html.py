"""The HTML report: one self-contained file (plotly.js inline) with the study's figures."""

from __future__ import annotations

import datetime
import html
from collections.abc import Sequence
from typing import Any

import optuna
import plotly.io as pio
from optuna.storages import BaseStorage
from plotly.offline import get_plotlyjs

from weightsearch.errors import WeightsearchError
from weightsearch.report.cost import cost_line
from weightsearch.report.document import build_report, trial_counts
from weightsearch.report.figures import NamedFigure, runs_by_trial, study_figures
from weightsearch.report.summary import describe_study, is_numeric_column, summary_table
from weightsearch.study import StudyDefinition, load_existing_study

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; color: #222;
       max-width: 1180px; margin: 2em auto; padding: 0 1.5em; line-height: 1.45; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
.sub { color: #666; margin-top: 0; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 0.25em 1em; }
dt { font-weight: 600; color: #555; }
dd { margin: 0; }
code { background: #f4f4f4; padding: 0.1em 0.3em; border-radius: 3px; font-size: 0.92em;
       word-break: break-all; }
table { border-collapse: collapse; font-size: 0.92em; margin: 0.6em 0; }
th, td { padding: 0.3em 0.7em; border-bottom: 1px solid #e5e5e5; }
th { background: #f7f7f7; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
caption { caption-side: top; text-align: left; font-weight: 600; padding-bottom: 0.3em; }
.note { color: #666; font-size: 0.88em; }
.verdict { background: #f3f7fc; border-left: 3px solid #4c72b0; padding: 0.4em 0.8em;
           margin: 0.4em 0; }
.caption { color: #555; margin: 0.2em 0 0.6em; }
.figure { margin-bottom: 1em; }
nav a { margin-right: 1em; }
"""
_FAILED_SHOWN = 5


def write_html_report(
    study: optuna.Study, definition: StudyDefinition, storage: BaseStorage
) -> str:
    """The HTML report of a study, as one self-contained page.

    Args:
        study: the study.
        definition: its stored definition.
        storage: the storage it lives in, where a compare study's static contenders came from.
    """
    report = build_report(study, definition)
    runs = runs_by_trial(study.get_trials(deepcopy=False))
    figures = study_figures(report, runs, references=static_references(storage, definition))
    return render_html(report, definition, figures)


def static_references(storage: BaseStorage, definition: StudyDefinition) -> list[dict[str, Any]]:
    """Report documents of the weight searches a compare study took its static weights from
    (those still in the storage)."""
    if definition.kind != "compare":
        return []
    names: list[str] = []
    for name, contender in definition.space.get("contenders", {}).items():
        source = name.removeprefix("static:").split("#", 1)[0]
        if contender.get("method") == "static" and name.startswith("static:"):
            names.append(source)
    references = []
    for name in dict.fromkeys(names):
        try:
            source, source_definition = load_existing_study(storage, name)
        except WeightsearchError:
            continue  # deleted or renamed since: the compare study still stands on its own
        references.append(build_report(source, source_definition))
    return references


def render_html(
    report: dict[str, Any], definition: StudyDefinition, figures: Sequence[NamedFigure]
) -> str:
    """The page for a report document and its figures."""
    title = f"{report['study']} ({report['kind']})"
    created = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}: weightsearch report</title>",
        f"<style>{_STYLE}</style>",
        # plotly.js inline, once: the file opens offline and never fetches anything.
        f'<script type="text/javascript">{get_plotlyjs()}</script>',
        "</head><body>",
        f"<h1>{_e(title)}</h1>",
        f'<p class="sub">weightsearch report, {_e(created)}. {_e(trial_counts(report["trials"]))}'
        f"; {_e(cost_line(report))}.</p>",
    ]
    if figures:
        links = "".join(f'<a href="#{f.id}-section">{_e(f.title)}</a>' for f in figures)
        parts.append(f"<nav>{links}</nav>")
    parts.append("<h2>The study</h2><dl>")
    for label, text in describe_study(definition, report["study"]):
        shown = f"<code>{_e(text)}</code>" if label == "command" else _e(text)
        parts.append(f"<dt>{_e(label)}</dt><dd>{shown}</dd>")
    parts.append("</dl>")
    parts.append("<h2>Summary</h2>")
    parts.append(_summary_html(report, definition))
    parts += [f'<p class="verdict">{_e(v)}</p>' for v in report.get("verdicts", [])]
    parts.append(_failures_html(report))
    for named in figures:
        div = pio.to_html(
            named.figure,
            full_html=False,
            include_plotlyjs=False,
            div_id=named.id,
            config={"displaylogo": False, "responsive": True},
        )
        parts += [
            f'<section id="{named.id}-section">',
            f"<h2>{_e(named.title)}</h2>",
            f'<p class="caption">{_e(named.caption)}</p>',
            f'<div class="figure">{div}</div>',
            "</section>",
        ]
    if not figures:
        parts.append("<p>No completed trial yet: nothing to plot.</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _summary_html(report: dict[str, Any], definition: StudyDefinition) -> str:
    title, header, rows, footnote = summary_table(report, definition)
    if not rows:
        return "<p>No completed trial yet.</p>"
    numeric = [i for i in range(len(header)) if is_numeric_column(rows, i)]
    lines = [f"<table><caption>{_e(title)}</caption><thead><tr>"]
    lines += [f"<th>{_e(h)}</th>" for h in header]
    lines.append("</tr></thead><tbody>")
    for row in rows:
        cells = "".join(
            f'<td class="num">{_e(c)}</td>' if i in numeric else f"<td>{_e(c)}</td>"
            for i, c in enumerate(row)
        )
        lines.append(f"<tr>{cells}</tr>")
    lines.append("</tbody></table>")
    if footnote:
        lines.append(f'<p class="note">{_e(footnote)}</p>')
    return "".join(lines)


def _failures_html(report: dict[str, Any]) -> str:
    failed = [t for t in report["trials"] if t["state"] == "FAIL"]
    if not failed:
        return ""
    items = "".join(
        f"<li>trial {t['number']}: <code>{_e(t.get('error', 'failed'))}</code></li>"
        for t in failed[:_FAILED_SHOWN]
    )
    more = f"<li>... and {len(failed) - _FAILED_SHOWN} more</li>" if len(failed) > 5 else ""
    return f"<h2>Failed trials ({len(failed)})</h2><ul>{items}{more}</ul>"


def _e(text: object) -> str:
    return html.escape(str(text))
