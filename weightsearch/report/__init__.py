"""Presenting studies: the JSON report, rich tables, progress."""

from weightsearch.report.document import build_report
from weightsearch.report.table import render_table

__all__ = ["build_report", "render_table"]
