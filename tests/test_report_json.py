"""The JSON report of DESIGN section 6, as ``weightsearch grid --json`` prints it."""

from __future__ import annotations

import json

import pytest

from weightsearch.report import build_report
from weightsearch.spaces import sum_to_one_grid
from weightsearch.storage import open_storage
from weightsearch.study import load_existing_study

TOP_LEVEL = {"study", "kind", "task", "losses", "objectives", "trials", "best"}
TRIAL_FIELDS = {"number", "state", "weights", "method", "values"}


def reject_constant(name: str) -> float:
    raise AssertionError(f"the report holds {name}, which is not JSON")


def grid_report(grid, sqlite_url, task, *args: str) -> dict:
    result = grid(task, "--storage", sqlite_url, "--json", *args)
    assert result.code == 0, result.err
    return json.loads(result.out, parse_constant=reject_constant)


@pytest.fixture
def echo(tasks_dir) -> str:
    return str(tasks_dir / "echo.py")


def test_top_level_fields(grid, echo, sqlite_url):
    report = grid_report(grid, sqlite_url, echo, "--multipliers", "1,2")
    assert set(report) >= TOP_LEVEL
    assert report["study"] == "echo-grid"
    assert report["kind"] == "grid"
    assert report["task"] == "echo:echo"
    assert report["losses"] == ["a", "b", "c"]
    assert report["objectives"] == [{"name": "score", "direction": "minimize"}]


def test_trial_fields_and_values(grid, echo, sqlite_url):
    report = grid_report(grid, sqlite_url, echo, "--multipliers", "1,2")
    trials = report["trials"]
    assert [t["number"] for t in trials] == list(range(7))
    expected_weights = sum_to_one_grid(["a", "b", "c"], [1, 2])
    for trial, weights in zip(trials, expected_weights, strict=True):
        assert set(trial) >= TRIAL_FIELDS
        assert "seed" in trial or "seeds" in trial
        assert trial["state"] == "COMPLETE"
        assert trial["method"] == "static"
        assert trial["seeds"] == [0]
        assert trial["weights"] == pytest.approx(weights)
        assert trial["values"] == pytest.approx(
            {"score": weights["a"], "bonus": weights["b"], "weight_sum": 1.0}
        )
        assert "error" not in trial


def test_best_is_the_trial_with_the_best_objective(grid, echo, sqlite_url):
    report = grid_report(grid, sqlite_url, echo, "--multipliers", "1,2")
    # score = weight of a, minimised: (1,2,2)/5 has the smallest a.
    (best,) = report["best"]
    assert set(best) >= {"number", "weights", "values"}
    assert best["weights"] == pytest.approx({"a": 0.2, "b": 0.4, "c": 0.4})
    assert best["values"]["score"] == pytest.approx(0.2)
    trial = report["trials"][best["number"]]
    assert trial["weights"] == best["weights"]
    assert trial["values"] == best["values"]


def test_best_of_a_maximised_objective(grid, echo, sqlite_url):
    report = grid_report(grid, sqlite_url, echo, "--multipliers", "1,2", "--objective", "bonus")
    assert report["objectives"] == [{"name": "bonus", "direction": "maximize"}]
    (best,) = report["best"]
    # bonus = weight of b, maximised: (1,2,1)/4.
    assert best["weights"] == pytest.approx({"a": 0.25, "b": 0.5, "c": 0.25})
    assert best["values"]["bonus"] == pytest.approx(0.5)


def test_best_of_two_objectives_is_the_pareto_front(grid, echo, sqlite_url):
    report = grid_report(
        grid,
        sqlite_url,
        echo,
        "--multipliers",
        "1,2",
        "--objective",
        "score",
        "--objective",
        "bonus",
    )
    assert report["objectives"] == [
        {"name": "score", "direction": "minimize"},
        {"name": "bonus", "direction": "maximize"},
    ]
    # Minimise a, maximise b: only (1,2,2)/5 and (1,2,1)/4 are not dominated; sorted by score.
    assert [b["weights"] for b in report["best"]] == [
        pytest.approx({"a": 0.2, "b": 0.4, "c": 0.4}),
        pytest.approx({"a": 0.25, "b": 0.5, "c": 0.25}),
    ]


def test_failed_trials_carry_a_one_line_error_and_no_values(grid, tasks_dir, sqlite_url):
    report = grid_report(
        grid, sqlite_url, f"{tasks_dir / 'failing.py'}:picky", "--multipliers", "1,2"
    )
    failed = [t for t in report["trials"] if t["state"] == "FAIL"]
    assert [t["error"] for t in failed] == ["ValueError: c=0.500 > 0.45"]
    assert failed[0]["values"] == {}
    assert "\n" not in failed[0]["error"]
    assert failed[0]["number"] not in [b["number"] for b in report["best"]]


def test_seeds_are_listed_per_trial(grid, echo, sqlite_url):
    report = grid_report(grid, sqlite_url, echo, "--multipliers", "3", "--seeds", "3")
    (trial,) = report["trials"]
    assert trial["seeds"] == [0, 1, 2]
    # score = 1/3 + seed, averaged over seeds 0, 1, 2.
    assert trial["values"]["score"] == pytest.approx(1 / 3 + 1)


def test_report_built_from_the_storage_matches_the_printed_one(grid, echo, sqlite_url):
    printed = grid_report(grid, sqlite_url, echo, "--multipliers", "1,2", "--vary", "c")
    study, definition = load_existing_study(open_storage(sqlite_url), "echo-grid")
    assert json.loads(json.dumps(build_report(study, definition))) == printed
