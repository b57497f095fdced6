"""The tables that ``weightsearch probe`` prints: per-loss measures, gradient cosines, commands."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from weightsearch.probe_summary import ProbeResult


def render_probe(result: ProbeResult, console: Console) -> None:
    """Per loss: magnitude, shared gradient norm, suggested weight and exponent; then the
    cosine matrix with conflicts (negative cosines) flagged, and the commands to paste."""
    base = f"{result.base:g}"
    table = Table(title=f"probe of {result.task}: {result.steps} steps with equal weights")
    table.add_column("loss", style="bold", no_wrap=True)
    table.add_column("magnitude (mean loss)", justify="right")
    table.add_column("grad norm (shared)", justify="right")
    table.add_column("suggested base weight", justify="right")
    table.add_column(f"log{base}(anchor norm / norm)", justify="right")
    for name in result.losses:
        offset = result.offsets.get(name)
        table.add_row(
            name,
            f"{result.magnitude[name]:.4g}",
            f"{result.grad_norm[name]:.4g}",
            f"{result.base_weights[name]:.4g}",
            "anchor" if name == result.anchor else f"{offset:+.2f}" if offset is not None else "",
        )
    console.print(table)

    if len(result.losses) > 1:
        cosines = Table(title="cosine between task gradients on the shared parameters (mean)")
        cosines.add_column("", style="bold", no_wrap=True)
        for name in result.losses:
            cosines.add_column(name, justify="right", no_wrap=True)
        for a in result.losses:
            cells = []
            for b in result.losses:
                value = result.cosine[a][b]
                if value is None:
                    cells.append(Text("n/a", style="dim"))
                elif a != b and value < 0:
                    cells.append(Text(f"{value:+.2f} conflict", style="bold red"))
                else:
                    cells.append(Text(f"{value:+.2f}"))
            cosines.add_row(a, *cells)
        console.print(cosines)
        conflicts = result.conflicts
        if conflicts:
            listed = ", ".join(
                f"{a}/{b} ({value:+.2f}, negative in {result.conflict_rate[a][b]:.0%} of steps)"
                for a, b, value in conflicts
            )
            console.print(f"conflicts: {listed}", markup=False, highlight=False)
        else:
            console.print("no conflicts: every mean cosine is >= 0", markup=False, highlight=False)

    console.print("suggested searches:", markup=False, highlight=False)
    for command in result.commands.values():
        console.print(f"  {command}", markup=False, highlight=False, soft_wrap=True)
