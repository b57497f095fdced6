"""Step time of every balancing method on a reference model, as ratios to two baselines.

Reference model (issue 4): a shared MLP 64-256-256 with 3 linear heads, batch 256, CPU, 1 thread.
A step is forward + backward (the optimiser step is the same for every method and left out).

- ``plain``: ``sum(losses).backward()``;
- ``floor``: forward + K separate ``torch.autograd.grad`` calls (the least any method that needs
  per-task gradients pays), also measured with ``is_grads_batched`` (vmap). The calls ask for the
  gradients of every parameter the step must fill, the heads too, as the methods do: a floor on the
  shared parameters alone skips the heads' weight gradients (2-3% of it) that no method can skip.
- ``direct``: the floor with each call made on autograd's engine directly, as the methods do on
  CPU tensors (``weightsearch/methods/engine.py``): the public function's wrapper is 5-7% of the
  floor here. The ``x direct`` column is each method's cost over the least it must pay.

Targets: loss-level methods <= 1.1x plain; gradient-level <= 1.1x the floor; MGDA-UB (features)
<= 1.35x plain; GradNorm <= 1.3x the floor. Each judged ratio comes with a 95% interval: a target
is met when the whole interval is within it, missed when the whole interval is past it, and
undecided otherwise. One run's interval is a bootstrap over its interleaved rounds (about +-0.04
on the gradient-level methods at the quick run's 120 rounds, +-0.03 at 300); it leaves out what
changes from one process to the next, and a ratio has moved between two runs by more than that
(Aligned-MTL 1.08x, then 1.17x). ``--runs N`` measures in N fresh processes, one after another,
and gives each ratio as the geometric mean of the runs' with a t interval over them, which holds
both. Prints a table. With torchjd installed, each gradient-level method is also timed against
torchjd's ``mtl_backward`` + ``jac_to_grad`` with the same aggregator (where torchjd's extras for
it are installed).

    python benchmarks/step_time.py --quick               # one run of 120 rounds
    python benchmarks/step_time.py --runs 5 --rounds 120 # what python -m benchmarks runs
"""

from __future__ import annotations

import argparse
import ctypes
import importlib.metadata
import json
import math
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from weightsearch import methods
from weightsearch.methods import engine

TASKS = ("a", "b", "c")
SCALES = (1.0, 10.0, 0.1)
#: Steps per function and round in :func:`compare`; the first of each block is not timed.
BLOCK = 3


class Reference(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.trunk = torch.nn.Sequential(
            torch.nn.Linear(64, 256), torch.nn.ReLU(), torch.nn.Linear(256, 256), torch.nn.ReLU()
        )
        self.heads = torch.nn.ModuleList(torch.nn.Linear(256, 1) for _ in TASKS)

    def forward(self, x: torch.Tensor, y: torch.Tensor):
        features = self.trunk(x)
        losses = {
            name: ((head(features).squeeze(1) - y[:, i]) ** 2).mean() * scale
            for i, (name, head, scale) in enumerate(zip(TASKS, self.heads, SCALES, strict=True))
        }
        return losses, features


def keep_freed_memory() -> bool:
    """Stop glibc's malloc from handing freed memory back to the OS after every step.

    With the default thresholds the heap top is trimmed and the next step faults the pages in
    again: 100-250 page faults a step on the reference model, by heap layout rather than by
    method (plain steps too), which moved every ratio by +-10%. All step functions run under the
    same setting. Returns False where mallopt isn't available (not glibc).
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(libc.mallopt(m_trim_threshold, 1 << 28) and libc.mallopt(m_mmap_threshold, 1 << 25))


def compare(
    steps: dict[str, Callable[[], None]], rounds: int, block: int = BLOCK
) -> dict[str, list[float]]:
    """CPU seconds of steps, interleaved across the step functions in short blocks.

    CPU time of this process (not wall time) and interleaving keep the ratios meaningful on a
    machine shared with other work: being descheduled doesn't count, and each function sees the
    same frequency conditions as its baselines. Each round runs every function ``block`` times in
    a row and times all but the first: a step's cost depends on what ran just before it (the
    caches and heap it leaves), and in training a step follows a step of its own kind.
    """
    for step in steps.values():
        for _ in range(3):
            step()
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            step()
            for _ in range(block - 1):
                start = time.process_time()
                step()
                times[name].append(time.process_time() - start)
    return times


def ratio(times: dict[str, list[float]], name: str, baseline: str) -> float:
    """Ratio of the median step times."""
    return statistics.median(times[name]) / statistics.median(times[baseline])


def interval(
    times: dict[str, list[float]],
    name: str,
    baseline: str,
    block: int = BLOCK,
    resamples: int = 1000,
) -> tuple[float, float]:
    """A 95% interval of :func:`ratio`: a bootstrap that resamples the rounds of :func:`compare`.

    A round is resampled whole, so each resample keeps a step's times with the baseline's times
    taken milliseconds from them, which a slow drift of the machine's speed moves alike. Seeded,
    so a table is reproducible from its times.
    """
    per_round = block - 1
    rounds = len(times[name]) // per_round
    ours, theirs = times[name], times[baseline]
    pick = random.Random(0).choices
    ratios = []
    for _ in range(resamples):
        starts = [r * per_round for r in pick(range(rounds), k=rounds)]
        chosen = [start + k for start in starts for k in range(per_round)]
        ratios.append(
            statistics.median([ours[i] for i in chosen])
            / statistics.median([theirs[i] for i in chosen])
        )
    ratios.sort()
    return ratios[int(0.025 * resamples)], ratios[int(0.975 * resamples) - 1]


def verdict(low: float, high: float, limit: float) -> str:
    """``ok`` when the whole interval is within the limit, ``MISSED`` when it is all past it.

    The bounds are judged as printed, to two decimals, so that the table agrees with itself.
    """
    if round(high, 2) <= limit:
        return "ok"
    return "MISSED" if round(low, 2) > limit else "UNDECIDED"


#: Two-sided 95% quantiles of Student's t by degrees of freedom, for the interval over runs.
T_975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228)
MAX_RUNS = len(T_975) + 1


@dataclass
class Row:
    """One method's figures: its step time and ratios, the judged one's interval and target."""

    label: str
    kind: str
    ms: float
    plain: float
    floor: float
    direct: float
    baseline: str  # "plain" or "floor": what the target is a ratio to
    limit: float
    low: float
    high: float

    @property
    def judged(self) -> float:
        """The ratio the target is about: to the plain step or to the floor."""
        return self.plain if self.baseline == "plain" else self.floor

    def line(self) -> str:
        judged = verdict(self.low, self.high, self.limit)
        return (
            f"{self.label:<22}{self.kind:<16}{self.ms:>7.2f}{self.plain:>9.2f}{self.floor:>9.2f}"
            f"{self.direct:>9.2f}{f'{self.low:.2f}-{self.high:.2f}':>14}"
            f"  <= {self.limit}x {self.baseline}: {judged}"
        )


@dataclass
class Baselines:
    """The baselines' figures: the plain step's time and the floors' ratios."""

    plain_ms: float
    floor: float  # the floor over the plain step
    vmap: float  # the others over the floor
    shared_only: float
    direct: float

    def line(self) -> str:
        return (
            f"plain step {self.plain_ms:.2f} ms CPU; floor (K autograd.grad) {self.floor:.2f}x "
            f"plain; is_grads_batched/vmap {self.vmap:.2f}x the floor; the floor on the shared "
            f"parameters only {self.shared_only:.2f}x the floor; the floor with the engine called "
            f"directly {self.direct:.2f}x the floor"
        )


HEADER = (
    f"{'method':<22}{'kind':<16}{'ms':>7}{'x plain':>9}{'x floor':>9}{'x direct':>9}"
    f"{'95% interval':>14}  target"
)


def summary(rows: list[Row]) -> str:
    verdicts = [verdict(r.low, r.high, r.limit) for r in rows]
    missed, undecided = verdicts.count("MISSED"), verdicts.count("UNDECIDED")
    if not (missed or undecided):
        return "all targets met"
    return (
        f"{missed} target(s) missed, {undecided} undecided (the 95% interval holds the target: "
        f"more rounds or runs decide)"
    )


def combine_runs(runs: list[list[Row]]) -> list[Row]:
    """One row per method from several runs: geometric means, and a t interval over the runs.

    Each run's judged ratio already carries that run's noise, so the spread of the runs' ratios
    holds both the noise within a run and what changes from one process to the next (heap
    layout, the machine's state), which one run's bootstrap interval leaves out.
    """
    combined = []
    for rows in zip(*runs, strict=True):
        first = rows[0]
        logs = [math.log(r.judged) for r in rows]
        centre = statistics.fmean(logs)
        half = T_975[len(rows) - 2] * statistics.stdev(logs) / math.sqrt(len(rows))
        combined.append(
            Row(
                label=first.label,
                kind=first.kind,
                ms=statistics.median(r.ms for r in rows),
                plain=statistics.geometric_mean(r.plain for r in rows),
                floor=statistics.geometric_mean(r.floor for r in rows),
                direct=statistics.geometric_mean(r.direct for r in rows),
                baseline=first.baseline,
                limit=first.limit,
                low=math.exp(centre - half),
                high=math.exp(centre + half),
            )
        )
    return combined


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="120 interleaved rounds instead of 300"
    )
    parser.add_argument(
        "--rounds", type=int, default=None, help="interleaved rounds per run (overrides --quick)"
    )
    parser.add_argument(
        "--runs",
        type=int,
        default=1,
        help=f"measure in this many fresh processes, one after another, and judge each ratio on "
        f"their spread (2 to {MAX_RUNS}; 1: judge the one run on its rounds)",
    )
    parser.add_argument(
        "--methods",
        default="",
        help="comma-separated methods to run (default: all), e.g. mgda,pcgrad",
    )
    parser.add_argument(
        "--batch",
        type=int,
        default=256,
        help="batch size of the reference model (256 is the reference; larger ones show how the "
        "fixed cost of a step shrinks against the backward passes)",
    )
    parser.add_argument(
        "--system-malloc",
        action="store_true",
        help="keep glibc's default trimming of freed memory (noisier ratios)",
    )
    parser.add_argument("--record", type=Path, help=argparse.SUPPRESS)  # a run's rows, as JSON
    parser.add_argument("--skip-torchjd", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    rounds = args.rounds or (120 if args.quick else 300)
    if not 1 <= args.runs <= MAX_RUNS or rounds < 2:
        parser.error(f"--runs takes 1 to {MAX_RUNS} and --rounds at least 2")
    if args.runs > 1:
        several_runs(args, rounds)
        return
    if not args.system_malloc:
        print(f"freed memory kept by malloc: {keep_freed_memory()}")
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = Reference()
    x, y = torch.randn(args.batch, 64), torch.randn(args.batch, len(TASKS))
    shared = list(model.trunk.parameters())
    params = list(model.parameters())

    def plain() -> None:
        model.zero_grad()
        losses, _ = model(x, y)
        sum(losses.values()).backward()

    def floor() -> None:
        model.zero_grad()
        losses, _ = model(x, y)
        values = list(losses.values())
        for i, loss in enumerate(values):
            torch.autograd.grad(loss, params, retain_graph=i < len(values) - 1, allow_unused=True)

    targets = tuple(params)

    def direct() -> None:
        model.zero_grad()
        losses, _ = model(x, y)
        values = list(losses.values())
        for i, loss in enumerate(values):
            engine.gradients(loss, targets, i < len(values) - 1, True)

    def shared_only() -> None:
        model.zero_grad()
        losses, _ = model(x, y)
        values = list(losses.values())
        for i, loss in enumerate(values):
            torch.autograd.grad(loss, shared, retain_graph=i < len(values) - 1)

    def batched() -> None:
        model.zero_grad()
        losses, _ = model(x, y)
        stacked = torch.stack(list(losses.values()))
        torch.autograd.grad(
            stacked,
            params,
            grad_outputs=torch.eye(len(TASKS)),
            is_grads_batched=True,
            allow_unused=True,
        )

    base = compare(
        {
            "plain": plain,
            "floor": floor,
            "direct": direct,
            "shared only": shared_only,
            "vmap": batched,
        },
        rounds,
    )
    baselines = Baselines(
        plain_ms=statistics.median(base["plain"]) * 1e3,
        floor=ratio(base, "floor", "plain"),
        vmap=ratio(base, "vmap", "floor"),
        shared_only=ratio(base, "shared only", "floor"),
        direct=ratio(base, "direct", "floor"),
    )
    print(f"reference model: MLP 64-256-256, {len(TASKS)} heads, batch {args.batch}, 1 thread")
    print(baselines.line())
    print()
    print(HEADER)
    chosen = [m for m in args.methods.split(",") if m] or methods.available()
    cases = [(name, False) for name in chosen] + [("mgda", True)] * ("mgda" in chosen)
    rows: list[Row] = []
    for name, use_features in cases:
        balancer = methods.create(name, list(TASKS), shared=model.trunk.parameters())

        def step(balancer=balancer, use_features=use_features) -> None:
            model.zero_grad()
            losses, features = model(x, y)
            balancer.backward(losses, features=features if use_features else None)
            balancer.epoch_end()

        times = compare({"plain": plain, "floor": floor, "direct": direct, "method": step}, rounds)
        if use_features:
            baseline, limit = "plain", 1.35
        elif name == "gradnorm":
            baseline, limit = "floor", 1.3
        elif balancer.kind == "loss-level":
            baseline, limit = "plain", 1.1
        else:
            baseline, limit = "floor", 1.1
        low, high = interval(times, "method", baseline)
        rows.append(
            Row(
                label="mgda (features: UB)" if use_features else name,
                kind="representation" if use_features else balancer.kind.split("-")[0],
                ms=statistics.median(times["method"]) * 1e3,
                plain=ratio(times, "method", "plain"),
                floor=ratio(times, "method", "floor"),
                direct=ratio(times, "method", "direct"),
                baseline=baseline,
                limit=limit,
                low=low,
                high=high,
            )
        )
        print(rows[-1].line(), flush=True)
    print(f"\n{summary(rows)}\n")
    if args.record:
        args.record.write_text(
            json.dumps({"baselines": asdict(baselines), "rows": [asdict(r) for r in rows]})
        )
    if not args.skip_torchjd:
        compare_with_torchjd(model, x, y, floor, chosen, rounds)


def several_runs(args: argparse.Namespace, rounds: int) -> None:
    """Run the measurement in ``args.runs`` fresh processes and print the combined table.

    The runs go one after another (in parallel they would share the cores they measure). The
    torchjd comparison, which has no target, is made in the first run only.
    """
    runs: list[list[Row]] = []
    baselines: list[Baselines] = []
    torchjd_lines: list[str] = []
    with tempfile.TemporaryDirectory() as folder:
        for i in range(args.runs):
            record = Path(folder) / f"run{i}.json"
            command = [sys.executable, __file__, "--rounds", str(rounds), "--record", str(record)]
            command += ["--methods", args.methods, "--batch", str(args.batch)]
            command += ["--system-malloc"] * args.system_malloc + ["--skip-torchjd"] * (i > 0)
            started = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                sys.exit(f"run {i + 1} of {args.runs} failed:\n{done.stderr.strip()}")
            data = json.loads(record.read_text())
            baselines.append(Baselines(**data["baselines"]))
            runs.append([Row(**row) for row in data["rows"]])
            if i == 0:
                lines = done.stdout.splitlines()
                for line in lines[:1]:
                    if line.startswith("freed memory"):  # the malloc setting, unless kept
                        print(line)
                starts = [n for n, line in enumerate(lines) if line.startswith("torchjd ")]
                torchjd_lines = lines[starts[0] :] if starts else []
            judged = ", ".join(f"{r.label} {r.judged:.2f}" for r in runs[-1])
            print(
                f"run {i + 1} of {args.runs} ({time.perf_counter() - started:.0f} s): {judged}",
                flush=True,
            )
    print(
        f"\nreference model: MLP 64-256-256, {len(TASKS)} heads, batch {args.batch}, 1 thread; "
        f"{args.runs} runs of {rounds} rounds, each ratio the geometric mean of the runs' and its "
        f"95% interval a t interval over the runs"
    )
    print(
        Baselines(
            plain_ms=statistics.median(b.plain_ms for b in baselines),
            floor=statistics.geometric_mean(b.floor for b in baselines),
            vmap=statistics.geometric_mean(b.vmap for b in baselines),
            shared_only=statistics.geometric_mean(b.shared_only for b in baselines),
            direct=statistics.geometric_mean(b.direct for b in baselines),
        ).line()
    )
    print()
    print(HEADER)
    rows = combine_runs(runs)
    for row in rows:
        print(row.line())
    print(f"\n{summary(rows)}\n")
    if torchjd_lines:
        print("from the first run:")
        print("\n".join(torchjd_lines))


# Our method name -> torchjd aggregator and its arguments, with our defaults' values.
TORCHJD_AGGREGATORS: dict[str, tuple[str, dict[str, Any]]] = {
    "equal": ("Sum", {}),
    "mgda": ("MGDA", {}),
    "pcgrad": ("PCGrad", {}),
    "cagrad": ("CAGrad", {"c": 0.4}),
    "imtl": ("IMTLG", {}),
    "aligned-mtl": ("AlignedMTL", {}),
    "nash-mtl": ("NashMTL", {"n_tasks": len(TASKS)}),
}


def compare_with_torchjd(
    model: Reference,
    x: torch.Tensor,
    y: torch.Tensor,
    floor: Callable[[], None],
    chosen: list[str],
    rounds: int,
) -> None:
    """Time each method against torchjd's mtl_backward + jac_to_grad with the same aggregator.

    torchjd's hyperparameters are its defaults (``c`` of CAGrad set to ours); its MGDA has no
    gradient normalisation where ours uses ``loss+``. Both fill the same ``.grad`` fields.
    """
    try:
        from torchjd import aggregation
        from torchjd.autojac import jac_to_grad, mtl_backward
    except ImportError:
        print("torchjd not installed: no mtl_backward comparison")
        return
    print(f"torchjd {importlib.metadata.version('torchjd')}: mtl_backward + jac_to_grad")
    shared = list(model.trunk.parameters())
    heads = [list(head.parameters()) for head in model.heads]
    for name in [m for m in chosen if m in TORCHJD_AGGREGATORS]:
        aggregator_name, kwargs = TORCHJD_AGGREGATORS[name]
        try:
            aggregator = getattr(aggregation, aggregator_name)(**kwargs)
        except ImportError as error:  # an aggregator whose solver is one of torchjd's extras
            print(f"vs torchjd {name} ({aggregator_name}): skipped, {error}")
            continue
        balancer = methods.create(name, list(TASKS), shared=model.trunk.parameters())

        def ours(balancer=balancer) -> None:
            model.zero_grad()
            losses, _ = model(x, y)
            balancer.backward(losses)

        def theirs(aggregator=aggregator) -> None:
            model.zero_grad()
            losses, features = model(x, y)
            mtl_backward(list(losses.values()), features, shared_params=shared, tasks_params=heads)
            jac_to_grad(shared, aggregator)

        times = compare({"floor": floor, "ours": ours, "torchjd": theirs}, rounds)
        print(
            f"vs torchjd {name} ({aggregator_name}): ours "
            f"{statistics.median(times['ours']) * 1e3:.2f} ms, torchjd "
            f"{statistics.median(times['torchjd']) * 1e3:.2f} ms -> "
            f"{ratio(times, 'ours', 'torchjd'):.2f}x torchjd's time; torchjd "
            f"{ratio(times, 'torchjd', 'floor'):.2f}x the floor"
        )


if __name__ == "__main__":
    main()
