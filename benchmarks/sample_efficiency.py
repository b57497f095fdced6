"""Sample efficiency of `weightsearch power-scale`: trials a sampler needs to near the grid's best.

Runs the exhaustive power-scale grid of an example task once, then the same space with TPE (and
random search, for reference) under several sampler seeds, each in a study of its own. For every
run it counts the trials until the first COMPLETE trial within ``--tolerance`` (2%) of the grid's
best value; pruned trials count, they were spent. The result is printed as a ratio to the grid's
size: TPE is worth using over the grid when the ratio is below 1.

Everything goes through the CLI (``weightsearch.cli.main``) in this process, with a temporary
SQLite storage and the command's defaults (the median pruner for TPE and random: a pruned trial
counts as a trial spent). Trials run ``--in-process`` on one PyTorch thread: a worker process
would only add its start-up time, and on a model this small more threads only add contention.

    python benchmarks/sample_efficiency.py --quick     # scales.py, 3 epochs, 5 seeds: ~1-2 min
    python benchmarks/sample_efficiency.py             # 15 epochs, 10 seeds

Each sampled run may spend twice the grid's size (``--budget``); a run that never gets within
tolerance counts as its whole budget, and the mean is then shown as a lower bound. ``distinct``
is the number of different points a run evaluated before it got there: on an integer space a
sampler may propose a point again, and that trial re-trains the same weights.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Before torch loads, and inherited by worker processes: one thread each.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch

from weightsearch.cli import main

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "scales.py"


@dataclass
class Run:
    sampler: str
    seed: int | None
    trials: int
    needed: int | None  # None: never within tolerance inside the budget
    distinct: int  # different points evaluated up to the target (or in the whole run)
    pruned: int
    pruned_near: int  # trials at a point within tolerance that the pruner stopped
    seconds: float


def weightsearch(*args: str) -> dict[str, Any]:
    """Run one ``weightsearch`` command in this process and return its JSON report."""
    out, err = io.StringIO(), io.StringIO()
    code: int | str | None = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main([*args, "--json"])
        except SystemExit as exc:
            code = exc.code
    if code not in (0, None):
        raise RuntimeError(f"weightsearch {' '.join(args)} exited {code}: {err.getvalue()}")
    return json.loads(out.getvalue())


def within(value: float, best: float, tolerance: float, direction: str) -> bool:
    if direction == "minimize":
        return value <= best + tolerance * abs(best)
    return value >= best - tolerance * abs(best)


def trials_to_target(
    report: dict[str, Any], objective: str, best: float, tolerance: float, direction: str
) -> int | None:
    """1-based count of trials up to the first COMPLETE one within tolerance (None: none)."""
    for index, trial in enumerate(sorted(report["trials"], key=lambda t: t["number"]), start=1):
        value = trial["values"].get(objective)
        if trial["state"] == "COMPLETE" and within(value, best, tolerance, direction):
            return index
    return None


def point_key(trial: dict[str, Any]) -> str:
    return json.dumps(trial["exponents"], sort_keys=True)


def main_benchmark() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 epochs, 5 seeds")
    parser.add_argument("--task", default=str(EXAMPLE))
    parser.add_argument("--epochs", type=int, default=None, help="--param epochs=N of the task")
    parser.add_argument("--exponents", default="-3:1")
    parser.add_argument("--base", default="10")
    parser.add_argument("--seeds", type=int, default=None, help="sampler seeds per sampler")
    parser.add_argument("--budget", type=float, default=None, help="trials per run / grid size (2)")
    parser.add_argument("--tolerance", type=float, default=0.02)
    parser.add_argument("--samplers", default="tpe,random")
    parser.add_argument("--pruner", default=None, help="default: the command's (median)")
    args = parser.parse_args()
    epochs = args.epochs if args.epochs is not None else (3 if args.quick else 15)
    n_seeds = args.seeds if args.seeds is not None else (5 if args.quick else 10)
    budget_factor = args.budget if args.budget is not None else 2.0

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as folder:
        storage = f"sqlite:///{Path(folder) / 'bench.db'}"
        common = [
            "power-scale", args.task, "--exponents", args.exponents, "--base", args.base,
            "--param", f"epochs={epochs}", "--storage", storage, "--in-process",
        ]  # fmt: skip
        started = time.perf_counter()
        grid = weightsearch(*common, "--sampler", "grid", "--study", "grid")
        grid_seconds = time.perf_counter() - started
        objective = grid["objectives"][0]["name"]
        direction = grid["objectives"][0]["direction"]
        complete = [t for t in grid["trials"] if t["state"] == "COMPLETE"]
        size = len(grid["trials"])
        best = grid["best"][0]["values"][objective]
        near = {
            point_key(t)
            for t in complete
            if within(t["values"][objective], best, args.tolerance, direction)
        }
        budget = max(1, math.ceil(budget_factor * size))

        print(
            f"task {Path(args.task).name} (epochs={epochs}), --base {args.base} "
            f"--exponents {args.exponents}, objective {objective} ({direction}), "
            f"tolerance {args.tolerance:.0%}"
        )
        print(
            f"grid: {size} points ({len(complete)} complete) in {grid_seconds:.1f} s; best "
            f"{objective}={best:.4f} at {grid['best'][0].get('raw_weights')}; "
            f"{len(near)} point(s) within {args.tolerance:.0%}"
        )
        pruner = ["--pruner", args.pruner] if args.pruner else []
        runs: list[Run] = []
        print(
            f"\n{'sampler':8} {'seed':>4} {'trials':>6} {'to 2%':>6} {'ratio':>6} "
            f"{'distinct':>8} {'pruned':>6} "
            f"{'pruned at a near-best point':>27}"
        )
        for sampler in [s.strip() for s in args.samplers.split(",") if s.strip()]:
            for seed in range(n_seeds):
                started = time.perf_counter()
                report = weightsearch(
                    *common, "--sampler", sampler, "--sampler-seed", str(seed),
                    "--n-trials", str(budget), "--study", f"{sampler}-{seed}", *pruner,
                )  # fmt: skip
                seconds = time.perf_counter() - started
                needed = trials_to_target(report, objective, best, args.tolerance, direction)
                ordered = sorted(report["trials"], key=lambda t: t["number"])
                seen = {point_key(t) for t in ordered[: needed or len(ordered)]}
                run = Run(
                    sampler=sampler,
                    seed=seed,
                    trials=len(report["trials"]),
                    needed=needed,
                    distinct=len(seen),
                    pruned=sum(t["state"] == "PRUNED" for t in report["trials"]),
                    pruned_near=sum(
                        t["state"] == "PRUNED" and point_key(t) in near for t in report["trials"]
                    ),
                    seconds=seconds,
                )
                runs.append(run)
                shown = str(needed) if needed is not None else f">{budget}"
                ratio = f"{needed / size:.2f}" if needed is not None else f">{budget / size:.2f}"
                print(
                    f"{sampler:8} {seed:>4} {run.trials:>6} {shown:>6} {ratio:>6} "
                    f"{run.distinct:>8} {run.pruned:>6} "
                    f"{run.pruned_near:>27}"
                )

        print(f"\nsummary (grid size {size}; target: trials needed / grid size < 1)")
        for sampler in dict.fromkeys(r.sampler for r in runs):
            mine = [r for r in runs if r.sampler == sampler]
            reached = [r for r in mine if r.needed is not None]
            # A run that never got there counts as its whole budget: the mean is a lower bound.
            counts = [r.needed if r.needed is not None else budget for r in mine]
            mean = statistics.fmean(counts)
            bound = "" if len(reached) == len(mine) else ">="
            if len(reached) == len(mine) or mean / size >= 1:
                verdict = "meets" if mean / size < 1 else "misses"
            else:
                verdict = f"undecided ({len(mine) - len(reached)} censored) on"
            print(
                f"  {sampler:7} mean trials to {args.tolerance:.0%}: {bound}{mean:.1f} / {size} "
                f"= ratio {bound}{mean / size:.2f} (median {statistics.median(counts):.0f}, "
                f"reached {len(reached)}/{len(mine)}, {sum(r.pruned for r in mine)} pruned, "
                f"{sum(r.pruned_near for r in mine)} of them near-best) "
                f"-> {verdict} the target < 1"
            )


if __name__ == "__main__":
    main_benchmark()
