"""Tabular benchmark of a weight space: every grid point trained once, its learning curve kept.

With ``run.seed`` fixed, the tasks in ``benchmarks/tasks/structured.py`` are deterministic, so
the table is the truth for a simulated search: a trial at point p stopped after s steps (epochs)
has the value ``curve[p][s - 1]`` and cost s steps. ``cost_sim.py`` replays searches over it.

Tables are cached as JSON in ``benchmarks/.cache/`` (gitignored), keyed by task, space and
epochs; a cached table is read, not rebuilt. Building uses at most 2 processes.

    python benchmarks/cost_table.py            # build (or read) every table of SPACES
    python benchmarks/cost_table.py --only k3  # the tables of one task
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

HERE = Path(__file__).resolve().parent
if __package__ in (None, ""):  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(HERE.parent))

CACHE = HERE / ".cache"
PROCESSES = 2


@dataclass(frozen=True)
class SpaceSpec:
    """One task's discrete weight space: a power-scale grid or a sum-to-one grid."""

    task: str  # function name in benchmarks/tasks/structured.py
    kind: str  # "power" (anchor-one power scale) or "sum" (sum-to-one multipliers)
    base: float = 4.0
    exponents: tuple[int, int] = (-2, 2)
    multipliers: tuple[float, ...] = (1.0, 3.0, 9.0)

    @property
    def key(self) -> str:
        if self.kind == "power":
            low, high = self.exponents
            return f"{self.task}-power-b{self.base:g}-e{low}_{high}"
        return f"{self.task}-sum-m{'_'.join(f'{m:g}' for m in self.multipliers)}"

    def points(self, losses: tuple[str, ...]) -> list[dict[str, Any]]:
        """Every grid point: its parameters (what a sampler searches) and its weights."""
        from weightsearch.spaces.power_scale import power_scale_space
        from weightsearch.spaces.sum_to_one import sum_to_one_grid

        if self.kind == "power":
            space = power_scale_space(losses, base=self.base, exponents=self.exponents)
            return [{"params": e, "weights": space.raw_weights(e)} for e in space.grid()]
        grid = sum_to_one_grid(losses, list(self.multipliers))
        return [{"params": {"index": i}, "weights": w} for i, w in enumerate(grid)]


SPACES = (
    SpaceSpec("k3", "power", exponents=(-3, 3)),  # 7^2 = 49 points
    SpaceSpec("k4", "power", exponents=(-2, 2)),  # 5^3 = 125
    # the best k5 point has two exponents at -2, on the grid's edge (-3:1 would centre it)
    SpaceSpec("k5", "power", exponents=(-2, 2)),  # 5^4 = 625
    SpaceSpec("k6", "power", exponents=(-2, 1)),  # 4^5 = 1024
    SpaceSpec("k3", "sum"),  # 1,3,9 on every loss: 19 distinct points
    SpaceSpec("k4", "sum"),
    SpaceSpec("k5", "sum"),
)


def load_structured(name: str) -> Any:
    from benchmarks.tasks import structured

    return getattr(structured, name)


def _train(job: tuple[str, dict[str, float], int]) -> list[float]:
    """Train one point to full length in this worker; return its metric per epoch."""
    from weightsearch.task import Run

    name, weights, epochs = job
    task = load_structured(name)
    run = Run(weights=dict(weights), seed=0, params={"epochs": epochs}, losses=task.losses)
    task(run)
    return [values["val_nmse"] for _, values in run.curve]


def build(spec: SpaceSpec, epochs: int, *, quiet: bool = False) -> dict[str, Any]:
    """Return the table of ``spec`` at ``epochs``: read from the cache, or trained and cached."""
    path = CACHE / f"{spec.key}-ep{epochs}.json"
    if path.exists():
        return json.loads(path.read_text())
    task = load_structured(spec.task)
    points = spec.points(task.losses)
    started = time.perf_counter()
    jobs = [(spec.task, p["weights"], epochs) for p in points]
    with multiprocessing.get_context("spawn").Pool(PROCESSES) as pool:
        curves = pool.map(_train, jobs, chunksize=4)
    seconds = time.perf_counter() - started
    table = {
        "key": spec.key,
        "task": spec.task,
        "kind": spec.kind,
        "epochs": epochs,
        "direction": "minimize",
        "metric": "val_nmse",
        "seconds": seconds,
        "points": [{**p, "curve": c} for p, c in zip(points, curves, strict=True)],
    }
    CACHE.mkdir(exist_ok=True)
    path.write_text(json.dumps(table))
    if not quiet:
        print(f"built {spec.key}: {len(points)} points x {epochs} epochs in {seconds:.0f} s")
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=None, help="build the tables of this task only")
    parser.add_argument("--epochs", type=int, default=None, help="default: the task's EPOCHS")
    args = parser.parse_args()
    from benchmarks.tasks.structured import EPOCHS

    for spec in SPACES:
        if args.only is None or spec.task == args.only:
            table = build(spec, args.epochs or EPOCHS)
            finals = sorted(p["curve"][-1] for p in table["points"])
            best = min(table["points"], key=lambda p: p["curve"][-1])
            print(
                f"{spec.key}: {len(finals)} points, {table['seconds']:.0f} s to build; best "
                f"{finals[0]:.4f} at {best['params']}, median {finals[len(finals) // 2]:.4f}"
            )


if __name__ == "__main__":
    main()
