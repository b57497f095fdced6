"""Every example runs in a reduced form, and shows the qualitative result its README section claims.

The reduced forms train for fewer epochs (``--param epochs=N``) in this process
(``--in-process``); each claim checked here was seen to hold on every seed tried at these sizes.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from weightsearch.spaces import sum_to_one_grid

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the benchmarks package is not installed
from benchmarks.grid_growth import PRACTICAL_POINTS  # noqa: E402

pytestmark = pytest.mark.slow

EXAMPLES = ROOT / "examples"


@pytest.fixture
def run_json(cli: Callable[..., Any], sqlite_url: str) -> Callable[..., dict[str, Any]]:
    """Run a weightsearch command in-process on the test's storage and return its JSON report."""

    def run(*args: str | Path) -> dict[str, Any]:
        result = cli(*args, "--storage", sqlite_url, "--in-process", "--quiet", "--json")
        assert result.code == 0, result.err
        return result.json()

    return run


def by_method(report: dict[str, Any], method: str) -> list[dict[str, Any]]:
    return [t for t in report["trials"] if t["method"] == method and t["state"] == "COMPLETE"]


def test_gradnorm_toy_two_tasks_weights_compensate_the_scales(run_json) -> None:
    toy = f"{EXAMPLES / 'gradnorm_toy.py'}:two_tasks"
    report = run_json("compare", toy, "--methods", "equal,gradnorm", "--seeds", "2",
                      "--param", "epochs=5")  # fmt: skip
    for trial in by_method(report, "gradnorm"):
        weights = trial["weights"]
        # sigma 1 (t0) against sigma 100 (t1): GradNorm lifts the small-scale task's weight.
        assert weights["t0"] > 1.5 > 0.5 > weights["t1"]
        assert sum(weights.values()) == pytest.approx(2.0, abs=1e-6)
    means = {m["name"]: m["mean"]["val_nmse"] for m in report["methods"]}
    assert means["gradnorm"] < means["equal"]

    # The best static weights of power-scale also turn the large-scale task down.
    static = run_json("power-scale", toy, "--exponents", "-5:0", "--param", "epochs=5")
    best = static["best"][0]["raw_weights"]
    assert best["t0"] == 1.0
    assert best["t1"] <= 1e-2
    equal_point = next(t for t in static["trials"] if t["exponents"] == {"t1": 0})
    assert static["best"][0]["values"]["val_nmse"] < equal_point["values"]["val_nmse"]


def test_gradnorm_toy_ten_tasks_weights_fall_with_the_scale(run_json) -> None:
    toy = f"{EXAMPLES / 'gradnorm_toy.py'}:ten_tasks"
    report = run_json("compare", toy, "--methods", "gradnorm", "--seeds", "1",
                      "--param", "epochs=4")  # fmt: skip
    (trial,) = by_method(report, "gradnorm")
    weights = [trial["weights"][f"t{i}"] for i in range(10)]  # sigma rises from t0 to t9
    assert sum(weights) == pytest.approx(10.0, abs=1e-6)
    assert weights[0] > 2.0
    assert weights[-1] < 0.2
    # Larger scale, smaller weight: the ranks of the weights are nearly reversed.
    inversions = sum(weights[i] < weights[j] for i in range(10) for j in range(i + 1, 10))
    assert inversions <= 3  # of 45 pairs


def _spread(report: dict[str, Any]) -> float:
    """Worst minus best grid point of the MMoE task (each the mean over its seeds)."""
    values = [t["values"]["val_mse"] for t in report["trials"] if t["state"] == "COMPLETE"]
    assert len(values) == 3
    return max(values) - min(values)


def test_mmoe_weighting_matters_more_when_tasks_are_less_correlated(run_json) -> None:
    mmoe = EXAMPLES / "mmoe_synthetic.py"
    spreads = {}
    for p in ("0.9", "0.1"):
        report = run_json("grid", mmoe, "--multipliers", "1,20", "--seeds", "3",
                          "--param", f"correlation={p}", "--param", "epochs=6",
                          "--study", f"mmoe-{p}")  # fmt: skip
        spreads[p] = _spread(report)
    # 1:20 and 20:1 against 1:1: starving one task of the shared bottom costs little when the
    # tasks agree (the other task's gradient trains what it needs), several times more when
    # they don't (3.5x to 7x over seeds 0-8 in threes).
    assert spreads["0.1"] > 2 * spreads["0.9"]


def test_recommender_grid_too_large_and_tpe_beats_equal(run_json) -> None:
    recommender = EXAMPLES / "recommender.py"
    actions = ["read_comment", "like", "click_avatar", "forward", "favorite", "comment"]
    assert len(sum_to_one_grid(actions, [1, 2, 4, 6])) > 10 * PRACTICAL_POINTS

    params = ["--param", "epochs=3", "--param", "impressions=15000"]
    equal = run_json("compare", recommender, "--methods", "equal", "--seeds", "1", *params)
    (equal_trial,) = by_method(equal, "equal")
    assert equal_trial["seeds"] == [0]
    tpe = run_json("power-scale", recommender, "--base", "2", "--exponents", "0:5",
                   "--sampler", "tpe", "--n-trials", "10", "--sampler-seed", "0",
                   "--pruner", "median", *params)  # fmt: skip
    states = [t["state"] for t in tpe["trials"]]
    assert len(states) == 10
    assert "PRUNED" in states  # run.report per epoch lets the median pruner stop trials
    best = tpe["best"][0]
    assert best["values"]["weighted_auc"] > equal_trial["values"]["weighted_auc"] + 0.03
    # Under SGD a weight is also a learning rate: the found point trains with several times the
    # total weight of equal weights (6), as the README explains.
    assert sum(best["raw_weights"].values()) > 4 * len(actions)
