"""The table of balancing methods that ``weightsearch methods`` prints."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:  # report/ draws what methods/ describes; it needs no torch to do it
    from weightsearch.methods import MethodInfo


def render_methods_table(infos: Sequence[MethodInfo], console: Console) -> None:
    """One row per method: name, kind, what it does, hyperparameters with defaults, reference."""
    table = Table(
        title="balancing methods (set hyperparameters with --method-arg METHOD.KEY=VALUE)"
    )
    table.add_column("method", style="bold", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    table.add_column("what it does")
    table.add_column("hyperparameters (defaults)")
    table.add_column("reference")
    for info in infos:
        table.add_row(
            info.name, info.kind, info.summary, info.hyperparameters_text(), info.reference
        )
    console.print(table)
