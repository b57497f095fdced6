"""Search cost per sampler x pruner x K, replayed over the cost tables: runs, then a summary.

    python benchmarks/cost_bench.py run        # simulate every configuration (2 processes)
    python benchmarks/cost_bench.py summary    # print the tables as markdown

Runs are appended to ``benchmarks/.cache/cost_runs.jsonl`` as they finish (a run already there
is not repeated), so an interrupted run resumes. Every figure is a ratio to the exhaustive
grid's full-length cost (points x epochs) of the same table.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import multiprocessing
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
HERE = Path(__file__).resolve().parent
if __package__ in (None, ""):
    sys.path.insert(0, str(HERE.parent))

from benchmarks.cost_table import CACHE, SPACES, SpaceSpec  # noqa: E402

RUNS = CACHE / "cost_runs.jsonl"
SEEDS = range(10)
PRUNERS = ("none", "median", "hyperband", "halving", "halving-4x2")


def budget_of(spec: SpaceSpec) -> float:
    """Budget as a ratio to the grid's cost: the issue's targets at K >= 4 are all <= 0.4x."""
    return 1.0 if spec.task == "k3" else 0.4


def configurations() -> list[tuple[str, str, str, int, int]]:
    """(table key, sampler, pruner, seed, max trials), cheap ones first."""
    jobs = []
    for spec, seed in itertools.product(SPACES, SEEDS):
        key = spec.key
        jobs += [(key, "grid", p, seed, 10**6) for p in (*PRUNERS, "sha")]
        if spec.kind != "power":
            continue
        jobs += [(key, "random", p, seed, 150) for p in PRUNERS]
        jobs += [(key, "cmaes", p, seed, 150) for p in PRUNERS]
        jobs += [(key, "tpe", p, seed, 150) for p in PRUNERS]
        jobs += [(key, "tpe-uni", "median", seed, 150)]
        if spec.task == "k4" and seed < 3:  # GPSampler: about a second per trial here
            jobs += [(key, "gp", p, seed, 30) for p in ("none", "halving")]
    return sorted(jobs, key=lambda j: ("gp" in j[1], "tpe" in j[1], j[1] == "cmaes"))


def _table_path(key: str) -> Path:
    from benchmarks.tasks.structured import EPOCHS

    return CACHE / f"{key}-ep{EPOCHS}.json"


def _one(job: tuple[str, str, str, int, int]) -> dict[str, Any]:
    from benchmarks.cost_sim import simulate, truth_of

    key, sampler, pruner, seed, max_trials = job
    spec = next(s for s in SPACES if s.key == key)
    truth = truth_of(json.loads(_table_path(key).read_text()))
    started = time.perf_counter()
    out = simulate(truth, sampler, pruner, seed, budget_of(spec), max_trials)
    return {
        "key": key, "sampler": sampler, "pruner": pruner, "seed": seed,
        "grid_cost": truth.grid_cost, "budget": budget_of(spec), **vars(out),
        "seconds": time.perf_counter() - started,
    }  # fmt: skip


def run(tables: str | None, configs: str | None) -> None:
    """Simulate every configuration not yet in RUNS, or those of ``tables`` / ``configs`` only.

    ``configs`` is ``sampler:pruner,...``, e.g. ``tpe:none,grid:halving``.
    """
    wanted = set(configs.split(",")) if configs else None
    done = set()
    if RUNS.exists():
        for line in RUNS.read_text().splitlines():
            r = json.loads(line)
            done.add((r["key"], r["sampler"], r["pruner"], r["seed"]))
    jobs = [
        j
        for j in configurations()
        if j[:4] not in done
        and _table_path(j[0]).exists()
        and (tables is None or j[0].split("-")[0] in tables.split(","))
        and (wanted is None or f"{j[1]}:{j[2]}" in wanted)
    ]
    print(f"{len(jobs)} runs to do", flush=True)
    started = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(2) as pool, RUNS.open("a") as sink:
        for i, result in enumerate(pool.imap_unordered(_one, jobs), start=1):
            sink.write(json.dumps(result) + "\n")
            sink.flush()
            if i % 50 == 0:
                print(f"{i}/{len(jobs)} in {time.perf_counter() - started:.0f} s", flush=True)


def median_interval(values: list[float]) -> tuple[float, float, float]:
    """Median and a distribution-free ~95% interval from order statistics (binomial)."""
    xs = sorted(values)
    n = len(xs)
    low = 0
    while low + 1 < n and _binom_cdf(low, n) < 0.025:  # P(X <= low) with X ~ Bin(n, 1/2)
        low += 1
    low = max(0, low - 1)
    return statistics.median(xs), xs[low], xs[n - 1 - low]


def _binom_cdf(k: int, n: int) -> float:
    return sum(math.comb(n, i) for i in range(k + 1)) / 2**n


def summary() -> None:
    rows: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for line in RUNS.read_text().splitlines():
        r = json.loads(line)
        rows.setdefault((r["key"], r["sampler"], r["pruner"]), []).append(r)
    print(
        "| table | sampler | pruner | seeds | median cost | 95% interval | <=0.05x | <=0.15x "
        "| <=0.3x | <=0.4x | near-best killed | repeats answered | trainings | full-length |"
    )
    print("|" + " --- |" * 14)
    for (key, sampler, pruner), runs in sorted(rows.items()):
        ratios = [
            math.inf if r["cost_to_bar"] is None else r["cost_to_bar"] / r["grid_cost"]
            for r in runs
        ]
        mid, low, high = median_interval(ratios)
        within = [sum(x <= c for x in ratios) for c in (0.05, 0.15, 0.3, 0.4)]
        print(
            f"| {key} | {sampler} | {pruner} | {len(runs)} | {_fmt(mid)} | {_fmt(low)}-"
            f"{_fmt(high)} | " + " | ".join(f"{w}/{len(runs)}" for w in within) + " | "
            f"{sum(r['killed'] for r in runs)} | "
            f"{statistics.median(r['repeats'] for r in runs):g} | "
            f"{statistics.median(r['trials'] for r in runs):g} | "
            f"{statistics.median(r['completed'] for r in runs):g} |"
        )


def _fmt(ratio: float) -> str:
    return "never" if math.isinf(ratio) else f"{ratio:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("run", "summary"))
    parser.add_argument("--tables", default=None, help="run these tasks only, e.g. k5,k6")
    parser.add_argument("--configs", default=None, help="run these only, e.g. tpe:none,grid:none")
    args = parser.parse_args()
    if args.what == "run":
        run(args.tables, args.configs)
    else:
        summary()


if __name__ == "__main__":
    main()
