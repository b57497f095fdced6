"""The benchmarks' entry point: its parsers on known output; a tiny run writes every section.

The smoke run checks that every benchmark runs and reports its figures; at these sizes the
figures mean nothing, so no figure's value is checked.
"""

from __future__ import annotations

import math
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the benchmarks package is not installed
from benchmarks import run, step_time  # noqa: E402

STEP_TIME = """\
plain step 3.07 ms CPU; floor (K autograd.grad) 1.79x plain; is_grads_batched/vmap 1.41x \
the floor; the floor on the shared parameters only 0.97x the floor; the floor with the engine \
called directly 0.94x the floor
method                kind                 ms  x plain  x floor x direct  95% interval  target
equal                 loss               3.18     1.14     0.63     0.67     1.12-1.17  <= \
1.1x plain: MISSED
gradnorm              gradient           5.81     2.02     1.18     1.26     1.15-1.21  <= \
1.3x floor: ok
pcgrad                gradient           4.30     2.17     1.09     1.14     1.07-1.12  <= \
1.1x floor: UNDECIDED
mgda (features: UB)   representation     3.65     1.52     0.83     0.88  <= 1.35x plain: MISSED

torchjd 0.18.0: mtl_backward + jac_to_grad
vs torchjd mgda (MGDA): ours 4.94 ms, torchjd 6.76 ms -> 0.73x torchjd's time; torchjd 1.57x \
the floor
vs torchjd cagrad (CAGrad): skipped, CAGradWeighting requires ['cvxpy', 'clarabel'] to be installed.
"""
SAMPLE_EFFICIENCY = """\
 K sampler  seeds  median        interval <=.05x <=.15x  <=.3x  <=.4x killed repeats trainings
 4 tpe         10   0.124     0.024-0.160    2/10   5/10  10/10  10/10      0       1      15.5

figure: K=4 default (tpe, no pruning): median cost to the bar | 0.124 | 0.024-0.160 | grid \
cost (k4) | <= 0.05x | missed
figure: K=4 cmaes: 8th-best of 10 seeds (7 within 0.3x) | >=0.40 | | grid cost (k4) | <= 0.3x \
| missed
figure: K=4 gp: 8th-best of 3 seeds (3 within 0.3x) | >=0.40 | | grid cost (k4) | <= 0.3x | \
undecided
figure: K=4 default: near-best points killed by pruning | 0 | | count over 10 seeds | <= 1 \
per 10 seeds | met
"""
PARALLEL = """\
  2 jobs vs 1: 1.86x trials/s for the command, 1.89x for the trials alone
  4 jobs vs 1: 1.43x trials/s for the command, 3.61x for the trials alone   target >= 3.5x
  weightsearch 57.4 ms/trial, plain Optuna 22.5 ms/trial
  ratio 2.55x   target <= 1.3x
"""
AMP = """\
AMP (bf16 autocast + GradScaler) step time as a ratio to float32, 20 rounds
method         kind                  fp32 ms   amp ms  ratio  95% interval
plain          no balancer              1.95     2.17   1.11  1.08-1.14
pcgrad         gradient-level           4.00     4.17   1.03  1.00-1.07
"""
PAIRED = """\
CLI start-up against optuna --help, fresh processes
  weightsearch --help: median 0.97x (95% CI 0.91-1.02x, 5 pairs; ours median 0.52 s, \
baseline 0.54 s)   target <= 1x: undecided
  weightsearch report: median 1.62x (95% CI 1.55-1.70x, 5 pairs; ours median 1.40 s, \
baseline 0.86 s)   target <= 1.5x: missed
"""


def test_step_time_rows_are_read_against_their_own_baseline() -> None:
    figures = {f.name: f for f in run.step_time_figures(STEP_TIME)}
    assert figures["floor: K autograd.grad calls"].ratio == "1.79"
    assert figures["is_grads_batched/vmap"].ratio == "1.41"
    assert figures["floor on the shared parameters only"].ratio == "0.97"
    assert figures["floor, engine called directly"].ratio == "0.94"
    assert figures["equal (loss)"].ratio == "1.14"
    assert figures["equal (loss)"].baseline == "plain step"
    assert figures["equal (loss)"].verdict == "missed"
    assert figures["gradnorm (gradient)"].ratio == "1.18"
    assert figures["gradnorm (gradient)"].baseline == "floor"
    assert figures["gradnorm (gradient)"].target == "<= 1.3x"
    assert figures["gradnorm (gradient)"].verdict == "met"
    assert figures["gradnorm (gradient)"].interval == "1.15-1.21"
    pcgrad = figures["pcgrad (gradient)"]
    assert (pcgrad.ratio, pcgrad.interval, pcgrad.verdict) == ("1.09", "1.07-1.12", "undecided")
    assert figures["mgda (features: UB) (representation)"].ratio == "1.52"
    assert figures["mgda (features: UB) (representation)"].interval == ""  # older output
    torchjd = figures["mgda against torchjd's MGDA"]
    assert (torchjd.ratio, torchjd.verdict) == ("0.73", "-")
    assert torchjd.baseline == "torchjd mtl_backward + jac_to_grad"
    assert not [name for name in figures if "CAGrad" in name]  # skipped: no figure


def test_step_time_interval_brackets_the_ratio_and_narrows_with_rounds() -> None:
    noise = random.Random(1)

    # Two timed steps a round (compare's layout); the method takes 1.1x the baseline, and the
    # machine's speed moves from step to step, alike for a method's step and the baseline's
    # step at the same place in the round.
    def times(rounds: int) -> dict[str, list[float]]:
        speeds = [1 + 0.3 * noise.random() for _ in range(rounds) for _ in range(2)]
        return {
            "floor": [s * (1 + 0.05 * noise.random()) for s in speeds],
            "method": [1.1 * s * (1 + 0.05 * noise.random()) for s in speeds],
        }

    short, long = times(60), times(600)
    low, high = step_time.interval(short, "method", "floor")
    assert low < step_time.ratio(short, "method", "floor") < high
    assert 1.0 < low < 1.1 < high < 1.2
    long_low, long_high = step_time.interval(long, "method", "floor")
    assert long_high - long_low < (high - low) / 2
    steady = {"floor": [1.0] * 120, "method": [2.0] * 120}
    assert step_time.interval(steady, "method", "floor") == (2.0, 2.0)


def test_step_time_verdict_needs_the_whole_interval_on_one_side() -> None:
    assert step_time.verdict(1.02, 1.08, 1.1) == "ok"
    assert step_time.verdict(1.07, 1.104, 1.1) == "ok"  # judged as printed: 1.10
    assert step_time.verdict(1.07, 1.12, 1.1) == "UNDECIDED"
    assert step_time.verdict(1.104, 1.2, 1.1) == "UNDECIDED"
    assert step_time.verdict(1.11, 1.2, 1.1) == "MISSED"


def _row(label: str, baseline: str, plain: float, floor: float) -> step_time.Row:
    return step_time.Row(label, "gradient", 5.0, plain, floor, floor, baseline, 1.1, 0.0, 9.0)


def test_step_time_runs_combine_into_a_geometric_mean_with_a_t_interval() -> None:
    runs = [
        [_row("mgda", "floor", 2.0, 1.0), _row("equal", "plain", 1.05, 0.5)],
        [_row("mgda", "floor", 2.2, 1.1), _row("equal", "plain", 1.05, 0.6)],
        [_row("mgda", "floor", 2.4, 1.21), _row("equal", "plain", 1.05, 0.7)],
    ]
    mgda, equal = step_time.combine_runs(runs)
    # log ratios 0, 0.0953, 0.1906: mean 0.0953 (1.1x), sd 0.0953, half width
    # t(0.975, 2 df) * sd / sqrt(3) = 4.303 * 0.0953 / 1.732 = 0.2368: exp(0.0953 -+ 0.2368).
    assert mgda.floor == pytest.approx(1.1)
    assert (mgda.low, mgda.high) == pytest.approx((0.8681, 1.3939), abs=1e-4)
    assert mgda.plain == pytest.approx((2.0 * 2.2 * 2.4) ** (1 / 3))
    # Judged on its own baseline: the plain ratio agrees across the runs, the floor's doesn't.
    assert (equal.plain, equal.low, equal.high) == pytest.approx((1.05, 1.05, 1.05))
    assert equal.ms == 5.0


def test_step_time_combined_rows_read_back_as_figures() -> None:
    row = step_time.combine_runs(
        [[_row("pcgrad", "floor", 2.1, 1.08)], [_row("pcgrad", "floor", 2.1, 1.1)]]
    )
    output = "\n".join([step_time.HEADER, *(r.line() for r in row)])
    (figure,) = run.step_time_figures(output)
    assert (figure.name, figure.ratio, figure.verdict) == ("pcgrad (gradient)", "1.09", "undecided")
    low, high = (float(b) for b in figure.interval.split("-"))
    # Two runs: t = 12.7, an interval wider than the runs' spread.
    assert low < 1.08
    assert high > 1.1


def test_sample_efficiency_figures_keep_intervals_bounds_and_verdicts() -> None:
    default, cmaes, gp, killed = run.sample_efficiency_figures(SAMPLE_EFFICIENCY)
    assert (default.ratio, default.interval, default.verdict) == ("0.124", "0.024-0.160", "missed")
    assert (default.baseline, default.target) == ("grid cost (k4)", "<= 0.05x")
    assert (cmaes.ratio, cmaes.interval, cmaes.verdict) == (">=0.40", "", "missed")
    assert gp.verdict == "undecided"
    assert (killed.ratio, killed.verdict) == ("0", "met")


def test_sample_efficiency_verdicts_need_the_whole_interval_on_one_side() -> None:
    from benchmarks import sample_efficiency

    assert sample_efficiency.at_most(0.02, 0.049, 0.05) == "met"
    assert sample_efficiency.at_most(0.02, 0.06, 0.05) == "undecided"
    assert sample_efficiency.at_most(0.051, 0.06, 0.05) == "missed"
    assert sample_efficiency.kth([0.1, math.inf, 0.2], 2) == 0.2
    assert sample_efficiency.kth([0.1], 8) == math.inf


@pytest.mark.slow
def test_sample_efficiency_smoke_reports_the_issue_targets() -> None:
    done = subprocess.run(
        [sys.executable, "benchmarks/sample_efficiency.py", "--smoke"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    figures = run.sample_efficiency_figures(done.stdout)
    names = [f.name for f in figures]
    assert names == [
        "K=3 default (tpe, no pruning): median cost to the bar",
        "K=3 default: near-best points killed by pruning",
        "trainings of a point already trained with the same seeds",
    ]
    assert figures[0].target == "<= 0.4x"
    assert re.fullmatch(r"[\d.]+-[\d.]+|>=[\d.]+->=[\d.]+|[\d.]+->=[\d.]+", figures[0].interval)
    assert figures[0].verdict in ("met", "missed", "undecided")


def test_parallel_figures_judge_only_what_has_a_target() -> None:
    figures = {f.name: f for f in run.parallel_figures(PARALLEL)}
    assert figures["--n-jobs 2 trials/s (whole command)"].verdict == "-"
    assert figures["--n-jobs 4 trials/s (whole command)"].verdict == "missed"
    assert figures["--n-jobs 4 trials/s (trials alone)"].verdict == "met"
    overhead = figures["per-trial time, no-op task, SQLite, in-process"]
    assert (overhead.ratio, overhead.verdict) == ("2.55", "missed")


def test_amp_rows_are_read_against_their_float32_step() -> None:
    plain, pcgrad = run.amp_figures(AMP)
    assert (plain.name, plain.ratio, plain.interval) == ("plain (no balancer)", "1.11", "1.08-1.14")
    assert (pcgrad.name, pcgrad.ratio, pcgrad.interval) == (
        "pcgrad (gradient-level)",
        "1.03",
        "1.00-1.07",
    )
    assert (pcgrad.baseline, pcgrad.verdict) == ("its float32 step", "-")


def test_paired_lines_keep_ratio_interval_target_and_verdict() -> None:
    helps, report = run.paired_figures("optuna --help", PAIRED)
    assert helps.name == "weightsearch --help (5 pairs, median 0.52 s vs 0.54 s)"
    assert (helps.ratio, helps.interval, helps.target) == ("0.97", "0.91-1.02", "<= 1x")
    assert (helps.baseline, helps.verdict) == ("optuna --help", "undecided")
    assert (report.ratio, report.target, report.verdict) == ("1.62", "<= 1.5x", "missed")


@pytest.mark.slow
def test_smoke_run_writes_every_section(tmp_path: Path) -> None:
    output = tmp_path / "BENCHMARKS.md"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--smoke", "--output", str(output)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    text = output.read_text()
    for key in ("CPU", "cores", "Python", "torch", "optuna"):
        assert re.search(rf"^\| {key} \| \S", text, re.MULTILINE), key
    assert re.search(r"on \d{4}-\d\d-\d\d \d\d:\d\d UTC", text)
    assert "**Error:**" not in text
    sections = re.split(r"^## ", text, flags=re.MULTILINE)
    titles = [s.splitlines()[0] for s in sections[1:]]
    assert titles == [
        "Machine",
        "Summary",
        "Step time of the balancing methods",
        "Search cost: samplers against the exhaustive grid",
        "Parallel trials and per-trial overhead",
        "Mixed-precision step time",
        "Whole-command overhead of the default (worker) mode",
        "CLI start-up",
        "Cost growth of the sum-to-one grid",
    ]
    for section in sections[3:]:
        # Every benchmark contributes figure rows: a ratio, its baseline and a target column.
        rows = re.findall(
            r"^\| .+ \| (>=)?[\d.]+x( \([\d.]+-[\d.]+\))? \| .+ \| .+ \| .+ \|$",
            section,
            re.MULTILINE,
        )
        assert rows, section[:200]
    assert re.search(r"^\d+ of \d+ targets met\.$", text, re.MULTILINE)
    # The judged step-time rows carry their interval (equal and gradnorm in the smoke run).
    assert re.search(r"^\| equal \(loss\) \| [\d.]+x \([\d.]+-[\d.]+\) \|", text, re.MULTILINE)
    assert "K=3: grid points (55)" in text
    # The paired whole-command figures keep their interval and a verdict on their target.
    for command in ("default (worker)", "weightsearch --help", "weightsearch report"):
        assert re.search(
            rf"^\| {re.escape(command)} \(2 pairs, .*\) \| [\d.]+x \([\d.]+-[\d.]+\) \| .+ \| "
            r"<= [\d.]+x \| (met|missed|undecided) \|$",
            text,
            re.MULTILINE,
        ), command
