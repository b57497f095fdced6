"""The search-cost benchmark's pieces: the bar, the replayed searches, the structured tasks."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the benchmarks package is not installed
from benchmarks.cost_bench import median_interval  # noqa: E402
from benchmarks.cost_sim import simulate, truth_of  # noqa: E402
from benchmarks.tasks import structured  # noqa: E402
from weightsearch.task import Run  # noqa: E402


def table(finals: list[float], epochs: int = 4) -> dict:
    """A 1-D table: point i has parameter x=i and a curve falling linearly to finals[i]."""
    return {
        "points": [
            {"params": {"x": i}, "curve": [f + (epochs - 1 - s) * 0.1 for s in range(epochs)]}
            for i, f in enumerate(finals)
        ]
    }


def test_the_bar_is_the_looser_of_two_percent_and_the_top_two_percent() -> None:
    finals = [1.0 + 0.001 * i for i in range(100)]  # best 1.0; 2% -> 1.02; top 2 -> 1.001
    assert truth_of(table(finals)).bar == pytest.approx(1.02)
    spread = [1.0, 1.5, *[2.0 + i for i in range(98)]]  # top 2% is the 2nd best, 1.5
    assert truth_of(table(spread)).bar == 1.5
    assert truth_of(table([-2.0, -1.0, 0.0])).bar == pytest.approx(-2.0 + 0.04)


def test_grid_without_pruning_costs_full_trainings_until_a_near_point() -> None:
    truth = truth_of(table([5.0, 4.0, 3.0, 1.0, 2.0, 6.0, 7.0, 8.0]))
    out = simulate(truth, "grid", "none", seed=0, budget_ratio=1.0, max_trials=100)
    assert out.cost_to_bar is not None
    assert out.cost_to_bar % truth.epochs == 0  # whole trainings only
    assert out.cost_to_bar == out.completed * truth.epochs
    assert (out.killed, out.repeats) == (0, 0)


def test_halving_on_the_grid_promotes_the_best_when_curves_never_cross() -> None:
    finals = [5.0, 4.0, 3.0, 9.0, 2.0, 6.0, 7.0, 8.0, 1.0]
    truth = truth_of(table(finals, epochs=9))
    out = simulate(truth, "grid", "halving", seed=3, budget_ratio=1.0, max_trials=100)
    assert out.cost_to_bar is not None  # the best is promoted to full length
    assert out.cost_to_bar < truth.grid_cost
    assert out.repeats == 0


def test_a_sampler_repeating_points_costs_nothing_more() -> None:
    truth = truth_of(table([3.0, 2.0, 1.5, 2.5]))
    out = simulate(truth, "random", "none", seed=0, budget_ratio=5.0, max_trials=100)
    # four distinct points: at most four trainings, whatever the sampler proposes
    assert out.trials <= 4
    assert out.spent == out.trials * truth.epochs


def test_median_interval_uses_order_statistics() -> None:
    assert median_interval([float(i) for i in range(1, 11)]) == (5.5, 2.0, 9.0)


@pytest.mark.parametrize("name", ["k3", "k6"])
def test_structured_tasks_report_every_epoch_and_repeat_exactly(name: str) -> None:
    task = getattr(structured, name)
    curves = []
    for _ in range(2):
        run = Run(weights=dict.fromkeys(task.losses, 1.0), params={"epochs": 2}, losses=task.losses)
        result = task(run)
        curves.append([values["val_nmse"] for _, values in run.curve])
        assert [step for step, _ in run.curve] == [0, 1]
        assert result["val_nmse"] == curves[-1][-1]
    assert curves[0] == curves[1]
    assert len(task.losses) == int(name[1])
