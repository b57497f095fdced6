"""Run every benchmark and write BENCHMARKS.md: each figure as a ratio to a same-run baseline.

The benchmarks are ``step_time.py`` (methods' step time against a plain step and the per-task
gradient floor), ``sample_efficiency.py`` (a search's training cost against the exhaustive
power-scale grid's, per K and sampler), ``parallel.py`` (``--n-jobs`` scaling and per-trial
overhead against plain Optuna) and ``grid_growth.py`` (the sum-to-one grid's size and cost
for K = 2..6 losses). Each script runs in a process of its own, as a user would run it (its
threads, its imports), and this entry point reads the ratios off its output; the whole output
is kept in BENCHMARKS.md too. Ratios, not absolute times, are the claims: both sides of a ratio
are measured in the same run on the same machine, so a busy machine moves them much less than
it moves the times.

    python -m benchmarks --quick                 # everything, within 10 minutes on 2 cores
    python benchmarks/run.py                     # the full sizes
    python benchmarks/run.py --smoke --output /tmp/B.md   # tiny sizes: checks it runs (CI)
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import os
import platform
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

HERE = Path(__file__).resolve().parent
if __package__ in (None, ""):  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(HERE.parent))

from benchmarks import grid_growth  # noqa: E402

SIZES = ("smoke", "quick", "full")


@dataclass
class Figure:
    """One claim: a ratio, what it is a ratio to, its target and whether it was met."""

    name: str
    ratio: str  # as printed by the benchmark ("2.31", ">=1.20")
    baseline: str
    target: str
    verdict: str  # "met", "missed", "undecided" or "-" (no target: context)
    interval: str = ""  # the ratio's 95% interval where the benchmark gives one ("1.07-1.12")


@dataclass
class Section:
    title: str
    command: str
    about: str
    figures: list[Figure] = field(default_factory=list)
    output: str = ""
    seconds: float = 0.0
    error: str | None = None
    notes: list[str] = field(default_factory=list)


# Each script's arguments at each size.
ARGS = {
    "step_time.py": {
        "smoke": ["--runs", "2", "--rounds", "40", "--methods", "equal,gradnorm"],
        "quick": ["--quick"],
        "full": ["--runs", "5", "--rounds", "120"],
    },
    "sample_efficiency.py": {
        "smoke": ["--smoke"],
        "quick": ["--quick"],
        "full": [],
    },
    "parallel.py": {"smoke": ["--smoke"], "quick": ["--quick"], "full": []},
    "amp_step_time.py": {
        "smoke": ["--rounds", "4", "--methods", "equal,gradnorm"],
        "quick": ["--quick"],
        "full": [],
    },
    "overhead.py": {
        "smoke": ["--pairs", "2", "--trials", "5"],
        "quick": ["--pairs", "3"],
        "full": [],
    },
    "startup.py": {"smoke": ["--pairs", "2"], "quick": ["--pairs", "5"], "full": []},
}


def run_script(name: str, size: str) -> tuple[str, float, str | None]:
    """Run ``benchmarks/NAME`` with the arguments of ``size``: (stdout, seconds, error)."""
    command = [sys.executable, str(HERE / name), *ARGS[name][size]]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=HERE.parent, check=False)
    seconds = time.perf_counter() - started
    error = None
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or ["no message"]
        error = f"{name} exited {done.returncode}: {tail[0]}"
    return done.stdout, seconds, error


def step_time_figures(output: str) -> list[Figure]:
    """The method rows of step_time.py: ratio to the plain step or to the floor."""
    figures: list[Figure] = []
    floor = re.search(
        r"floor \(K autograd\.grad\) ([\d.]+)x plain; is_grads_batched/vmap ([\d.]+)x the floor",
        output,
    )
    if floor:
        figures.append(Figure("floor: K autograd.grad calls", floor[1], "plain step", "-", "-"))
        figures.append(Figure("is_grads_batched/vmap", floor[2], "floor", "-", "-"))
    shared_only = re.search(r"the floor on the shared parameters only ([\d.]+)x the floor", output)
    if shared_only:
        figures.append(
            Figure("floor on the shared parameters only", shared_only[1], "floor", "-", "-")
        )
    direct = re.search(r"the floor with the engine called directly ([\d.]+)x the floor", output)
    if direct:
        figures.append(Figure("floor, engine called directly", direct[1], "floor", "-", "-"))
    row = re.compile(
        r"^(?P<label>\S.*?)\s+(?P<kind>\S+)\s+[\d.]+\s+(?P<plain>[\d.]+)\s+(?P<floor>[\d.]+)"
        r"(?:\s+[\d.]+)?(?:\s+(?P<interval>[\d.]+-[\d.]+))?"
        r"\s+<= (?P<limit>[\d.]+)x (?P<baseline>plain|floor): (?P<verdict>ok|MISSED|UNDECIDED)$"
    )
    torchjd = re.compile(
        r"^vs torchjd (?P<method>\S+) \((?P<aggregator>\w+)\): ours [\d.]+ ms, torchjd [\d.]+ ms "
        r"-> (?P<ratio>[\d.]+)x torchjd's time"
    )
    for line in output.splitlines():
        if match := row.match(line):
            baseline = match["baseline"]
            figures.append(
                Figure(
                    name=f"{match['label']} ({match['kind']})",
                    ratio=match[baseline],
                    baseline="plain step" if baseline == "plain" else "floor",
                    target=f"<= {match['limit']}x",
                    verdict={"ok": "met", "MISSED": "missed"}.get(match["verdict"], "undecided"),
                    interval=match["interval"] or "",
                )
            )
        elif match := torchjd.match(line):
            figures.append(
                Figure(
                    name=f"{match['method']} against torchjd's {match['aggregator']}",
                    ratio=match["ratio"],
                    baseline="torchjd mtl_backward + jac_to_grad",
                    target="-",
                    verdict="-",
                )
            )
    return figures


def sample_efficiency_figures(output: str) -> list[Figure]:
    """The ``figure:`` lines of sample_efficiency.py: search cost / the grid's cost, per K."""
    figures: list[Figure] = []
    for text in output.splitlines():
        if not text.startswith("figure: "):
            continue
        fields = [f.strip() for f in text.removeprefix("figure: ").split("|")]
        if len(fields) != 6:
            continue
        name, ratio, interval, baseline, target, verdict = fields
        figures.append(Figure(name, ratio, baseline, target, verdict, interval=interval))
    return figures


def parallel_figures(output: str) -> list[Figure]:
    """--n-jobs throughput ratios and the per-trial overhead ratio of parallel.py."""
    figures: list[Figure] = []
    scaling = re.compile(
        r"^\s+(?P<jobs>\d+) jobs vs 1: (?P<whole>[\d.]+)x trials/s for the command, "
        r"(?P<alone>[\d.]+)x for the trials alone(?:\s+target >= (?P<target>[\d.]+)x)?"
    )
    for text in output.splitlines():
        match = scaling.match(text)
        if match:
            target = match["target"]
            for what, value in (
                ("whole command", match["whole"]),
                ("trials alone", match["alone"]),
            ):
                verdict = "-" if target is None else _at_least(value, target)
                figures.append(
                    Figure(
                        name=f"--n-jobs {match['jobs']} trials/s ({what})",
                        ratio=value,
                        baseline="--n-jobs 1",
                        target=f">= {target}x" if target else "-",
                        verdict=verdict,
                    )
                )
        overhead = re.match(r"^\s+ratio (?P<ratio>[\d.]+)x\s+target <= (?P<target>[\d.]+)x", text)
        if overhead:
            met = float(overhead["ratio"]) <= float(overhead["target"])
            figures.append(
                Figure(
                    name="per-trial time, no-op task, SQLite, in-process",
                    ratio=overhead["ratio"],
                    baseline="plain Optuna loop",
                    target=f"<= {overhead['target']}x",
                    verdict="met" if met else "missed",
                )
            )
    return figures


def amp_figures(output: str) -> list[Figure]:
    """The rows of amp_step_time.py: each method's AMP step over its float32 step."""
    row = re.compile(
        r"^(?P<name>\S+)\s+(?P<kind>\S.*?)\s+[\d.]+\s+[\d.]+\s+(?P<ratio>[\d.]+)"
        r"\s+(?P<interval>[\d.]+-[\d.]+)$"
    )
    return [
        Figure(
            name=f"{m['name']} ({m['kind']})",
            ratio=m["ratio"],
            baseline="its float32 step",
            target="-",
            verdict="-",
            interval=m["interval"],
        )
        for m in map(row.match, output.splitlines())
        if m
    ]


def paired_figures(baseline: str, output: str) -> list[Figure]:
    """The ``paired.Ratio.line`` lines of overhead.py and startup.py, against ``baseline``."""
    line = re.compile(
        r"^\s+(?P<label>\S.*?): median (?P<ratio>[\d.]+)x \(95% CI (?P<interval>[\d.]+-[\d.]+)x, "
        r"(?P<pairs>\d+) pairs; ours median (?P<ours>[\d.]+) s, baseline (?P<theirs>[\d.]+) s\)"
        r"\s+target <= (?P<target>[\d.]+)x: (?P<verdict>met|missed|undecided)$"
    )
    return [
        Figure(
            name=f"{m['label']} ({m['pairs']} pairs, median {m['ours']} s vs {m['theirs']} s)",
            ratio=m["ratio"],
            baseline=baseline,
            target=f"<= {m['target']}x",
            verdict=m["verdict"],
            interval=m["interval"],
        )
        for m in map(line.match, output.splitlines())
        if m
    ]


def _at_least(value: str, target: str) -> str:
    return "met" if float(value) >= float(target) else "missed"


def script_section(name: str, size: str, title: str, about: str, parse) -> Section:
    args = " ".join(ARGS[name][size])
    section = Section(title, f"python benchmarks/{name} {args}".strip(), about)
    section.output, section.seconds, section.error = run_script(name, size)
    section.figures = parse(section.output)
    if not section.figures and section.error is None:
        section.error = f"no figures found in the output of {name}"
    return section


def growth_section(size: str) -> Section:
    max_k = 3 if size == "smoke" else 6
    section = Section(
        "Cost growth of the sum-to-one grid",
        f"python benchmarks/grid_growth.py --max-k {max_k}",
        "Distinct points of the grid for K losses and --multipliers 1,2,4,6, and the wall time "
        "of `weightsearch grid` on a task that does nothing (in-process, temporary SQLite), "
        "both as ratios to K = 2.",
    )
    started = time.perf_counter()
    rows = grid_growth.measure(range(2, max_k + 1), timed_up_to=max_k)
    section.seconds = time.perf_counter() - started
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        grid_growth.print_table(rows)
    section.output = printed.getvalue()
    for row in rows[1:]:
        section.figures.append(
            Figure(f"K={row.losses}: grid points ({row.points})", f"{row.points_ratio:.1f}",
                   "K=2 (11 points)", "-", "-")
        )  # fmt: skip
        if row.seconds_ratio is not None:
            section.figures.append(
                Figure(f"K={row.losses}: no-op grid wall time ({row.seconds:.1f} s)",
                       f"{row.seconds_ratio:.1f}", f"K=2 ({rows[0].seconds:.1f} s)", "-", "-")
            )  # fmt: skip
    k = grid_growth.first_impractical(rows)
    limit = grid_growth.PRACTICAL_POINTS
    if k is not None:
        section.notes.append(
            f"Recommendation: a grid past {limit} points takes the better part of a day of real "
            f"training or more (at one minute per trial, "
            + ", ".join(f"K={r.losses}: {r.points / 60:.0f} h" for r in rows if r.losses >= k)
            + f"). From K = {k} losses on, use `weightsearch power-scale TASK --sampler tpe "
            f"--n-trials N`: its cost is N trials whatever K is (see the search-cost "
            f"section for how many trainings TPE needs against a grid)."
        )
    timed = [r for r in rows if r.ms_per_point is not None]
    if timed:
        costs = ", ".join(f"K={r.losses}: {r.ms_per_point:.0f} ms" for r in timed)
        section.notes.append(
            f"weightsearch's own cost per grid point (no-op task, SQLite, start-up included): "
            f"{costs}. Tens of milliseconds, rising slowly with the study's size, against "
            f"seconds to hours for a real trial: a grid costs its number of points times the "
            f"trial's time."
        )
    return section


def machine() -> list[tuple[str, str]]:
    import optuna
    import torch

    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "-"
    return [
        ("CPU", cpu),
        ("cores", str(os.cpu_count())),
        ("OS", platform.platform()),
        ("Python", platform.python_version()),
        ("torch", torch.__version__),
        ("optuna", optuna.__version__),
        ("load average at start (1, 5, 15 min)", load),
    ]


def render(sections: list[Section], size: str, host: list[tuple[str, str]], total: float) -> str:
    today = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    flag = {"quick": " --quick", "smoke": " --smoke", "full": ""}[size]
    lines = [
        "# Benchmarks",
        "",
        f"Written by `python -m benchmarks{flag}` on {today}, in {total / 60:.1f} minutes. "
        "Every figure is a ratio to a baseline measured in the same run on the same machine; "
        "ratios, not absolute times, are the claims. The machine may have been shared with "
        "other work (see the load average): the step-time ratios use CPU time, interleaved, "
        "to be robust to it; the others use wall time.",
        "",
        *(
            ["**Smoke run:** sizes too small to mean anything; it only checks that all runs.", ""]
            if size == "smoke"
            else []
        ),
        "## Machine",
        "",
        "| | |",
        "| --- | --- |",
        *[f"| {key} | {value} |" for key, value in host],
        "",
        "## Summary",
        "",
    ]
    figures = [f for s in sections for f in s.figures if f.verdict != "-"]
    met = sum(f.verdict == "met" for f in figures)
    lines.append(f"{met} of {len(figures)} targets met.")
    missed = [f.name for f in figures if f.verdict == "missed"]
    if missed:
        lines.append(f"Missed: {', '.join(missed)}.")
    undecided = [f.name for f in figures if f.verdict == "undecided"]
    if undecided:
        lines.append(
            f"Undecided (the target is inside the ratio's 95% interval): {', '.join(undecided)}."
        )
    failed = [s.title for s in sections if s.error]
    if failed:
        lines.append(f"Sections with errors: {', '.join(failed)}.")
    for section in sections:
        lines += [
            "",
            f"## {section.title}",
            "",
            f"{section.about} Command: `{section.command}` ({section.seconds:.0f} s).",
            "",
        ]
        if section.error:
            lines += [f"**Error:** {section.error}", ""]
        if section.figures:
            lines += [
                "| figure | ratio | baseline | target | |",
                "| --- | --- | --- | --- | --- |",
                *[
                    f"| {f.name} | {f.ratio}{'' if f.baseline.startswith('count') else 'x'}"
                    f"{f' ({f.interval})' if f.interval else ''} | "
                    f"{f.baseline} | {f.target} | {f.verdict} |"
                    for f in section.figures
                ],
                "",
            ]
        lines += [*section.notes, *([""] if section.notes else [])]
        lines += [
            "<details><summary>output</summary>",
            "",
            "```text",
            section.output.rstrip(),
            "```",
            "",
            "</details>",
        ]
    return "\n".join(lines) + "\n"


def run(size: str) -> list[Section]:
    """Run every benchmark at ``size`` (``smoke``, ``quick`` or ``full``)."""
    plan = [
        (
            "step_time.py",
            "Step time of the balancing methods",
            "Forward + backward of a reference MLP (64-256-256, 3 heads, batch 256, 1 thread), "
            "median CPU time per step, as a ratio to a plain `sum(losses).backward()` step "
            "(loss-level methods, MGDA-UB) or to the floor of K `autograd.grad` calls "
            "(gradient-level methods), with the ratio's 95% interval in brackets: "
            + (
                "a bootstrap over the interleaved rounds of one run"
                if size == "quick"
                else "a t interval over runs in fresh processes (the ratio is their geometric "
                "mean), which holds the variation from one process to the next as well"
            )
            + ". A target is met or missed only when the whole interval is on one side of it, "
            "and undecided otherwise.",
            step_time_figures,
        ),
        (
            "sample_efficiency.py",
            "Search cost: samplers against the exhaustive grid",
            "Training steps a search spends until a full-length point is within 2% of the "
            "exhaustive grid's best (or in its top 2%), as a ratio to the grid's cost, over 10 "
            "sampler seeds, on tasks of K = 3..6 losses (benchmarks/tasks/structured.py, "
            "power-scale grids of base 4), replayed over each grid's recorded learning curves: "
            "the default search (TPE multivariate, no pruning) and each model-based sampler "
            "with its default pruning (none). Counts of seeds are read as the k-th best seed's "
            "ratio; a median's interval is the order statistics x(2)..x(9).",
            sample_efficiency_figures,
        ),
        (
            "parallel.py",
            "Parallel trials and per-trial overhead",
            "Trials per second with `--n-jobs` 2 and 4 against `--n-jobs 1` (a task that sleeps, "
            "so cores are not the limit), and the per-trial time of weightsearch against a "
            "plain Optuna loop on the same no-op function and the same kind of storage.",
            parallel_figures,
        ),
        (
            "amp_step_time.py",
            "Mixed-precision step time",
            "The step-time reference model (1 thread, CPU): forward under bf16 `torch.autocast` "
            'plus `balancer.backward(losses, scaler=GradScaler("cpu"))`, as a ratio to the '
            "same method's float32 step, interleaved in paired rounds, median CPU times, 95% "
            "bootstrap interval. The `plain` row (`sum(losses)`, no balancer) is what autocast "
            "and the scaler cost alone; CPU bf16 is not faster than float32 here, so these say "
            "what AMP's bookkeeping costs on this CPU, not what a GPU gains. No target: context.",
            amp_figures,
        ),
        (
            "overhead.py",
            "Whole-command overhead of the default (worker) mode",
            "`weightsearch grid` over 115 points of a task that returns at once (worker mode, "
            "and `--in-process`) against a plain Optuna script suggesting the same three "
            "weights, both whole commands in fresh processes on a SQLite file of their own, "
            "timed from start to exit (imports, opening the storage and starting the worker "
            "count). Paired runs in alternating order; median ratio and the 95% t-interval of "
            "the mean log ratio; met or missed only when the whole interval is on one side.",
            partial(paired_figures, "plain Optuna script"),
        ),
        (
            "startup.py",
            "CLI start-up",
            "Each `weightsearch` command in a fresh process against `optuna --help` in a fresh "
            "process (`report` and `studies` on an existing SQLite study), paired in "
            "alternating order, same statistics as the overhead section.",
            partial(paired_figures, "optuna --help"),
        ),
    ]
    sections = []
    for name, title, about, parse in plan:
        print(f"running {name} ({size}) ...", file=sys.stderr, flush=True)
        sections.append(script_section(name, size, title, about, parse))
    print("running grid_growth ...", file=sys.stderr, flush=True)
    sections.append(growth_section(size))
    return sections


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sizes = parser.add_mutually_exclusive_group()
    sizes.add_argument("--quick", action="store_true", help="within 10 minutes on 2 cores")
    sizes.add_argument("--smoke", action="store_true", help="tiny sizes: checks that it runs")
    parser.add_argument(
        "--output", type=Path, default=HERE.parent / "BENCHMARKS.md", help="the report to write"
    )
    args = parser.parse_args(argv)
    size = "smoke" if args.smoke else "quick" if args.quick else "full"
    host = machine()
    started = time.perf_counter()
    sections = run(size)
    total = time.perf_counter() - started
    args.output.write_text(render(sections, size, host, total))
    for section in sections:
        print(f"\n{section.title} ({section.seconds:.0f} s)")
        if section.error:
            print(f"  error: {section.error}")
        for f in section.figures:
            within = f" ({f.interval})" if f.interval else ""
            print(f"  {f.name}: {f.ratio}x{within} {f.baseline}  target {f.target}  {f.verdict}")
    print(f"\nwrote {args.output} in {total / 60:.1f} min")
    return 1 if any(s.error for s in sections) else 0


if __name__ == "__main__":
    sys.exit(main())
