"""No point is trained twice with the same seeds: a sampler's proposal of a trained point is
answered from the record, a failed point is not retried unasked, an exhausted space ends.

``analytic.py`` computes its metrics from the weights alone; ``failing.py:picky`` fails when
the weight of ``c`` is above 0.45 (with power-scale's raw weights: exponent 0 and 1 of c).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
from cli_result import CliResult
from optuna.distributions import IntDistribution
from optuna.trial import TrialState

from weightsearch import records
from weightsearch.lost_trials import process_owner
from weightsearch.points import Point, SampledPoints, create_running_trial
from weightsearch.storage import open_storage

TASKS = Path(__file__).parent / "tasks"
ANALYTIC = TASKS / "power_scale" / "analytic.py"
Cli = Callable[..., CliResult]


def keys(report: dict[str, Any]) -> list[str]:
    return [json.dumps(t["exponents"], sort_keys=True) for t in report["trials"]]


def test_tpe_on_a_tiny_space_trains_each_point_once_then_ends(cli: Cli, sqlite_url: str) -> None:
    result = cli(
        "power-scale", ANALYTIC, "--exponents", "-1:1", "--sampler", "tpe", "--n-trials", "30",
        "--sampler-seed", "0", "--storage", sqlite_url, "--in-process", "--json",
    )  # fmt: skip
    assert result.code == 0, result.err
    report = result.json()

    # 0 repeated trainings: 9 points, 9 trials that trained, then the space is exhausted.
    assert len(keys(report)) == len(set(keys(report))) == 9
    assert "all 9 points of the space are trained" in result.err
    assert report["cost"] == 9  # analytic never reports: one step per training
    # TPE proposed trained points; each was answered from the record, at no cost.
    repeats = report["repeats"]
    assert repeats, "TPE on 9 points proposes a trained one (seed 0 does)"
    by_number = {t["number"]: t for t in report["trials"]}
    study = optuna.load_study(study_name="analytic-power-scale", storage=open_storage(sqlite_url))
    trials = study.get_trials()
    for repeat in repeats:
        told = trials[repeat["number"]]
        original = by_number[repeat["repeat_of"]]
        assert told.state == TrialState.COMPLETE  # told to the sampler with the recorded value
        assert told.values == [original["values"]["score"]]
        assert {k.removeprefix("n_"): v for k, v in told.params.items()} == original["exponents"]
        assert records.steps(told) == 0
    # The table lists 9 different points.
    table = cli("report", "analytic-power-scale", "--storage", sqlite_url)
    assert "top 9 by score" in table.out
    assert f"{len(repeats)} proposals of trained points answered from the record" in table.out


def test_repeats_do_not_count_against_n_trials(cli: Cli, sqlite_url: str) -> None:
    result = cli(
        "power-scale", ANALYTIC, "--exponents", "-2:2", "--sampler", "tpe", "--n-trials", "20",
        "--sampler-seed", "1", "--storage", sqlite_url, "--in-process", "--json",
    )  # fmt: skip
    report = result.json()

    assert len(report["trials"]) == 20
    assert len(set(keys(report))) == 20


def test_a_failed_point_is_not_retried_unless_asked(cli: Cli, sqlite_url: str) -> None:
    args = (
        "power-scale", f"{TASKS / 'failing.py'}:picky", "--exponents", "-1:1", "--sampler",
        "random", "--n-trials", "40", "--sampler-seed", "0", "--storage", sqlite_url,
        "--in-process", "--json",
    )  # fmt: skip
    first = cli(*args).json()

    # c's exponent 0 and 1 fail: 6 of the 9 points, each tried once.
    assert len(first["trials"]) == 9
    assert sorted(t["state"] for t in first["trials"]).count("FAIL") == 6
    assert len(set(keys(first))) == 9

    again = cli(*args)
    assert len(again.json()["trials"]) == 9  # nothing new trained
    assert "pass --retry-failed" in again.err

    retried = cli(*args, "--retry-failed").json()
    assert len(retried["trials"]) == 15  # each failed point once more, in this command
    new = retried["trials"][9:]
    assert {t["state"] for t in new} == {"FAIL"}
    assert len(set(keys({"trials": new}))) == 6


def fixed_point(name: str) -> Point:
    return Point(
        key=name,
        weights={"a": 1.0},
        params={"x": 0 if name == "p" else 1},
        distributions={"x": IntDistribution(0, 1)},
    )


def test_a_point_another_process_trains_is_not_trained_again() -> None:
    study = optuna.create_study(storage=optuna.storages.InMemoryStorage())
    space = [fixed_point("p"), fixed_point("q")]
    running = create_running_trial(study, space[0], process_owner())

    def always_p(trial: optuna.Trial) -> Point:
        trial.suggest_int("x", 0, 0)
        return space[0]

    source = SampledPoints(always_p, budget=None, space=space)
    claimed = source.claim(study, process_owner())

    # STUCK proposals of p, told as failures (samplers skip them), then an untaken point.
    assert claimed is not None
    assert claimed[1].key == "q"
    told = [t for t in study.get_trials() if records.REPEAT in t.user_attrs]
    assert len(told) == SampledPoints.STUCK
    assert {records.repeat_of(t) for t in told} == {running.number}
    assert {t.state for t in told} == {TrialState.FAIL}
    assert "is training it" in str(records.error(told[0]))
    # p is running, q claimed: nothing left, and the source says why.
    assert source.claim(study, process_owner()) is None
    assert not source.pending(study)
    assert any("all 2 points of the space are trained" in n for n in source.notes())
