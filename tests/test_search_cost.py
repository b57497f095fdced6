"""What a search cost in training steps, in every report format, against the exhaustive grid.

``curves.py`` reports 4 steps per seed; ``analytic.py`` never calls ``run.report`` (a finished
seed then counts as one step).
"""

from __future__ import annotations

import csv
import html
import io
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cli_result import CliResult

from weightsearch.report.dashboard import study_note
from weightsearch.report.document import build_report
from weightsearch.storage import open_storage
from weightsearch.study import load_existing_study

TASKS = Path(__file__).parent / "tasks" / "power_scale"
CURVES = TASKS / "curves.py"
ANALYTIC = TASKS / "analytic.py"
Cli = Callable[..., CliResult]


def power_scale(cli: Cli, url: str, task: Path, *args: str) -> dict[str, Any]:
    result = cli("power-scale", task, "--storage", url, "--in-process", "--json", *args)
    assert result.code == 0, result.err
    return result.json()


def report_text(cli: Cli, url: str, study: str, fmt: str) -> str:
    result = cli("report", study, "--storage", url, "--format", fmt, "--output", f"r.{fmt}")
    assert result.code == 0, result.err
    return Path(f"r.{fmt}").read_text()


def test_steps_sum_over_seeds_and_cost_is_the_sum_over_trials(cli: Cli, sqlite_url: str) -> None:
    # 4 of the 9 grid points, 2 seeds x 4 steps each: 8 steps a trial, 32 in all; the grid
    # would cost 9 points x 8 = 72.
    report = power_scale(
        cli, sqlite_url, CURVES, "--exponents", "-1:1", "--sampler", "grid", "--seeds", "2",
        "--n-trials", "4", "--study", "c",
    )  # fmt: skip

    assert [t["steps"] for t in report["trials"]] == [8, 8, 8, 8]
    assert (report["cost"], report["grid_cost"], report["grid_points"]) == (32, 72, 9)

    line = "cost 32 of 72 grid steps (44%)"
    assert line in report_text(cli, sqlite_url, "c", "table")
    assert line in report_text(cli, sqlite_url, "c", "markdown")
    assert line in report_text(cli, sqlite_url, "c", "html")
    rows = list(csv.DictReader(io.StringIO(report_text(cli, sqlite_url, "c", "csv"))))
    assert [int(r["steps"]) for r in rows] == [8, 8, 8, 8]
    storage = open_storage(sqlite_url)
    study, definition = load_existing_study(storage, "c")
    assert line in study_note(build_report(study, definition), definition)
    shown = cli(
        "power-scale", CURVES, "--exponents", "-1:1", "--sampler", "grid", "--seeds", "2",
        "--n-trials", "4", "--study", "c", "--storage", sqlite_url, "--in-process",
    )  # fmt: skip
    assert line in shown.out


def test_pruned_trials_cost_the_steps_they_ran(cli: Cli, sqlite_url: str) -> None:
    report = power_scale(
        cli, sqlite_url, CURVES, "--exponents", "-1:1", "--sampler", "random", "--n-trials",
        "14", "--sampler-seed", "0", "--pruner", "median",
    )  # fmt: skip

    pruned = [t for t in report["trials"] if t["state"] == "PRUNED"]
    complete = [t for t in report["trials"] if t["state"] == "COMPLETE"]
    assert pruned, "the median pruner stops the bad curves (see test_power_scale_cli)"
    # Pruned at step 1 (n_warmup_steps=1): two reports, the second raised Pruned.
    assert {t["steps"] for t in pruned} == {2}
    assert {t["steps"] for t in complete} == {4}
    assert report["cost"] == 2 * len(pruned) + 4 * len(complete)
    assert report["grid_cost"] == 9 * 4


def test_a_task_that_never_reports_costs_one_step_per_training(cli: Cli, sqlite_url: str) -> None:
    report = power_scale(
        cli, sqlite_url, ANALYTIC, "--exponents", "0:1", "--seeds", "3", "--study", "a"
    )

    assert [t["steps"] for t in report["trials"]] == [3, 3, 3, 3]
    assert (report["cost"], report["grid_cost"]) == (12, 12)
    assert "cost 12 of 12 grid steps (100%)" in report_text(cli, sqlite_url, "a", "markdown")


def test_a_continuous_space_has_no_grid_to_compare_with(cli: Cli, sqlite_url: str) -> None:
    report = power_scale(
        cli, sqlite_url, ANALYTIC, "--exponents", "-1:1", "--continuous", "--sampler", "random",
        "--n-trials", "3", "--study", "cont",
    )  # fmt: skip

    assert (report["cost"], report["grid_cost"], report["grid_points"]) == (3, None, None)
    text = report_text(cli, sqlite_url, "cont", "table")
    assert "cost 3 steps (a continuous space has no grid to compare with)" in text


def test_grid_command_cost_counts_the_whole_sum_to_one_grid(
    grid: Cli, cli: Cli, sqlite_url: str, tasks_dir: Path
) -> None:
    result = grid(
        tasks_dir / "failing.py:picky", "--multipliers", "1,2", "--storage", sqlite_url,
        "--json", "--study", "g",
    )  # fmt: skip
    report = result.json()

    failed = [t for t in report["trials"] if t["state"] == "FAIL"]
    assert failed, "picky fails for large c"
    # A failed seed trained nothing we can count; a finished one that never reported counts 1.
    assert {t["steps"] for t in failed} == {0}
    assert report["grid_points"] == len(report["trials"])
    assert report["grid_cost"] == report["grid_points"]
    assert report["cost"] == sum(t["state"] == "COMPLETE" for t in report["trials"])
    assert re.search(
        r"cost \d+ of \d+ grid steps \(\d+%\)", report_text(cli, sqlite_url, "g", "html")
    )


def test_the_report_says_when_the_runner_up_is_within_seed_noise(
    grid: Cli, cli: Cli, sqlite_url: str, tasks_dir: Path
) -> None:
    # echo: score = w_a + seed x noise. Best w_a = 1/5 (1,2,2), runner-up 1/4 (1,1,2 first).
    # Seeds 0, 1: the best's values 0.2 and 0.2 + noise; 95% t-interval
    # mean -+ 12.706 x sd / sqrt(2), sd = noise / sqrt(2): mean -+ 6.353 x noise.
    args = (tasks_dir / "echo.py", "--multipliers", "1,2", "--seeds", "2", "--storage", sqlite_url)
    noisy = grid(*args, "--study", "noisy", "--json").json()
    quiet = grid(*args, "--study", "quiet", "--param", "noise=0.001", "--json").json()

    best = {t["number"]: t for t in noisy["trials"]}[noisy["seed_noise"]["best"]]
    assert best["weights"]["a"] == pytest.approx(0.2)
    noise = noisy["seed_noise"]
    assert noise["best_ci95"] == pytest.approx([0.7 - 6.353, 0.7 + 6.353], abs=1e-3)
    assert noise["runner_up_mean"] == pytest.approx(0.75)
    assert (noise["seeds"], noise["within_noise"]) == (2, True)
    assert quiet["seed_noise"]["best_ci95"] == pytest.approx(
        [0.2005 - 0.006353, 0.2005 + 0.006353], abs=1e-6
    )
    assert quiet["seed_noise"]["within_noise"] is False

    inside = "is inside the best's 95% interval over 2 seeds"
    for fmt in ("table", "markdown", "html"):
        assert inside in html.unescape(report_text(cli, sqlite_url, "noisy", fmt))
        outside = "is outside the best's 95% interval"
        assert outside in html.unescape(report_text(cli, sqlite_url, "quiet", fmt))
    one_seed = grid(tasks_dir / "echo.py", "--multipliers", "1,2", "--storage", sqlite_url,
                    "--study", "one", "--json").json()  # fmt: skip
    assert one_seed["seed_noise"] is None
