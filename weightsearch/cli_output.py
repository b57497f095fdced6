"""What the search commands print: a progress bar while they run, then the study's report.

Every line for people goes to stderr (plain, never wrapped, so scripts can read it); stdout holds
only the result, a table or the JSON report.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import typer
from rich.console import Console

from weightsearch.report import build_report, render_table
from weightsearch.report.progress import ProgressBar
from weightsearch.runner import Interrupted
from weightsearch.session import Outcome, ProgressFactory

EXIT_NO_COMPLETE = 1
EXIT_INTERRUPTED = 130

STDERR = Console(stderr=True)
# Piped output (a file, a CI log) gets wide tables instead of rich's default 80 columns.
STDOUT = Console() if Console().is_terminal else Console(width=160)


def run_with_progress(
    start: Callable[[ProgressFactory | None], Outcome], json_output: bool, quiet: bool = False
) -> Outcome:
    """Run a command's core with a progress bar (none when quiet); on Ctrl-C print what was done
    and exit 130."""
    bar: ProgressFactory | None = None if quiet else (lambda d: ProgressBar(d, STDERR))
    try:
        return start(bar)
    except Interrupted as exc:
        message("interrupted: running trials were marked failed; run the same command to resume.")
        if isinstance(exc.outcome, Outcome):
            finish(exc.outcome, json_output, exit_code=EXIT_INTERRUPTED)
        raise typer.Exit(EXIT_INTERRUPTED) from None


def finish(outcome: Outcome, json_output: bool, exit_code: int | None = None) -> None:
    """Print the outcome's notes and report, then exit: 0, or 1 when no trial completed."""
    for note in outcome.notes:
        message(note)
    report = build_report(outcome.study, outcome.definition)
    save_outcome_to_dashboard(outcome, report)
    if json_output:
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
    else:
        render_table(report, outcome.definition, STDOUT)
        STDOUT.print(f"study {outcome.study.study_name!r} in {outcome.storage.shown}")
    if exit_code is None:
        exit_code = 0 if report["best"] else EXIT_NO_COMPLETE
        if exit_code == EXIT_NO_COMPLETE:
            errors = [t.get("error") for t in report["trials"] if t["state"] == "FAIL"]
            first = f" First error: {errors[0]}" if errors else ""
            error(f"no trial completed.{first}")
    raise typer.Exit(exit_code)


def save_outcome_to_dashboard(outcome: Outcome, report: dict[str, Any]) -> None:
    """Where optuna-dashboard is installed, save the study note and figures; never fails."""
    from weightsearch.report.dashboard import save_to_dashboard

    warning = save_to_dashboard(outcome.study, outcome.definition, report)
    if warning:
        message(warning)


def error(text: str) -> None:
    """A plain ``error: ...`` line on stderr."""
    message(f"error: {text}")


def message(text: str) -> None:
    """A plain line on stderr: never wrapped, never coloured, so scripts can read it."""
    sys.stderr.write(text + "\n")
    sys.stderr.flush()
