"""One way to render a stored study's report, in any format, to the terminal or a file.

``weightsearch report`` is a call to :func:`render_report`: the format is checked here once,
before the storage is opened; the HTML page gets a file named after the study unless told
otherwise; the rich table is captured as text when it goes to a file.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import optuna
from optuna.storages import BaseStorage
from rich.console import Console

from weightsearch.errors import WeightsearchError
from weightsearch.report.document import build_report
from weightsearch.report.formats import markdown_report, trials_csv
from weightsearch.report.studies import open_for_review
from weightsearch.report.table import render_table
from weightsearch.study import StudyDefinition, load_existing_study

FORMATS = ("table", "json", "csv", "markdown", "html")

# Wide enough for a summary of several losses and metrics, as on a wide terminal.
_FILE_WIDTH = 160


def render_report(
    study: str, fmt: str, *, url: str, output: Path | None, console: Console
) -> Path | None:
    """Render a stored study's report as ``fmt`` and print it or write it to ``output``.

    Args:
        study: the study's name.
        fmt: one of ``FORMATS``; ``table`` is drawn by rich, ``html`` holds the plots.
        url: the storage URL (a SQLite file that isn't there is an error, not created).
        output: the file to write; None prints to ``console``, except that ``html`` then
            goes to ``<study>.html`` in the working directory.
        console: where a report that isn't written to a file is printed.

    Returns:
        The file written, or None when the report was printed.

    Raises:
        WeightsearchError: an unknown format, a missing storage or study, or a file that
            can't be written.
    """
    check_format(fmt)
    storage = open_for_review(url)
    found, definition = load_existing_study(storage, study)
    if fmt == "html" and output is None:
        output = Path(re.sub(r"[^\w.-]+", "_", study) + ".html")
    if output is None:
        if fmt == "table":
            render_table(build_report(found, definition), definition, console)
        else:
            console.file.write(_text(found, definition, storage, fmt))
        return None
    text = _text(found, definition, storage, fmt)
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise WeightsearchError(
            f"can't write the report to {output}: {exc.strerror or exc}. Pass another --output."
        ) from None
    return output


def format_report(
    study: optuna.Study, definition: StudyDefinition, storage: BaseStorage, fmt: str
) -> str:
    """A study's report as text in one of ``FORMATS`` (the ``table`` as rich draws it).

    Raises:
        WeightsearchError: an unknown format.
    """
    check_format(fmt)
    return _text(study, definition, storage, fmt)


def check_format(fmt: str) -> None:
    """Raise WeightsearchError unless ``fmt`` is one of ``FORMATS``."""
    if fmt not in FORMATS:
        raise WeightsearchError(
            f"--format must be one of {', '.join(FORMATS)}, but got {fmt!r}. Example: --format html"
        )


def _text(study: optuna.Study, definition: StudyDefinition, storage: BaseStorage, fmt: str) -> str:
    if fmt == "html":
        # plotly loads only for HTML: the other formats stay quick.
        from weightsearch.report.html import write_html_report

        return write_html_report(study, definition, storage)
    report = build_report(study, definition)
    if fmt == "table":
        console = Console(file=io.StringIO(), width=_FILE_WIDTH)
        render_table(report, definition, console)
        assert isinstance(console.file, io.StringIO)
        return console.file.getvalue()
    if fmt == "json":
        return json.dumps(report, indent=2) + "\n"
    if fmt == "csv":
        return trials_csv(report, definition)
    return markdown_report(report, definition)
