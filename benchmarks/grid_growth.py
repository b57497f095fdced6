"""Cost growth of the sum-to-one grid with the number of losses K, as ratios to K = 2.

For K = 2..6 losses and the default multipliers 1,2,4,6 it counts the distinct points of the
grid after deduplication (``weightsearch.spaces.sum_to_one_grid``; the raw product has
``4**K`` combinations), and times ``weightsearch grid`` on a task that does nothing
(``--in-process``, a temporary SQLite file): every second of it is weightsearch's and the
storage's own cost per point. Both are printed as ratios to K = 2, with the time per point,
and the time a full grid would take at a given cost per trial.

The point of it: the grid grows as ``|multipliers| ** (K - 1)``. Past a few hundred points
(``PRACTICAL_POINTS``) a grid of real trials takes days; ``power-scale --sampler tpe`` with a
fixed ``--n-trials`` does not grow with K.

    python benchmarks/grid_growth.py --quick     # K = 2..6 in about two minutes
"""

from __future__ import annotations

import argparse
import contextlib
import io
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from weightsearch.cli import main
from weightsearch.spaces import sum_to_one_grid

MULTIPLIERS = (1.0, 2.0, 4.0, 6.0)
# Points a grid may have and still be run whole: at one minute per trial, 300 points take
# five hours on one worker; the next K (991 points for 1,2,4,6) takes more than half a day.
PRACTICAL_POINTS = 300

NOOP = """
import weightsearch as ws

@ws.task(losses={losses!r}, metrics={{"score": "maximize"}})
def train(run: ws.Run) -> dict[str, float]:
    return {{"score": 0.0}}
"""


@dataclass
class Growth:
    """One K: grid size and no-op grid time, and both as ratios to the first K measured."""

    losses: int
    combinations: int  # |multipliers| ** K, before deduplication
    points: int
    seconds: float | None  # None: not timed
    points_ratio: float = 1.0
    seconds_ratio: float | None = None

    @property
    def ms_per_point(self) -> float | None:
        return None if self.seconds is None else 1000 * self.seconds / self.points


def grid_points(k: int, multipliers: tuple[float, ...] = MULTIPLIERS) -> int:
    """Distinct points of the sum-to-one grid over ``k`` losses, all varied, equal bases."""
    return len(sum_to_one_grid([f"loss{i}" for i in range(k)], list(multipliers)))


def time_noop_grid(k: int, folder: Path, multipliers: tuple[float, ...] = MULTIPLIERS) -> float:
    """Wall seconds of ``weightsearch grid`` over ``k`` losses on a task that does nothing."""
    task = folder / f"noop{k}.py"
    task.write_text(NOOP.format(losses=[f"loss{i}" for i in range(k)]))
    args = [
        "grid", str(task), "--multipliers", ",".join(f"{m:g}" for m in multipliers),
        "--storage", f"sqlite:///{folder / f'growth-{k}.db'}", "--in-process", "--quiet",
    ]  # fmt: skip
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            main(args)
        except SystemExit as exc:
            if exc.code not in (0, None):
                raise RuntimeError(f"weightsearch {' '.join(args)} exited {exc.code}") from None
    return time.perf_counter() - started


def measure(ks: range, timed_up_to: int) -> list[Growth]:
    """Count every K in ``ks``; time the no-op grid for K up to ``timed_up_to``."""
    rows: list[Growth] = []
    with tempfile.TemporaryDirectory() as tmp:
        for k in ks:
            seconds = time_noop_grid(k, Path(tmp)) if k <= timed_up_to else None
            rows.append(Growth(k, len(MULTIPLIERS) ** k, grid_points(k), seconds))
    first = rows[0]
    for row in rows:
        row.points_ratio = row.points / first.points
        if row.seconds is not None and first.seconds:
            row.seconds_ratio = row.seconds / first.seconds
    return rows


def first_impractical(rows: list[Growth]) -> int | None:
    """The smallest K whose grid has more than ``PRACTICAL_POINTS`` points."""
    return next((r.losses for r in rows if r.points > PRACTICAL_POINTS), None)


def print_table(rows: list[Growth], minutes_per_trial: float = 1.0) -> None:
    multipliers = ",".join(f"{m:g}" for m in MULTIPLIERS)
    print(f"sum-to-one grid, --multipliers {multipliers}; no-op task, SQLite, in-process")
    print(
        f"{'K':>2} {'4^K':>6} {'points':>7} {'x K=2':>7} {'no-op s':>8} {'x K=2':>7} "
        f"{'ms/point':>9} {f'hours at {minutes_per_trial:g} min/trial':>22}"
    )
    for r in rows:
        timed = r.seconds is not None and r.seconds_ratio is not None
        seconds = f"{r.seconds:8.1f} {r.seconds_ratio:7.1f}" if timed else f"{'-':>8} {'-':>7}"
        per_point = f"{r.ms_per_point:9.1f}" if r.ms_per_point is not None else f"{'-':>9}"
        hours = r.points * minutes_per_trial / 60
        print(
            f"{r.losses:>2} {r.combinations:>6} {r.points:>7} {r.points_ratio:>7.1f} "
            f"{seconds} {per_point} {hours:>22.1f}"
        )
    k = first_impractical(rows)
    if k is not None:
        print(
            f"past {PRACTICAL_POINTS} points (K >= {k} losses) use power-scale with TPE: "
            f"weightsearch power-scale TASK --sampler tpe --n-trials N"
        )


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the same measurement (it is quick)")
    parser.add_argument("--max-k", type=int, default=6, help="largest K counted and timed (6)")
    args = parser.parse_args()
    print_table(measure(range(2, args.max_k + 1), timed_up_to=args.max_k))


if __name__ == "__main__":
    cli()
