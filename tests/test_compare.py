"""``weightsearch compare`` end to end: issue 5's acceptance on an outsider's task, the statistics
of the report against SciPy (paired by seed, Holm-corrected), the significance wording, the
multi-objective dominance note, resume, what trials record, and every bad input.

Tasks live in tests/tasks/compare: ``regress3.py`` is a real three-regression task (scales
1 : 10 : 0.1) on which tuned static weights beat equal weights by design; ``scripted.py`` trains
through the balancer like any task but returns metrics from a table, so that p-values and verdicts
are known in advance. Commands run in this process (``--in-process``) against a SQLite file of
the test's own.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import pytest
import torch
from scipy import stats as scipy_stats

from weightsearch import methods
from weightsearch.cli import main

TASKS = Path(__file__).parent / "tasks" / "compare"
REGRESS3 = str(TASKS / "regress3.py")
SCRIPTED = str(TASKS / "scripted.py")
OTHER_LOSSES = str(TASKS / "other_losses.py")
ADAPTIVE = ["equal", "uncertainty", "gradnorm", "mgda"]


def _load_scripted() -> Any:
    """The scripted task's module, for its tables of expected metrics."""
    spec = importlib.util.spec_from_file_location("_compare_scripted_tables", SCRIPTED)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_scripted = _load_scripted()
TABLES: dict[str, dict[str, list[tuple[float, float]]]] = _scripted.TABLES
STEPS: int = _scripted.STEPS
LEARNING_RATE: float = _scripted.LEARNING_RATE


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    def error(self) -> str:
        """Check the contract of bad input (exit 2, one or two ``error:`` lines, no traceback)."""
        assert self.code == 2, (self.code, self.out, self.err)
        lines = self.err.strip().splitlines()
        assert lines, "nothing on stderr"
        assert lines[0].startswith("error: "), self.err
        assert 1 <= len(lines) <= 2, self.err
        assert "Traceback" not in self.out + self.err
        assert self.out == ""
        return self.err


def invoke(*args: str | Path) -> Result:
    """Run ``weightsearch ARGS...`` in this process, capturing its stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main([str(a) for a in args])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        else:
            code = 0
    return Result(code, out.getvalue(), err.getvalue())


Runner = Callable[..., Result]


def make_runner(url: str) -> Runner:
    """``run("compare", TASK, ...)``: a running command on ``url``, trials in this process."""

    def run(command: str, *args: str | Path) -> Result:
        return invoke(command, *args, "--storage", url, "--in-process")

    return run


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Runner:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("WEIGHTSEARCH_STORAGE", raising=False)
    return make_runner(f"sqlite:///{tmp_path / 'x.db'}")


@pytest.fixture
def url(run: Runner, tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'x.db'}"


# -- expected values, computed independently of weightsearch --------------------------------------


def holm(pvalues: Mapping[str, float]) -> dict[str, float]:
    """Holm-Bonferroni step-down adjustment, written from its definition."""
    ordered = sorted(pvalues.items(), key=lambda item: item[1])
    m = len(ordered)
    adjusted: dict[str, float] = {}
    highest = 0.0
    for k, (name, p) in enumerate(ordered):
        highest = max(highest, min(1.0, (m - k) * p))
        adjusted[name] = highest
    return adjusted


def values_by_seed(report: dict[str, Any], metric: str) -> dict[str, dict[int, float]]:
    """Each contender's metric per seed, read from the COMPLETE trials of the JSON report."""
    table: dict[str, dict[int, float]] = {}
    for trial in report["trials"]:
        if trial["state"] == "COMPLETE":
            seeds = table.setdefault(trial["method"], {})
            assert trial["seed"] not in seeds, f"{trial['method']} ran seed {trial['seed']} twice"
            seeds[trial["seed"]] = trial["values"][metric]
    return table


def expected_p_vs_equal(report: dict[str, Any], metric: str) -> dict[str, float | None]:
    """SciPy's paired t-test against equal over the shared seeds, Holm-adjusted over the others."""
    table = values_by_seed(report, metric)
    raw: dict[str, float] = {}
    for name, seeds in table.items():
        shared = sorted(set(seeds) & set(table["equal"]))
        if name == "equal" or len(shared) < 2:
            continue
        result = scipy_stats.ttest_rel(
            [seeds[s] for s in shared], [table["equal"][s] for s in shared]
        )
        raw[name] = float(result.pvalue)
    adjusted = holm(raw)
    return {name: adjusted.get(name) for name in table}


def by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["name"]: m for m in report["methods"]}


def assert_p_vs_equal(report: dict[str, Any], metric: str) -> dict[str, float | None]:
    expected = expected_p_vs_equal(report, metric)
    got = {name: m["p_vs_equal"][metric] for name, m in by_name(report).items()}
    assert set(got) == set(expected)
    for name, p in expected.items():
        if p is None:
            assert got[name] is None, name
        else:
            assert got[name] == pytest.approx(p, rel=1e-6, abs=1e-12), name
    return expected


def dominated(
    point: Sequence[float], front: Sequence[Sequence[float]], signs: Sequence[int]
) -> bool:
    """Whether some front point is no worse everywhere and better somewhere (sign +1: maximize)."""
    for other in front:
        no_worse = all(s * o >= s * p for o, p, s in zip(other, point, signs, strict=True))
        better = any(s * o > s * p for o, p, s in zip(other, point, signs, strict=True))
        if no_worse and better:
            return True
    return False


def pairs(report: dict[str, Any]) -> list[tuple[str, int]]:
    return sorted((t["method"], t["seed"]) for t in report["trials"])


# -- acceptance: an outsider's three-regression task ---------------------------------------------


@pytest.fixture(scope="module")
def acceptance(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """grid --multipliers 1,4 --study g, then compare --static g --seeds 3 --json, on regress3."""
    folder = tmp_path_factory.mktemp("acceptance")
    url = f"sqlite:///{folder / 'x.db'}"
    run = make_runner(url)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        patch.delenv("WEIGHTSEARCH_STORAGE", raising=False)
        grid = run("grid", REGRESS3, "--multipliers", "1,4", "--study", "g", "--json")
        compare = run(
            "compare",
            REGRESS3,
            "--methods",
            ",".join(ADAPTIVE),
            "--static",
            "g",
            "--seeds",
            "3",
            "--json",
        )
    return {"grid": grid, "compare": compare, "url": url}


def test_acceptance_compare_completes_with_three_seeds_per_contender(acceptance):
    grid, compare = acceptance["grid"], acceptance["compare"]
    assert grid.code == 0, grid.err
    assert [t["state"] for t in grid.json()["trials"]] == ["COMPLETE"] * 7
    assert compare.code == 0, compare.err
    assert "Traceback" not in compare.err
    report = compare.json()
    assert report["kind"] == "compare"
    assert report["losses"] == ["x", "y", "z"]
    assert report["objectives"] == [{"name": "nmse", "direction": "minimize"}]
    names = [m["name"] for m in report["methods"]]
    assert sorted(names) == sorted([*ADAPTIVE, "static:g"])
    assert [t["state"] for t in report["trials"]] == ["COMPLETE"] * 15
    assert pairs(report) == sorted((n, s) for n in names for s in range(3))
    table = values_by_seed(report, "nmse")
    for method in report["methods"]:
        assert method["n"] == 3, method
        values = list(table[method["name"]].values())
        mean = method["mean"]["nmse"]
        low, high = method["ci95"]["nmse"]
        assert mean == pytest.approx(sum(values) / 3, rel=1e-9)
        assert low < mean < high, method
        sem = scipy_stats.sem(values)
        assert (low, high) == pytest.approx(
            scipy_stats.t.interval(0.95, 2, loc=sum(values) / 3, scale=sem), rel=1e-6
        )
        assert method["std"]["nmse"] == pytest.approx(sem * math.sqrt(3), rel=1e-6)
        assert method["seconds"] > 0
    means = [m["mean"]["nmse"] for m in report["methods"]]
    assert means == sorted(means), "ranked best first by the first objective (minimize)"


def test_acceptance_static_contender_beats_equal_on_every_seed(acceptance):
    grid, report = acceptance["grid"].json(), acceptance["compare"].json()
    best_grid = grid["best"][0]["weights"]
    # The task is built so that 4 : 1 on x against y is what helps; the grid must find that.
    assert best_grid["x"] == pytest.approx(4 * best_grid["y"])
    static = next(t for t in report["trials"] if t["method"] == "static:g")
    assert static["weights"] == pytest.approx(best_grid)
    table = values_by_seed(report, "nmse")
    for seed in range(3):
        # equal ends near 2/3 (x unlearnt), the static weights near 1/3 (y's minor output lost).
        assert table["static:g"][seed] < table["equal"][seed] - 0.15, (seed, table)
    methods_ = by_name(report)
    assert methods_["static:g"]["mean"]["nmse"] < methods_["equal"]["mean"]["nmse"] - 0.2
    assert methods_["static:g"]["ci95"]["nmse"][1] < methods_["equal"]["ci95"]["nmse"][0]


def test_acceptance_p_values_are_scipy_paired_tests_holm_adjusted(acceptance):
    report = acceptance["compare"].json()
    expected = assert_p_vs_equal(report, "nmse")
    assert expected["equal"] is None
    assert all(expected[n] is not None for n in ["uncertainty", "gradnorm", "mgda", "static:g"])


def test_acceptance_trials_store_final_weights_and_trajectories(acceptance):
    report = acceptance["compare"].json()
    study = optuna.load_study(study_name="regress3-compare", storage=acceptance["url"])
    stored = {t.number: t for t in study.get_trials(deepcopy=False)}
    for trial in report["trials"]:
        run_info = stored[trial["number"]].user_attrs["run"]
        ((seed, trajectory),) = run_info["trajectories"].items()
        assert int(seed) == trial["seed"]
        # regress3 reports at steps 19, 39, 59, 79; the last report follows the last step.
        assert [step for step, _ in trajectory] == [19, 39, 59, 79]
        assert trial["weights"] == pytest.approx(trajectory[-1][1], rel=1e-12)
        if trial["method"] in ("uncertainty", "gradnorm"):
            # Learnt weights move away from where they start, and the report shows the end.
            assert trial["weights"] == pytest.approx(run_info["final_weights"][seed])
            assert trial["weights"] != pytest.approx({"x": 1.0, "y": 1.0, "z": 1.0}, rel=1e-3)
        if trial["method"] == "equal":
            assert trial["weights"] == {"x": 1.0, "y": 1.0, "z": 1.0}


# -- statistics: pairing by seed, Holm, null p ----------------------------------------------------


@pytest.mark.parametrize("scenario", ["clear", "noisy"])
def test_p_vs_equal_is_scipy_ttest_rel_then_holm(run, scenario):
    result = run("compare", SCRIPTED, "--seeds", "3", "--param", f"scenario={scenario}", "--json")
    assert result.code == 0, result.err
    report = result.json()
    methods_ = by_name(report)
    for name in ADAPTIVE:
        assert methods_[name]["n"] == 3
        assert [methods_[name]["mean"][k] for k in ("score", "cost")] == pytest.approx(
            [sum(v[i] for v in TABLES[scenario][name]) / 3 for i in (0, 1)]
        )
    assert pairs(report) == sorted((n, s) for n in ADAPTIVE for s in range(3))
    for metric in ("score", "cost"):
        assert_p_vs_equal(report, metric)
        assert methods_["equal"]["p_vs_equal"][metric] is None
    if scenario == "clear":
        # By hand: differences to equal of 1.0, 1.1, 0.9 (t = 17.32), -0.5, -0.3, -0.4
        # (t = -6.93) and 0.1, -0.1, 0.3 (t = 0.866), two degrees of freedom; Holm multiplies
        # the smallest p by 3, the next by 2.
        p = {n: methods_[n]["p_vs_equal"]["score"] for n in ADAPTIVE[1:]}
        assert p == pytest.approx(
            {"uncertainty": 0.00996, "mgda": 0.04041, "gradnorm": 0.4778}, abs=5e-4
        )


def test_pairing_is_by_seed_when_a_seed_failed(run):
    """gradnorm fails on seed 1: its seeds 0 and 2 pair with equal's seeds 0 and 2, not 0 and 1."""
    result = run("compare", SCRIPTED, "--seeds", "3", "--param", "fail=gradnorm:1", "--json")
    assert result.code == 0, result.err
    report = result.json()
    failed = [t for t in report["trials"] if t["state"] == "FAIL"]
    assert [(t["method"], t["seed"]) for t in failed] == [("gradnorm", 1)]
    assert "scripted failure of gradnorm on seed 1" in failed[0]["error"]
    methods_ = by_name(report)
    assert methods_["gradnorm"]["n"] == 2
    assert methods_["gradnorm"]["mean"]["score"] == pytest.approx((1.1 + 3.3) / 2)
    expected = assert_p_vs_equal(report, "score")
    gradnorm, equal = TABLES["clear"]["gradnorm"], TABLES["clear"]["equal"]
    by_seed = scipy_stats.ttest_rel([gradnorm[0][0], gradnorm[2][0]], [equal[0][0], equal[2][0]])
    by_position = scipy_stats.ttest_rel(
        [gradnorm[0][0], gradnorm[2][0]], [equal[0][0], equal[1][0]]
    )
    assert by_seed.pvalue != pytest.approx(by_position.pvalue, rel=1e-2)  # the check can tell
    raw = {"gradnorm": by_seed.pvalue}
    for name in ("uncertainty", "mgda"):
        raw[name] = scipy_stats.ttest_rel(
            [v[0] for v in TABLES["clear"][name]], [v[0] for v in equal]
        ).pvalue
    assert expected["gradnorm"] == pytest.approx(holm(raw)["gradnorm"], rel=1e-9)


def test_p_vs_equal_is_null_with_fewer_than_two_pairs(run):
    # gradnorm keeps one seed: no test for it, and Holm then counts two tests, not three.
    result = run(
        "compare",
        SCRIPTED,
        "--seeds",
        "3",
        "--param",
        "fail=gradnorm:1;gradnorm:2",
        "--json",
    )
    assert result.code == 0, result.err
    report = result.json()
    methods_ = by_name(report)
    assert methods_["gradnorm"]["n"] == 1
    assert methods_["gradnorm"]["p_vs_equal"] == {"score": None, "cost": None}
    equal = [v[0] for v in TABLES["clear"]["equal"]]
    raw = {
        name: scipy_stats.ttest_rel([v[0] for v in TABLES["clear"][name]], equal).pvalue
        for name in ("uncertainty", "mgda")
    }
    for name, p in holm(raw).items():
        assert methods_[name]["p_vs_equal"]["score"] == pytest.approx(p, rel=1e-6)
    assert_p_vs_equal(report, "score")


def test_one_seed_gives_null_p_values_and_says_no_test_is_possible(run):
    result = run("compare", SCRIPTED, "--seeds", "1", "--json")
    assert result.code == 0, result.err
    report = result.json()
    assert pairs(report) == sorted((n, 0) for n in ADAPTIVE)
    for method in report["methods"]:
        assert method["n"] == 1
        assert method["p_vs_equal"] == {"score": None, "cost": None}
        mean = method["mean"]["score"]
        assert method["ci95"]["score"] == [mean, mean]
    assert "fewer than 2 seeds" in report["verdicts"][0]
    assert "is better than" not in report["verdicts"][0]


# -- the table's wording --------------------------------------------------------------------------


def verdict_lines(table: str) -> list[str]:
    return [" ".join(line.split()) for line in table.splitlines() if "'equal'" in line]


def test_table_says_is_better_than_when_the_best_is_significant(run):
    result = run("compare", SCRIPTED, "--seeds", "3", "--param", "scenario=clear")
    assert result.code == 0, result.err
    lines = verdict_lines(result.out)
    assert len(lines) == 1, result.out
    assert lines[0].startswith("'uncertainty' is better than 'equal' on score")
    assert "Holm-adjusted p = 0.010 < 0.05" in lines[0]
    assert "within noise" not in result.out
    row = next(line for line in result.out.splitlines() if "uncertainty" in line and "│" in line)
    assert "0.010*" in row
    gradnorm = next(line for line in result.out.splitlines() if "gradnorm" in line and "│" in line)
    assert "0.478" in gradnorm
    assert "0.478*" not in gradnorm


def test_table_says_within_noise_when_the_best_is_not_significant(run):
    result = run("compare", SCRIPTED, "--seeds", "3", "--param", "scenario=noisy")
    assert result.code == 0, result.err
    lines = verdict_lines(result.out)
    assert len(lines) == 1, result.out
    assert lines[0].startswith(
        "'uncertainty' has the best mean score, but it is within noise of 'equal'"
    )
    assert "is better than" not in result.out
    ranked = [
        cells[2].strip()
        for line in result.out.splitlines()
        if line.startswith("│") and (cells := line.split("│"))[1].strip().isdigit()
    ]
    assert ranked == ["uncertainty", "gradnorm", "equal", "mgda"]


# -- several objectives: dominated by the static front --------------------------------------------


@pytest.mark.filterwarnings("ignore:Precision loss occurred:RuntimeWarning")
def test_multi_objective_compare_says_which_methods_the_static_front_dominates(run):
    objectives = ["--objective", "score", "--objective", "cost"]
    grid = run("grid", SCRIPTED, "--multipliers", "1,4", "--study", "g2", *objectives)
    assert grid.code == 0, grid.err
    result = run(
        "compare", SCRIPTED, "--static", "g2", "--param", "scenario=pareto", *objectives, "--json"
    )
    assert result.code == 0, result.err
    report = result.json()
    methods_ = by_name(report)
    static = sorted(n for n in methods_ if n.startswith("static:"))
    assert static == ["static:g2#1", "static:g2#2", "static:g2#3"]
    front = [[methods_[n]["mean"]["score"], methods_[n]["mean"]["cost"]] for n in static]
    assert sorted(front) == [[2.0, 2.0], [5.0, 5.0], [8.0, 8.0]]
    ours = {}
    for name in ADAPTIVE:
        point = [methods_[name]["mean"]["score"], methods_[name]["mean"]["cost"]]
        ours[name] = dominated(point, front, signs=[1, -1])
        assert methods_[name]["dominated_by_static"] is ours[name], name
    assert ours == {"equal": True, "uncertainty": False, "gradnorm": False, "mgda": True}
    for name in static:
        assert "dominated_by_static" not in methods_[name]
    for metric in ("score", "cost"):
        assert_p_vs_equal(report, metric)

    table = run("compare", SCRIPTED, "--static", "g2", "--param", "scenario=pareto", *objectives)
    assert table.code == 0, table.err
    assert "score ↑" in table.out
    assert "cost ↓" in table.out
    assert "dominated by static" in table.out
    rows = {
        cells[2].strip(): cells[-3].strip()
        for line in table.out.splitlines()
        if line.startswith("│") and (cells := line.split("│"))[1].strip().isdigit()
    }
    assert {n: rows[n] for n in ADAPTIVE} == {
        "equal": "yes",
        "uncertainty": "no",
        "gradnorm": "no",
        "mgda": "yes",
    }


# -- resume ----------------------------------------------------------------------------------------


def test_rerunning_the_same_compare_adds_no_trials(run, url):
    args = ("compare", SCRIPTED, "--seeds", "3", "--study", "c", "--json")
    first = run(*args)
    assert first.code == 0, first.err
    second = run(*args)
    assert second.code == 0, second.err
    assert second.json()["trials"] == first.json()["trials"]
    assert second.json()["methods"] == [
        {**m, "seconds": pytest.approx(m["seconds"])} for m in first.json()["methods"]
    ]
    assert len(optuna.load_study(study_name="c", storage=url).trials) == 12


def test_a_stopped_compare_resumes_to_every_method_and_seed(run, url):
    args = ("compare", SCRIPTED, "--seeds", "3", "--study", "c", "--json")
    partial = run(*args, "--n-trials", "5")
    assert partial.code == 0, partial.err
    assert len(partial.json()["trials"]) == 5
    assert all(m["n"] <= 2 for m in partial.json()["methods"])
    resumed = run(*args)
    assert resumed.code == 0, resumed.err
    report = resumed.json()
    assert [t["state"] for t in report["trials"]] == ["COMPLETE"] * 12
    assert pairs(report) == sorted((n, s) for n in ADAPTIVE for s in range(3))
    first_five = {(t["method"], t["seed"]) for t in partial.json()["trials"]}
    assert first_five <= set(pairs(report))
    assert all(m["n"] == 3 for m in report["methods"])
    assert_p_vs_equal(report, "score")
    assert run(*args).json()["trials"] == report["trials"]


def test_more_methods_and_seeds_extend_a_comparison_reusing_its_runs(run, url):
    args = ("compare", SCRIPTED, "--study", "c", "--json")
    first = run(*args, "--methods", "equal,mgda", "--seeds", "2")
    assert first.code == 0, first.err
    kept = {(t["method"], t["seed"]): t for t in first.json()["trials"]}

    grown = run(*args, "--methods", "equal,mgda,gradnorm", "--seeds", "3")
    assert grown.code == 0, grown.err
    report = grown.json()
    assert pairs(report) == sorted((n, s) for n in ("equal", "mgda", "gradnorm") for s in range(3))
    for trial in report["trials"]:
        if (trial["method"], trial["seed"]) in kept:
            assert trial == kept[(trial["method"], trial["seed"])]  # reused, not run again
    assert len(optuna.load_study(study_name="c", storage=url).trials) == 9
    shown = invoke("report", "c", "--storage", url, "--format", "markdown").out
    assert "--methods equal,mgda,gradnorm" in shown
    # The grown study is the stored one now: the same command resumes it without a new trial.
    assert run(*args, "--methods", "equal,mgda,gradnorm", "--seeds", "3").code == 0
    assert len(optuna.load_study(study_name="c", storage=url).trials) == 9


@pytest.mark.parametrize(
    "changed",
    [
        ["--methods", "equal", "--seeds", "2"],
        ["--methods", "equal,mgda", "--seeds", "1"],
        [
            "--methods",
            "equal,mgda,gradnorm",
            "--seeds",
            "2",
            "--method-arg",
            "mgda.normalization=l2",
        ],
    ],
    ids=["fewer methods", "fewer seeds", "changed method args"],
)
def test_fewer_contenders_or_changed_arguments_are_still_refused(run, changed):
    args = ("compare", SCRIPTED, "--study", "c", "--json")
    assert run(*args, "--methods", "equal,mgda", "--seeds", "2").code == 0
    assert "different definition" in run(*args, *changed).error()


# -- what a trial records --------------------------------------------------------------------------


def replay(method: str, seed: int, **hyperparameters: Any) -> list[tuple[int, dict[str, float]]]:
    """The weights scripted.py's loop reports, rebuilt here from the methods' Python API."""
    torch.manual_seed(seed)
    shared = torch.zeros(1, requires_grad=True)
    balancer = methods.create(method, losses=["a", "b"], shared=[shared], **hyperparameters)
    trajectory = []
    for step in range(STEPS):
        losses = {"a": ((shared - 1.0) ** 2).sum(), "b": (4.0 * (shared + 1.0) ** 2).sum()}
        balancer.backward(losses)
        with torch.no_grad():
            shared -= LEARNING_RATE * shared.grad
        shared.grad = None
        trajectory.append((step, dict(balancer.weights)))
    return trajectory


def test_trials_record_the_final_weights_and_the_weight_trajectory(run, url):
    result = run("compare", SCRIPTED, "--seeds", "2", "--study", "c", "--json")
    assert result.code == 0, result.err
    report = result.json()
    stored = {t.number: t for t in optuna.load_study(study_name="c", storage=url).trials}
    for trial in report["trials"]:
        expected = replay(trial["method"], trial["seed"])
        attrs = stored[trial["number"]].user_attrs
        trajectory = attrs["run"]["trajectories"][str(trial["seed"])]
        assert [step for step, _ in trajectory] == list(range(STEPS))
        for (_, got), (_, want) in zip(trajectory, expected, strict=True):
            assert got == pytest.approx(want, rel=1e-6), trial["method"]
        # The report's weights of a compare trial are those the method ended with.
        assert trial["weights"] == pytest.approx(expected[-1][1], rel=1e-6), trial["method"]
        assert attrs["run"]["seconds"] > 0
    moved = {t["method"] for t in report["trials"] if t["weights"] != {"a": 1.0, "b": 1.0}}
    assert {"uncertainty", "gradnorm", "mgda"} <= moved
    assert "equal" not in moved


# -- bad input -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def studies(tmp_path_factory: pytest.TempPathFactory) -> tuple[Runner, str]:
    """A storage that holds 'empty' (a grid with no completed trial), 'other' (a grid of a task
    with other losses), 'done' (a compare study) and 'good' (a grid of the scripted task).

    Shared by the bad-input cases, which must leave it as it is.
    """
    folder = tmp_path_factory.mktemp("studies")
    url = f"sqlite:///{folder / 'x.db'}"
    run = make_runner(url)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        patch.delenv("WEIGHTSEARCH_STORAGE", raising=False)
        assert run("grid", SCRIPTED, "--study", "empty", "--param", "fail=all").code == 1
        assert run("grid", OTHER_LOSSES, "--study", "other", "--multipliers", "1").code == 0
        done = run("compare", SCRIPTED, "--study", "done", "--methods", "equal", "--seeds", "1")
        assert done.code == 0
        assert run("grid", SCRIPTED, "--study", "good", "--multipliers", "1").code == 0
    return run, url


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--methods", "equal,nosuch"], ["nosuch", "equal", "uncertainty", "gradnorm", "mgda"]),
        (["--methods", "equal,static"], ["'static'", "--static"]),
        (["--methods", ""], ["--methods"]),
        (["--methods", "equal,mgda,equal"], ["twice"]),
        (["--seeds", "0"], ["--seeds must be at least 1", "0"]),
        (["--seeds", "-2"], ["--seeds must be at least 1"]),
        (["--static", "missing"], ["'missing'", "good"]),
        (["--static", "empty"], ["'empty'", "no completed trial"]),
        (["--static", "other"], ["'other'", "p, q", "a, b"]),
        (["--static", "done"], ["'done'", "grid or power-scale", "compare"]),
        (["--static", "good:0"], ["--static", "good:0"]),
        (["--method-arg", "mgda=l2"], ["METHOD.KEY=VALUE", "mgda=l2"]),
        (["--method-arg", "mgda.normalization"], ["METHOD.KEY=VALUE"]),
        (["--method-arg", "mgda.nosuch=1"], ["nosuch", "normalization"]),
        (["--method-arg", "mgda.normalization=bogus"], ["bogus", "none|l2|loss|loss+"]),
        (["--method-arg", "gradnorm.alpha=abc"], ["gradnorm.alpha", "abc"]),
        (["--method-arg", "nosuch.lr=1"], ["nosuch"]),
        (["--method-arg", "dwa.temperature=2"], ["dwa", "--methods"]),
        (
            ["--methods", "equal,uncertainty", "--method-arg", "uncertainty.lr=-1"],
            ["uncertainty.lr must be positive", "-1.0"],
        ),
        (
            ["--methods", "equal,torchjd:Nosuch"],
            ["torchjd", "Nosuch"],
        ),
    ],
)
def test_bad_input_exits_2_with_one_plain_error(studies, args, expected):
    run, url = studies
    result = run("compare", SCRIPTED, "--study", "bad", "--seeds", "2", *args)
    message = result.error()
    for fragment in expected:
        assert fragment in message, (fragment, message)
    names = {s.study_name for s in optuna.get_all_study_summaries(url)}
    assert "bad" not in names, "bad input must not leave a study behind"


def test_a_method_arg_reaches_its_method(run, url):
    args = ("compare", SCRIPTED, "--methods", "equal,gradnorm", "--seeds", "1", "--json")
    result = run(*args, "--method-arg", "gradnorm.lr=0.1")
    assert result.code == 0, result.err
    trial = next(t for t in result.json()["trials"] if t["method"] == "gradnorm")
    tuned = replay("gradnorm", 0, lr=0.1)[-1][1]
    default = replay("gradnorm", 0)[-1][1]
    assert tuned != pytest.approx(default, rel=1e-3)  # the lr matters on this task
    assert trial["weights"] == pytest.approx(tuned, rel=1e-6)


def test_a_changed_method_arg_is_refused_naming_what_changed(run):
    args = ("compare", SCRIPTED, "--methods", "equal,gradnorm", "--seeds", "1", "--study", "c")
    assert run(*args, "--method-arg", "gradnorm.alpha=0.5").code == 0
    message = run(*args, "--method-arg", "gradnorm.alpha=2").error()
    assert "alpha" in message
    assert "0.5" in message


def test_torchjd_aggregators_run_as_contenders(run):
    pytest.importorskip("torchjd")
    result = run(
        "compare",
        REGRESS3,
        "--methods",
        "equal,torchjd:PCGrad,torchjd:TrimmedMean",
        "--method-arg",
        "torchjd:TrimmedMean.trim_number=1",
        "--seeds",
        "2",
        "--json",
    )
    assert result.code == 0, result.err
    contenders = by_name(result.json())
    assert set(contenders) == {"equal", "torchjd:PCGrad", "torchjd:TrimmedMean"}
    assert all(contenders[name]["n"] == 2 for name in contenders)
    message = run("compare", REGRESS3, "--study", "t", "--methods", "torchjd:TrimmedMean").error()
    assert "torchjd:TrimmedMean takes (trim_number)" in message
    assert "--method-arg torchjd:TrimmedMean.ARG=VALUE" in message
