"""The study's summary and description that every report format shares.

The rows of the summary table (top points, Pareto front, or ranked contenders), what the study
is, and the command line that resumes it. The terminal table, the markdown, the HTML page and
the dashboard note only draw them."""

from __future__ import annotations

import math
from typing import Any

from weightsearch import stats
from weightsearch.report.noise import noise_line
from weightsearch.study import StudyDefinition

_TOP = 10
# Failure reasons, and trial numbers per reason, listed in full up to these counts.
_REASONS_SHOWN = 5
_NUMBERS_SHOWN = 10


def summary_table(
    report: dict[str, Any], definition: StudyDefinition
) -> tuple[str, list[str], list[list[str]], str]:
    """The study's summary as ``(title, header, rows, footnote)`` of plain strings.

    A weight search shows its top points by the objective (the Pareto front with several
    objectives); a compare study shows its contenders ranked, with 95% CIs and paired tests.
    """
    if definition.kind == "compare":
        return _compare_summary(report, definition)
    return _search_summary(report, definition)


def describe_study(definition: StudyDefinition, study_name: str) -> list[tuple[str, str]]:
    """What a study is, as ``(label, text)`` pairs: task, losses, objectives, seeds, space, and
    an equivalent command line that resumes it."""
    objectives = ", ".join(f"{o.name} ({o.direction})" for o in definition.objectives)
    seeds = definition.seeds
    return [
        ("task", definition.task),
        ("losses", ", ".join(definition.losses)),
        ("objectives", objectives),
        ("seeds", f"{len(seeds)} ({', '.join(str(s) for s in seeds)})"),
        ("space", _space_text(definition)),
        ("command", equivalent_command(definition, study_name)),
    ]


def equivalent_command(definition: StudyDefinition, study_name: str) -> str:
    """A command line with this study's stored definition (the task as the study names it)."""
    space = definition.space
    task = definition.shown_task()
    parts = ["weightsearch", definition.kind, task]
    if definition.kind == "grid":
        parts += ["--multipliers", ",".join(_num(m) for m in space.get("multipliers", []))]
        vary = space.get("vary", [])
        if vary and list(vary) != list(definition.losses):
            parts += ["--vary", ",".join(vary)]
        base = space.get("base", {})
        if any(w != 1.0 for w in base.values()):
            parts += ["--base", ",".join(f"{k}={_num(w)}" for k, w in base.items())]
    elif definition.kind == "power-scale":
        low, high = space.get("exponents", [None, None])
        parts += ["--anchor", str(space.get("anchor")), "--base", _num(space.get("base"))]
        parts += ["--exponents", f"{_num(low)}:{_num(high)}"]
        if space.get("continuous"):
            parts.append("--continuous")
    elif definition.kind == "compare":
        methods, static = _compare_contenders(space)
        if methods:
            parts += ["--methods", ",".join(methods)]
        for name, count in static.items():
            parts += ["--static", name if count == 1 else f"{name}:{count}"]
        for method, args in space.get("method_args", {}).items():
            for key, value in args.items():
                parts += ["--method-arg", f"{method}.{key}={value}"]
    for objective in definition.objectives:
        parts += ["--objective", objective.name]
    parts += ["--seeds", str(len(definition.seeds)), "--study", study_name]
    return " ".join(parts)


def failure_lines(report: dict[str, Any]) -> list[str]:
    """Why trials failed, one line per distinct reason: ``6 × ValueError: ... (trials 1, 3)``.

    Empty when no trial failed; reasons beyond the first few are counted, not listed.
    """
    failures = report.get("failures", [])
    if not failures:
        return []
    total = sum(f["count"] for f in failures)
    lines = [f"{total} failed:"]
    for failure in failures[:_REASONS_SHOWN]:
        numbers = [str(n) for n in failure["trials"][:_NUMBERS_SHOWN]]
        if failure["count"] > _NUMBERS_SHOWN:
            numbers.append("...")
        label = "trial" if failure["count"] == 1 else "trials"
        lines.append(f"  {failure['count']} × {failure['error']} ({label} {', '.join(numbers)})")
    hidden = failures[_REASONS_SHOWN:]
    if hidden:
        count = sum(f["count"] for f in hidden)
        lines.append(
            f"  ... and {len(hidden)} more reasons ({count} trials; --format csv lists each "
            "trial's error)"
        )
    return lines


def exponent_losses(report: dict[str, Any], definition: StudyDefinition) -> list[str]:
    """The losses a power-scale study gave an exponent (every loss but the anchor)."""
    if report["kind"] != "power-scale":
        return []
    anchor = definition.space.get("anchor")
    return [loss for loss in definition.losses if loss != anchor]


def metric_names(definition: StudyDefinition) -> list[str]:
    """The objectives, then the other metrics the task reports."""
    objectives = [o.name for o in definition.objectives]
    return objectives + [m for m in definition.metrics if m not in objectives]


def is_numeric_column(rows: list[list[str]], index: int) -> bool:
    """Whether a column of the summary holds numbers (drawn right-aligned)."""
    cells = [row[index] for row in rows if row[index] not in ("-", "")]
    return bool(cells) and all(c.lstrip("-")[:1].isdigit() for c in cells)


def _search_summary(
    report: dict[str, Any], definition: StudyDefinition
) -> tuple[str, list[str], list[list[str]], str]:
    objectives = [o.name for o in definition.objectives]
    metrics = metric_names(definition)
    first = definition.objectives[0]
    sign = -1.0 if first.direction == "maximize" else 1.0
    best_numbers = {b["number"] for b in report["best"]}
    shown = [t for t in report["trials"] if t["state"] == "COMPLETE"]
    if len(objectives) > 1:
        shown = [t for t in shown if t["number"] in best_numbers]
        title = f"{report['study']} ({report['kind']}): Pareto front"
    else:
        title = f"{report['study']} ({report['kind']}): top {min(_TOP, len(shown))} by {first.name}"
    shown = sorted(shown, key=lambda t: (sign * t["values"].get(first.name, math.inf), t["number"]))
    if len(objectives) == 1:
        shown = shown[:_TOP]
    exponents = exponent_losses(report, definition)
    header = ["#", *(f"n_{loss}" for loss in exponents)]
    header += [f"w_{loss}" for loss in definition.losses]
    header += [f"{name} {_arrow(definition.metrics.get(name))}" for name in metrics]
    header.append("seeds")
    rows = [
        [
            f"{t['number']}{'*' if t['number'] in best_numbers else ''}",
            *(_num(t.get("exponents", {}).get(loss), ".3g") for loss in exponents),
            *(_num(t["weights"].get(loss), ".4g") for loss in definition.losses),
            *(_num(t["values"].get(name), ".5g") for name in metrics),
            str(len(t["seeds"])),
        ]
        for t in shown
    ]
    footnote = "* best point" if len(objectives) == 1 else "* on the Pareto front"
    if exponents:
        footnote += "; w_: weights scaled to sum 1 (training used anchor=1, others base**n)"
    noise = noise_line(report)
    if noise:
        footnote += f". {noise[0].upper()}{noise[1:]}"
    return title, header, rows, footnote


def _compare_summary(
    report: dict[str, Any], definition: StudyDefinition
) -> tuple[str, list[str], list[list[str]], str]:
    objectives = definition.objectives
    methods = report.get("methods", [])
    multi = any("dominated_by_static" in m for m in methods)
    header = ["#", "method", "n"]
    for objective in objectives:
        header += [f"{objective.name} {_arrow(objective.direction)}", "p"]
    if multi:
        header.append("dominated by static")
    header.append("s/run")
    rows = []
    for rank, method in enumerate(methods, start=1):
        row = [str(rank), method["name"], str(method["n"])]
        for objective in objectives:
            row += _mean_and_p(method, objective.name)
        if multi:
            dominated = method.get("dominated_by_static")
            row.append("-" if dominated is None else ("yes" if dominated else "no"))
        row.append(_num(method.get("seconds"), ".3g"))
        rows.append(row)
    title = f"{report['study']} (compare): ranked by mean {objectives[0].name}"
    footnote = (
        "± half-width of the 95% CI over seeds; p: paired t-test against equal over the seeds "
        "both ran, Holm-corrected across methods; * p < 0.05"
    )
    return title, header, rows, footnote


def _mean_and_p(method: dict[str, Any], metric: str) -> list[str]:
    mean = method["mean"].get(metric)
    if mean is None:
        return ["-", "-"]
    low, high = method["ci95"][metric]
    p = method["p_vs_equal"].get(metric)
    mark = "*" if stats.is_significant(p) else ""
    return [f"{mean:.4g} ± {(high - low) / 2:.2g}", f"{stats.format_p(p)}{mark}"]


def _space_text(definition: StudyDefinition) -> str:
    space = definition.space
    if definition.kind == "grid":
        base = ", ".join(f"{k}={_num(w)}" for k, w in space.get("base", {}).items())
        multipliers = ", ".join(_num(m) for m in space.get("multipliers", []))
        return (
            f"sum-to-one grid: multipliers {multipliers} on {', '.join(space.get('vary', []))}; "
            f"base weights {base}; every vector normalised to sum 1"
        )
    if definition.kind == "power-scale":
        low, high = space.get("exponents", [None, None])
        kind = "real" if space.get("continuous") else "integer"
        return (
            f"anchor-one power scaling: {space.get('anchor')} = 1, others "
            f"{_num(space.get('base'))}**n with {kind} n in [{_num(low)}, {_num(high)}]"
        )
    contenders = []
    for name, contender in space.get("contenders", {}).items():
        if contender.get("method") == "static":
            weights = ", ".join(f"{k}={w:.3g}" for k, w in contender.get("weights", {}).items())
            contenders.append(f"{name} ({weights})")
        else:
            contenders.append(name)
    text = "contenders: " + ", ".join(contenders)
    args = space.get("method_args", {})
    if any(args.values()):
        text += "; method args: " + ", ".join(
            f"{m}.{k}={v}" for m, values in args.items() for k, v in values.items()
        )
    return text


def _compare_contenders(space: dict[str, Any]) -> tuple[list[str], dict[str, int]]:
    methods: list[str] = []
    static: dict[str, int] = {}
    for name, contender in space.get("contenders", {}).items():
        if contender.get("method") == "static" and name.startswith("static:"):
            source = name.removeprefix("static:").split("#", 1)[0]
            static[source] = static.get(source, 0) + 1
        else:
            methods.append(name)
    return methods, static


def _arrow(direction: str | None) -> str:
    return "↑" if direction == "maximize" else "↓"


def _num(value: Any, spec: str = "g") -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and value.is_integer() and spec == "g":
        return str(int(value))
    return format(value, spec)
