"""`weightsearch power-scale` from the outside: the issue's acceptance checks, sampler choice,
weights in the report, pruning decisions and bad input.

Every test runs the CLI in this process against a SQLite file of its own. The tasks live in
tests/tasks/power_scale/: ``scales3.py`` trains a tiny shared trunk on losses of scales
1 : 10 : 0.1, ``analytic.py`` and ``curves.py`` compute their metrics from the weights alone.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import pytest

from weightsearch import search
from weightsearch.cli import main

TASKS = Path(__file__).parent / "tasks" / "power_scale"
SCALES3 = TASKS / "scales3.py"
ANALYTIC = TASKS / "analytic.py"
CURVES = TASKS / "curves.py"
GRID_3x3 = [{"big": big, "small": small} for big, small in itertools.product((-1, 0, 1), repeat=2)]


@dataclass
class Result:
    code: int
    out: str
    err: str

    def report(self) -> dict[str, Any]:
        assert self.code == 0, (self.code, self.err)
        return json.loads(self.out)


@pytest.fixture
def storage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A SQLite storage of this test only; the test runs in its own folder."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("WEIGHTSEARCH_STORAGE", raising=False)
    return f"sqlite:///{tmp_path / 'x.db'}"


@pytest.fixture
def power_scale(storage: str, capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    """Run ``weightsearch power-scale TASK ARGS... --storage <this test's db>`` in-process.

    Trials run in this process too (``--in-process``: no worker process to start, whose torch
    import costs seconds), except with ``worker=True``, the path a user takes by default.
    """

    def run(task: Path, *args: str, worker: bool = False) -> Result:
        capsys.readouterr()
        where = [] if worker else ["--in-process"]
        try:
            main(["power-scale", str(task), *args, *where, "--storage", storage])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        else:
            code = 0
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


@pytest.fixture
def samplers_made(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, type]]:
    """Record every (sampler name, Optuna sampler class) that power-scale builds."""
    made: list[tuple[str, type]] = []
    real = search.make_sampler

    def spy(name: str, seed: int | None = None) -> optuna.samplers.BaseSampler:
        sampler = real(name, seed)
        made.append((name, type(sampler)))
        return sampler

    monkeypatch.setattr(search, "make_sampler", spy)
    return made


def states(report: dict[str, Any]) -> list[str]:
    return [t["state"] for t in report["trials"]]


def exponents_of(report: dict[str, Any]) -> list[dict[str, float]]:
    return [t["exponents"] for t in report["trials"]]


def dominates(a: list[float], b: list[float], directions: list[str]) -> bool:
    """Whether `a` is at least as good as `b` everywhere and better somewhere."""
    signs = [1.0 if d == "minimize" else -1.0 for d in directions]
    at_least = all(s * x <= s * y for s, x, y in zip(signs, a, b, strict=True))
    better = any(s * x < s * y for s, x, y in zip(signs, a, b, strict=True))
    return at_least and better


def assert_power_weights(trial: dict[str, Any], base: float, anchor: str) -> None:
    """Raw weights are base**n with the anchor at 1; `weights` are them scaled to sum 1."""
    raw = trial["raw_weights"]
    assert raw[anchor] == 1.0
    assert set(trial["exponents"]) == set(raw) - {anchor}
    for name, n in trial["exponents"].items():
        assert raw[name] == pytest.approx(base**n, rel=1e-12)
    total = sum(raw.values())
    assert sum(trial["weights"].values()) == pytest.approx(1.0, abs=1e-12)
    for name, w in trial["weights"].items():
        assert w == pytest.approx(raw[name] / total, rel=1e-12)


# --- acceptance (issue 3) ------------------------------------------------------------------


def test_grid_runs_nine_points_once_and_best_upweights_the_small_loss(power_scale):
    args = ("--anchor", "base", "--base", "10", "--exponents", "-1:1", "--sampler", "grid")
    report = power_scale(SCALES3, *args, "--json", worker=True).report()

    assert report["kind"] == "power-scale"
    assert report["losses"] == ["base", "big", "small"]
    assert states(report) == ["COMPLETE"] * 9
    assert sorted(map(json.dumps, exponents_of(report))) == sorted(map(json.dumps, GRID_3x3))
    for trial in report["trials"]:
        assert_power_weights(trial, base=10.0, anchor="base")

    [best] = report["best"]
    by_number = {t["number"]: t for t in report["trials"]}
    lowest = min(report["trials"], key=lambda t: t["values"]["nmse"])
    assert best["number"] == lowest["number"]
    assert best["values"]["nmse"] == lowest["values"]["nmse"]
    # The small-scale loss is up-weighted: above the big one, and above the anchor.
    assert best["weights"]["small"] > best["weights"]["big"]
    assert best["raw_weights"]["small"] > best["raw_weights"]["base"] == 1.0
    assert by_number[best["number"]]["exponents"] == {"big": -1, "small": 1}
    # ... and it does beat plain equal weights (all exponents 0) by a margin.
    equal = next(t for t in report["trials"] if t["exponents"] == {"big": 0, "small": 0})
    assert best["values"]["nmse"] < 0.8 * equal["values"]["nmse"]

    again = power_scale(SCALES3, *args, "--json").report()
    assert [t["number"] for t in again["trials"]] == list(range(9))
    assert again["trials"] == report["trials"]
    assert again["best"] == report["best"]


def test_tpe_with_n_trials_6_runs_6_trials(power_scale, samplers_made):
    report = power_scale(
        SCALES3, "--anchor", "base", "--exponents", "-1:1", "--sampler", "tpe",
        "--n-trials", "6", "--sampler-seed", "3", "--json",
    ).report()  # fmt: skip

    assert states(report) == ["COMPLETE"] * 6
    assert samplers_made == [("tpe", optuna.samplers.TPESampler)]
    for trial in report["trials"]:
        assert set(trial["exponents"].values()) <= {-1, 0, 1}
        assert_power_weights(trial, base=10.0, anchor="base")


def check_front(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The report's front against a dominance check of our own over every COMPLETE trial."""
    names = [o["name"] for o in report["objectives"]]
    directions = [o["direction"] for o in report["objectives"]]
    complete = [t for t in report["trials"] if t["state"] == "COMPLETE"]
    values = {t["number"]: [t["values"][n] for n in names] for t in complete}
    front = {b["number"] for b in report["best"]}
    assert front <= set(values)
    for number in values:
        beaten = any(dominates(values[o], values[number], directions) for o in values)
        assert (number in front) == (not beaten), (number, values[number])
    first = [b["values"][names[0]] for b in report["best"]]
    sign = 1.0 if directions[0] == "minimize" else -1.0
    assert [sign * v for v in first] == sorted(sign * v for v in first)
    return report["best"]


def test_two_objective_grid_reports_the_non_dominated_front(power_scale):
    report = power_scale(
        SCALES3, "--anchor", "base", "--exponents", "-1:1", "--sampler", "grid",
        "--objective", "nmse", "--objective", "nmse_big", "--json",
    ).report()  # fmt: skip

    assert [o["name"] for o in report["objectives"]] == ["nmse", "nmse_big"]
    assert states(report) == ["COMPLETE"] * 9
    front = check_front(report)
    assert 1 <= len(front) < 9


def test_two_objective_front_matches_hand_computed_one(power_scale):
    # score = (e_big+1)^2 + (e_small-1)^2, cost = |e_big| + |e_small| over the 3x3 grid:
    # the front is (-1,1) s0 c2, (-1,0) s1 c1, (0,1) s1 c1, (0,0) s2 c0; the rest are dominated.
    report = power_scale(
        ANALYTIC, "--exponents", "-1:1", "--objective", "score", "--objective", "cost", "--json"
    ).report()

    front = check_front(report)
    by_number = {t["number"]: t for t in report["trials"]}
    assert [by_number[b["number"]]["exponents"] for b in front] == [
        {"big": -1, "small": 1},
        {"big": -1, "small": 0},
        {"big": 0, "small": 1},
        {"big": 0, "small": 0},
    ]
    assert [(b["values"]["score"], b["values"]["cost"]) for b in front] == [
        (0.0, 2.0),
        (1.0, 1.0),
        (1.0, 1.0),
        (2.0, 0.0),
    ]


# --- sampler choice ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "chosen", "n_trials"),
    [
        ((), "grid", 9),
        (("--n-trials", "9"), "grid", 9),
        (("--n-trials", "20"), "grid", 9),
        (("--n-trials", "4"), "tpe", 4),
        (("--n-trials", "4", "--continuous"), "tpe", 4),
    ],
)
def test_default_sampler_is_grid_when_it_fits_the_budget(
    power_scale, samplers_made, extra, chosen, n_trials
):
    report = power_scale(ANALYTIC, "--exponents", "-1:1", *extra, "--json").report()

    assert [name for name, _ in samplers_made] == [chosen]
    assert states(report) == ["COMPLETE"] * n_trials
    if chosen == "grid":
        # The grid runs every point once, in its fixed order (first scaled loss slowest).
        assert exponents_of(report) == GRID_3x3


def test_default_sampler_over_budget_proposes_what_explicit_tpe_proposes(power_scale):
    common = ("--exponents", "-2:2", "--n-trials", "6", "--sampler-seed", "11", "--json")
    default = power_scale(ANALYTIC, *common, "--study", "default").report()
    tpe = power_scale(ANALYTIC, *common, "--study", "tpe", "--sampler", "tpe").report()
    grid = power_scale(ANALYTIC, *common, "--study", "grid", "--sampler", "grid").report()

    assert exponents_of(default) == exponents_of(tpe)
    assert exponents_of(grid) == [{"big": -2, "small": s} for s in (-2, -1, 0, 1, 2)] + [
        {"big": -1, "small": -2}
    ]
    assert exponents_of(default) != exponents_of(grid)


SAMPLER_CLASSES = {
    "tpe": optuna.samplers.TPESampler,
    "cmaes": optuna.samplers.CmaEsSampler,
    "gp": optuna.samplers.GPSampler,
    "random": optuna.samplers.RandomSampler,
}


@pytest.mark.parametrize("sampler", list(SAMPLER_CLASSES))
def test_explicit_sampler_runs_the_requested_trials_in_range(power_scale, samplers_made, sampler):
    # GP and TPE sample at random for their first 10 trials: 12 lets GP fit its model twice.
    n_trials = 12 if sampler == "gp" else 8
    report = power_scale(
        ANALYTIC, "--exponents", "-2:1", "--sampler", sampler, "--n-trials", str(n_trials),
        "--sampler-seed", "5", "--json",
    ).report()  # fmt: skip

    assert samplers_made == [(sampler, SAMPLER_CLASSES[sampler])]
    assert states(report) == ["COMPLETE"] * n_trials
    for trial in report["trials"]:
        for n in trial["exponents"].values():
            assert isinstance(n, int)
            assert -2 <= n <= 1
        assert_power_weights(trial, base=10.0, anchor="base")
    [best] = report["best"]
    assert best["values"]["score"] == min(t["values"]["score"] for t in report["trials"])


def test_continuous_tpe_gives_real_valued_exponents(power_scale):
    report = power_scale(
        ANALYTIC, "--exponents", "-2:1", "--continuous", "--sampler", "tpe", "--n-trials", "8",
        "--sampler-seed", "2", "--json",
    ).report()  # fmt: skip

    assert states(report) == ["COMPLETE"] * 8
    values = [n for t in report["trials"] for n in t["exponents"].values()]
    assert all(isinstance(n, float) and -2.0 <= n <= 1.0 for n in values)
    assert sum(1 for n in values if n != round(n)) >= len(values) - 1
    for trial in report["trials"]:
        assert_power_weights(trial, base=10.0, anchor="base")


def test_raw_weights_are_base_to_the_n_with_the_anchor_at_1(power_scale):
    report = power_scale(
        ANALYTIC, "--anchor", "small", "--base", "2", "--exponents", "-2:1", "--json"
    ).report()

    assert states(report) == ["COMPLETE"] * 16
    assert {json.dumps(e, sort_keys=True) for e in exponents_of(report)} == {
        json.dumps({"base": b, "big": g}, sort_keys=True)
        for b, g in itertools.product(range(-2, 2), repeat=2)
    }
    for trial in report["trials"]:
        assert_power_weights(trial, base=2.0, anchor="small")
    # By hand: base 2**-2, big 2**1, small 1 -> raw sum 3.25.
    trial = next(t for t in report["trials"] if t["exponents"] == {"base": -2, "big": 1})
    assert trial["raw_weights"] == {"base": 0.25, "big": 2.0, "small": 1.0}
    assert trial["weights"] == pytest.approx({"base": 1 / 13, "big": 8 / 13, "small": 4 / 13})


def test_default_anchor_is_the_first_loss(power_scale):
    report = power_scale(ANALYTIC, "--exponents", "0:1", "--json").report()

    assert report["study"] == "analytic-power-scale"
    assert states(report) == ["COMPLETE"] * 4
    for trial in report["trials"]:
        assert set(trial["exponents"]) == {"big", "small"}
        assert_power_weights(trial, base=10.0, anchor="base")


def test_seeds_run_every_point_with_each_seed(power_scale):
    report = power_scale(ANALYTIC, "--exponents", "0:1", "--seeds", "2", "--json").report()

    assert states(report) == ["COMPLETE"] * 4
    assert all(sorted(t["seeds"]) == [0, 1] for t in report["trials"])


# --- pruning -------------------------------------------------------------------------------


def is_bad(trial: dict[str, Any]) -> bool:
    """The curves task's bad trials: big weighs more than base."""
    return trial["raw_weights"]["big"] > trial["raw_weights"]["base"]


def expected_median_states(report: dict[str, Any]) -> list[str]:
    """What MedianPruner(n_startup_trials=5, n_warmup_steps=1) must decide, trial by trial.

    Good trials report 0.0, bad ones 11.0, at every step. A bad trial is pruned at step 1 once
    5 trials have completed, unless the median of the completed trials is also 11.0 (more than
    half of them bad).
    """
    expected = []
    complete_good = complete_bad = 0
    for trial in report["trials"]:
        completes = complete_good + complete_bad
        if is_bad(trial) and completes >= 5 and 2 * complete_bad <= completes:
            expected.append("PRUNED")
            continue
        expected.append("COMPLETE")
        complete_bad += is_bad(trial)
        complete_good += not is_bad(trial)
    return expected


@pytest.mark.parametrize(
    ("sampler", "pruner"),
    [("random", "median"), ("tpe", "median")],
)
def test_median_pruner_stops_bad_curves_only(power_scale, sampler, pruner):
    args = ["--exponents", "-1:1", "--sampler", sampler, "--n-trials", "14"]
    args += ["--sampler-seed", "0", "--json", "--pruner", pruner]
    report = power_scale(CURVES, *args).report()

    assert states(report) == expected_median_states(report)
    pruned = [t for t in report["trials"] if t["state"] == "PRUNED"]
    assert len(pruned) >= 2
    assert all(is_bad(t) for t in pruned)
    assert all(t["values"] == {} for t in pruned)
    [best] = report["best"]
    assert best["number"] not in {t["number"] for t in pruned}
    assert best["values"]["score"] == min(
        t["values"]["score"] for t in report["trials"] if t["state"] == "COMPLETE"
    )
    assert best["values"]["score"] < 100.0


def test_pruner_none_prunes_nothing(power_scale):
    report = power_scale(
        CURVES, "--exponents", "-1:1", "--sampler", "random", "--n-trials", "14",
        "--sampler-seed", "0", "--pruner", "none", "--json",
    ).report()  # fmt: skip

    # The space has 9 points: each is trained once, then the search ends (budget 14).
    assert states(report) == ["COMPLETE"] * 9
    # The same trials that --pruner median stops (see above) run to the end here.
    assert sum(is_bad(t) for t in report["trials"][5:]) >= 2


def test_grid_prunes_nothing_by_default(power_scale):
    report = power_scale(CURVES, "--exponents", "-1:1", "--json").report()

    assert states(report) == ["COMPLETE"] * 9
    assert sum(is_bad(t) for t in report["trials"]) == 3
    [best] = report["best"]
    # (-1, 1) and (0, 1) tie at 0.0; the earlier trial, (-1, 1), is the best.
    assert best["raw_weights"] == {"base": 1.0, "big": 0.1, "small": 10.0}
    assert best["values"]["score"] == 0.0


def test_multi_objective_does_not_prune_and_says_so(power_scale):
    result = power_scale(
        CURVES, "--exponents", "-1:1", "--sampler", "random", "--n-trials", "12",
        "--sampler-seed", "0", "--pruner", "median", "--objective", "score",
        "--objective", "other", "--json",
    )  # fmt: skip
    report = result.report()

    assert states(report) == ["COMPLETE"] * 9  # every point of the space once (budget 12)
    assert "all 9 points of the space are trained" in result.err
    assert sum(is_bad(t) for t in report["trials"][5:]) >= 2
    assert "multi-objective studies don't prune" in result.err
    assert "--pruner" in result.err
    check_front(report)


# --- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (("--anchor", "nope"), ["--anchor", "nope", "base, big, small"]),
        (("--base=0",), ["--base", "0"]),
        (("--base=-2",), ["--base", "-2"]),
        (("--base", "1"), ["--base", "1"]),
        (("--exponents", "2:1"), ["--exponents", "2:1"]),
        (("--exponents", "a:b"), ["--exponents", "a:b"]),
        (("--exponents", "1.5:2"), ["--exponents", "1.5:2"]),
        (("--exponents", "3"), ["--exponents"]),
        (("--sampler", "nsga"), ["--sampler", "nsga"]),
        (("--continuous", "--sampler", "grid"), ["--continuous", "grid"]),
        (("--sampler", "tpe"), ["--n-trials"]),
        (("--sampler", "random"), ["--n-trials"]),
        (
            (
                "--sampler",
                "cmaes",
                "--n-trials",
                "5",
                "--objective",
                "score",
                "--objective",
                "cost",
            ),
            ["cmaes", "objective"],
        ),
        (("--pruner", "sometimes", "--sampler", "tpe", "--n-trials", "5"), ["--pruner"]),
    ],
)
def test_bad_input_exits_2_with_a_plain_message(power_scale, storage, args, names):
    result = power_scale(ANALYTIC, *args)

    assert result.code == 2, (result.out, result.err)
    assert result.out == ""
    lines = result.err.strip().splitlines()
    assert 1 <= len(lines) <= 2, result.err
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.err
    for name in names:
        assert name in result.err
    # Nothing ran: no study with trials was left behind.
    summaries = optuna.get_all_study_summaries(storage) if _db_exists(storage) else []
    assert all(s.n_trials == 0 for s in summaries)


def _db_exists(url: str) -> bool:
    return Path(url.removeprefix("sqlite:///")).exists()


@pytest.mark.parametrize(
    "changed",
    [
        ("--exponents", "-1:1"),
        ("--base", "2"),
        ("--anchor", "small"),
        ("--continuous", "--sampler", "tpe", "--n-trials", "4"),
    ],
)
def test_resuming_with_another_space_stops_instead_of_mixing(power_scale, changed):
    power_scale(ANALYTIC, "--exponents", "0:1", "--json").report()
    result = power_scale(ANALYTIC, "--exponents", "0:1", *changed, "--json")

    assert result.code == 2, (result.out, result.err)
    assert result.err.startswith("error: ")
    assert len(result.err.strip().splitlines()) <= 2
    again = power_scale(ANALYTIC, "--exponents", "0:1", "--json").report()
    assert len(again["trials"]) == 4


def test_timeout_alone_is_a_budget_for_tpe(power_scale):
    report = power_scale(
        ANALYTIC, "--exponents", "-1:1", "--sampler", "tpe", "--timeout", "0.5", "--json"
    ).report()

    assert len(report["trials"]) >= 1
    assert set(states(report)) == {"COMPLETE"}
    assert not math.isnan(report["best"][0]["values"]["score"])


@pytest.mark.parametrize("sampler", ["grid", "tpe"])
def test_trials_show_their_weights_beside_the_exponents_they_search(power_scale, storage, sampler):
    args = ("--exponents", "-1:1", "--sampler", sampler, "--n-trials", "4", "--json")
    report = power_scale(ANALYTIC, *args, "--sampler-seed", "1").report()
    study = optuna.load_study(study_name=report["study"], storage=storage)
    # Answered repeats are listed apart from the trials that trained: pair them by number.
    trials = {t.number: t for t in study.trials}
    assert report["trials"]
    for entry in report["trials"]:
        trial = trials[entry["number"]]
        # The weights are user attrs for optuna-dashboard; the parameters stay the sampler's space.
        assert set(trial.params) == {f"n_{loss}" for loss in entry["exponents"]}
        shown = {k.removeprefix("w_"): v for k, v in trial.user_attrs.items() if k[:2] == "w_"}
        assert shown == pytest.approx(entry["weights"])
        assert sum(shown.values()) == pytest.approx(1.0)
