"""``weightsearch grid`` end to end: the acceptance check, bad input, failing trials, resume."""

from __future__ import annotations

import json
import math
import os
import subprocess
from pathlib import Path

import optuna
import pytest

from weightsearch import records
from weightsearch.spaces import sum_to_one_grid

PASSWORD_URL = "postgresql://u:s3cret@127.0.0.1:1/db"


@pytest.fixture
def echo(tasks_dir: Path) -> str:
    return str(tasks_dir / "echo.py")


def states(report: dict) -> list[str]:
    return [t["state"] for t in report["trials"]]


def weight_tuple(weights: dict, losses) -> tuple[float, ...]:
    return tuple(round(weights[name], 9) for name in losses)


def run_console_script(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "WEIGHTSEARCH_STORAGE"}
    return subprocess.run(
        ["weightsearch", *args],
        capture_output=True,
        text=True,
        cwd=workdir,
        env=env,
        timeout=180,
        check=False,
    )


def test_acceptance_three_losses_multipliers_1_2_4(cli, workdir, tasks_dir, sqlite_url):
    """The issue's acceptance check, first through the installed console script."""
    args = ["grid", str(tasks_dir / "three_losses.py"), "--multipliers", "1,2,4", "--json"]
    args += ["--storage", sqlite_url]

    first = run_console_script(workdir, *args)

    assert first.returncode == 0, first.stderr
    assert "Traceback" not in first.stderr
    report = json.loads(first.stdout)
    losses = ["cls", "box", "aux"]
    assert report["losses"] == losses
    assert states(report) == ["COMPLETE"] * 19
    expected = {weight_tuple(w, losses) for w in sum_to_one_grid(losses, [1, 2, 4])}
    got = [weight_tuple(t["weights"], losses) for t in report["trials"]]
    assert len(set(got)) == 19
    assert set(got) == expected
    for trial in report["trials"]:
        assert math.fsum(trial["weights"].values()) == pytest.approx(1.0, abs=1e-12)
        assert set(trial["values"]) == {"val_loss", "val_acc"}
        assert all(math.isfinite(v) for v in trial["values"].values())

    second = cli(*args)

    assert second.code == 0, second.err
    again = second.json()
    assert again["trials"] == report["trials"]
    assert again["best"] == report["best"]


BROKEN_SOURCE = "import weightsearch as ws\n\n\ndef train(run:\n    pass\n"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["missing.py"], "task file missing.py does not exist"),
        (["{echo}:nope"], "has no function 'nope'"),
        (["{tasks}/two_tasks.py"], "exactly one"),
        (["{tasks}/no_tasks.py:train"], "is not a weightsearch task"),
        (["wstest_nosuch.models:fit"], "no module or file named 'wstest_nosuch.models'"),
        (["broken.py"], "syntax error in {workdir}/broken.py line 4"),
        (["{echo}", "--vary", "a,zz"], "--vary names losses the task doesn't have: zz"),
        (["{echo}", "--vary", ""], "--vary is empty"),
        (["{echo}", "--base", "a=1,zz=2"], "--base names losses the task doesn't have: zz"),
        (["{echo}", "--base", "a=0"], "--base takes name=weight pairs with positive weights"),
        (["{echo}", "--base", "a"], "--base takes name=weight pairs"),
        (
            ["{echo}", "--multipliers=2,-4"],
            "--multipliers must be positive numbers, but got '2,-4'",
        ),
        (["{echo}", "--multipliers", "0,1"], "--multipliers must be positive numbers"),
        (["{echo}", "--multipliers", "1,x"], "--multipliers must be positive numbers"),
        (["{echo}", "--multipliers", ""], "--multipliers must be positive numbers"),
        (["{echo}", "--objective", "nope"], "--objective must be a metric the task declares"),
        (["{echo}", "--seeds", "0"], "--seeds must be at least 1"),
        (["{echo}", "--param", "lr"], "--param takes KEY=VALUE"),
        (["{echo}", "--storage", "notaurl"], "storage must be a URL"),
        (["{echo}", "--storage", "sqlite:///{workdir}/afile/x.db"], "can't open storage"),
        (["{echo}", "--no-such-option"], "No such option: --no-such-option"),
    ],
)
def test_bad_input_is_one_plain_error_with_exit_2(grid, workdir, tasks_dir, echo, args, expected):
    (workdir / "broken.py").write_text(BROKEN_SOURCE)
    (workdir / "afile").write_text("a file where a folder should be")
    names = {"echo": echo, "tasks": tasks_dir, "workdir": workdir}
    storage = ["--storage", f"sqlite:///{workdir / 'ok.db'}"]
    argv = [a.format(**names) for a in args]
    result = grid(*argv, *([] if "--storage" in argv else storage))
    message = result.assert_error(2)
    assert expected.format(**names) in message
    assert result.out == ""


def test_missing_task_argument_is_a_usage_error(cli):
    message = cli("grid").assert_error(2)
    assert "Missing argument" in message


@pytest.mark.parametrize("via", ["option", "environment"])
def test_unusable_storage_never_shows_its_password(grid, echo, monkeypatch, via):
    if via == "option":
        result = grid(echo, "--storage", PASSWORD_URL)
    else:
        monkeypatch.setenv("WEIGHTSEARCH_STORAGE", PASSWORD_URL)
        result = grid(echo)
    message = result.assert_error(2)
    assert "s3cret" not in result.out + result.err
    assert "postgresql://u:***@127.0.0.1:1/db" in message


def test_definition_mismatch_on_resume_stops_with_exit_2(grid, echo, sqlite_url):
    args = (echo, "--vary", "c", "--storage", sqlite_url)
    assert grid(*args, "--multipliers", "1,2").code == 0

    result = grid(*args, "--multipliers", "1,2,4")

    message = result.assert_error(2)
    assert "study 'echo-grid' was made with a different definition" in message
    assert "multipliers" in message
    assert "--study" in message
    study = optuna.load_study(study_name="echo-grid", storage=sqlite_url)
    assert len(study.trials) == 2


def test_another_objective_is_another_definition(grid, echo, sqlite_url):
    args = (echo, "--multipliers", "2", "--storage", sqlite_url)
    assert grid(*args).code == 0
    assert "objectives" in grid(*args, "--objective", "bonus").assert_error(2)


def test_a_new_study_name_starts_a_new_study(grid, echo, sqlite_url):
    assert grid(echo, "--multipliers", "2", "--storage", sqlite_url).code == 0
    result = grid(
        echo, "--multipliers", "1,3", "--vary", "c", "--study", "wider",
        "--storage", sqlite_url, "--json",
    )  # fmt: skip
    assert result.code == 0, result.err
    assert result.json()["study"] == "wider"
    assert states(result.json()) == ["COMPLETE"] * 2


def test_rerun_of_a_finished_study_adds_nothing_and_prints_the_result(grid, echo, sqlite_url):
    args = (echo, "--multipliers", "1,2", "--vary", "c", "--storage", sqlite_url)
    assert grid(*args).code == 0
    again = grid(*args)
    assert again.code == 0
    assert "echo-grid (grid)" in again.out
    assert "2 trials: 2 complete" in again.out
    study = optuna.load_study(study_name="echo-grid", storage=sqlite_url)
    assert len(study.trials) == 2


def test_stopped_by_n_trials_then_resumed_runs_every_point_once(grid, echo, sqlite_url):
    # a stays at 1; b and c times 1 or 2: 4 distinct points.
    args = (echo, "--multipliers", "1,2", "--vary", "b,c", "--storage", sqlite_url)
    partial = grid(*args, "--json", "--n-trials", "2")
    assert partial.code == 0, partial.err
    assert states(partial.json()) == ["COMPLETE"] * 2

    rest = grid(*args, "--json")
    assert rest.code == 0, rest.err
    report = rest.json()
    assert states(report) == ["COMPLETE"] * 4
    got = {weight_tuple(t["weights"], "abc") for t in report["trials"]}
    assert got == {weight_tuple(w, "abc") for w in sum_to_one_grid("abc", [1, 2], vary=["b", "c"])}


def test_points_that_failed_run_again_in_the_next_command_when_asked(grid, echo, sqlite_url):
    args = (echo, "--multipliers", "1,2", "--vary", "c", "--storage", sqlite_url, "--json")
    failed = grid(*args, "--param", "fail=true")
    assert "error: no trial completed. First error: RuntimeError: asked to fail" in failed.err
    assert states(failed.json()) == ["FAIL"] * 2

    skipped = grid(*args)
    assert skipped.code == 1
    assert states(skipped.json()) == ["FAIL"] * 2  # failed points are not retried unasked
    assert "pass --retry-failed to run them again" in skipped.err

    fixed = grid(*args, "--retry-failed")
    assert fixed.code == 0, fixed.err
    report = fixed.json()
    assert states(report) == ["FAIL", "FAIL", "COMPLETE", "COMPLETE"]
    assert [t["weights"] for t in report["trials"][2:]] == [
        pytest.approx({"a": 1 / 3, "b": 1 / 3, "c": 1 / 3}),
        pytest.approx({"a": 0.25, "b": 0.25, "c": 0.5}),
    ]


def test_failing_trials_are_recorded_and_the_study_goes_on(cli, tasks_dir, sqlite_url):
    # Through a worker process (no --in-process): the error and traceback cross the process.
    task = f"{tasks_dir / 'failing.py'}:picky"
    result = cli("grid", task, "--multipliers", "1,2", "--storage", sqlite_url, "--json")

    assert result.code == 0, result.err
    report = result.json()
    # Only (1,1,2) -> c = 0.5 is above the task's limit of 0.45.
    failed = [t for t in report["trials"] if t["state"] == "FAIL"]
    assert len(failed) == 1
    assert failed[0]["weights"] == pytest.approx({"a": 0.25, "b": 0.25, "c": 0.5})
    assert failed[0]["error"] == "ValueError: c=0.500 > 0.45"
    assert failed[0]["values"] == {}
    assert states(report).count("COMPLETE") == 6
    assert report["best"][0]["weights"] == pytest.approx({"a": 0.4, "b": 0.4, "c": 0.2})

    study = optuna.load_study(study_name=report["study"], storage=sqlite_url)
    trial = study.trials[failed[0]["number"]]
    assert trial.state == optuna.trial.TrialState.FAIL
    trace = trial.user_attrs[records.TRACEBACK]
    assert trace.startswith("Traceback (most recent call last):")
    assert "failing.py" in trace
    assert 'raise ValueError(f"weight c is too large:\\nc={c:.3f} > 0.45")' in trace
    assert trace.rstrip().endswith("c=0.500 > 0.45")


def test_every_trial_failing_reports_the_first_error(grid, tasks_dir, sqlite_url):
    task = f"{tasks_dir / 'failing.py'}:always_fails"
    result = grid(task, "--multipliers", "1,2", "--storage", sqlite_url, "--json")

    assert "Traceback" not in result.err
    assert result.err.strip().splitlines()[-1] == (
        "error: no trial completed. First error: RuntimeError: no luck with a=0.333"
    )
    report = result.json()
    assert states(report) == ["FAIL"] * 7
    assert report["best"] == []
    assert report["trials"][1]["error"] == "RuntimeError: no luck with a=0.250"


def test_every_trial_failing_without_json_says_why_and_draws_no_empty_table(
    grid, tasks_dir, sqlite_url
):
    task = f"{tasks_dir / 'failing.py'}:always_fails"
    result = grid(task, "--multipliers", "1", "--storage", sqlite_url)
    assert "1 trials: 1 fail" in result.out
    assert "failing-grid (grid): no trial completed" in result.out
    assert "1 × RuntimeError: no luck with a=0.333 (trial 0)" in result.out
    assert "top 0" not in result.out
    assert "best point" not in result.out
    assert result.err.strip().splitlines()[-1].startswith("error: no trial completed.")


def test_every_trial_failing_exits_1(grid, tasks_dir, sqlite_url):
    task = f"{tasks_dir / 'failing.py'}:always_fails"
    assert grid(task, "--multipliers", "1", "--storage", sqlite_url).code == 1


def test_nan_metric_fails_the_trial(grid, tasks_dir, sqlite_url):
    task = tasks_dir / "nan_task.py"
    result = grid(task, "--multipliers", "1,2", "--storage", sqlite_url, "--json")

    assert result.code == 0, result.err
    report = result.json()
    # Only (2,1,1) -> a = 0.5 is above 0.4 and returns NaN.
    failed = [t for t in report["trials"] if t["state"] == "FAIL"]
    assert [t["weights"] for t in failed] == [pytest.approx({"a": 0.5, "b": 0.25, "c": 0.25})]
    assert failed[0]["error"] == "MetricError: metric 'val_loss' is nan"
    assert states(report).count("COMPLETE") == 6
    assert report["best"][0]["values"] == {"val_loss": pytest.approx(0.2)}
    assert "NaN" not in result.out


def test_seeds_keep_per_seed_values_and_the_trial_value_is_their_mean(grid, echo, sqlite_url):
    result = grid(
        echo, "--multipliers", "1,2", "--vary", "c", "--seeds", "2",
        "--storage", sqlite_url, "--json",
    )  # fmt: skip

    assert result.code == 0, result.err
    report = result.json()
    study = optuna.load_study(study_name="echo-grid", storage=sqlite_url)
    assert len(study.trials) == 2
    for entry, trial in zip(report["trials"], study.trials, strict=True):
        a = entry["weights"]["a"]
        assert entry["seeds"] == [0, 1]
        # score = weight of a + seed: a and a + 1, mean a + 0.5.
        assert entry["values"]["score"] == pytest.approx(a + 0.5)
        assert trial.value == pytest.approx(a + 0.5)
        per_seed = records.seed_values(trial)
        assert per_seed[0]["score"] == pytest.approx(a)
        assert per_seed[1]["score"] == pytest.approx(a + 1)
        assert per_seed[0]["bonus"] == pytest.approx(entry["weights"]["b"])
        assert per_seed[1]["bonus"] == pytest.approx(entry["weights"]["b"])


def test_vary_and_base_at_the_command_line(grid, echo, sqlite_url):
    result = grid(
        echo, "--multipliers", "1,2,4,6", "--vary", "c", "--base", "a=2",
        "--storage", sqlite_url, "--json",
    )  # fmt: skip

    assert result.code == 0, result.err
    got = [weight_tuple(t["weights"], "abc") for t in result.json()["trials"]]
    # Base (2, 1, 1); c times 1, 2, 4, 6.
    raw = [(2, 1, 1), (2, 1, 2), (2, 1, 4), (2, 1, 6)]
    expected = [dict(zip("abc", (x / sum(r) for x in r), strict=True)) for r in raw]
    assert got == [weight_tuple(w, "abc") for w in expected]


def test_study_holds_definition_weight_params_and_metric_names(grid, echo, sqlite_url):
    assert grid(echo, "--multipliers", "1,2", "--storage", sqlite_url).code == 0

    study = optuna.load_study(study_name="echo-grid", storage=sqlite_url)
    assert study.metric_names == ["score"]
    definition = study.user_attrs["weightsearch"]
    assert definition["kind"] == "grid"
    assert definition["task"] == "echo:echo"
    assert definition["losses"] == ["a", "b", "c"]
    assert definition["objectives"] == [{"name": "score", "direction": "minimize"}]
    assert definition["space"]["multipliers"] == [1.0, 2.0]
    assert len(study.trials) == 7
    for trial in study.trials:
        weights = records.weights(trial)
        assert trial.params == {f"w_{k}": pytest.approx(v) for k, v in weights.items()}
        assert trial.value == pytest.approx(weights["a"])
        assert records.values(trial)["weight_sum"] == pytest.approx(1.0)


def test_default_storage_is_created_under_the_current_folder(grid, echo, workdir):
    result = grid(echo, "--multipliers", "2")
    assert result.code == 0, result.err
    database = workdir / "studies" / "weightsearch.db"
    assert database.is_file()
    study = optuna.load_study(study_name="echo-grid", storage=f"sqlite:///{database}")
    assert len(study.trials) == 1


def test_storage_from_the_environment(grid, echo, workdir, monkeypatch):
    url = f"sqlite:///{workdir / 'env.db'}"
    monkeypatch.setenv("WEIGHTSEARCH_STORAGE", url)
    assert grid(echo, "--multipliers", "3", "--study", "from-env").code == 0
    assert len(optuna.load_study(study_name="from-env", storage=url).trials) == 1
    assert not (workdir / "studies").exists()


def test_package_module_task_at_the_command_line(grid, tasks_dir, sqlite_url, monkeypatch):
    monkeypatch.syspath_prepend(str(tasks_dir))
    result = grid(
        "wstest_taskpkg.models:fit", "--multipliers", "1,3", "--storage", sqlite_url,
        "--json",
    )  # fmt: skip
    assert result.code == 0, result.err
    report = result.json()
    assert report["study"] == "models-grid"
    assert report["task"] == "models:fit"
    # err = |left - 0.25| is 0 at (1, 3).
    assert report["best"][0]["weights"] == {"left": 0.25, "right": 0.75}
    assert report["best"][0]["values"] == {"err": 0.0}


def test_json_writes_only_json_to_stdout(grid, echo, sqlite_url):
    result = grid(echo, "--multipliers", "1,2", "--vary", "c", "--storage", sqlite_url, "--json")
    assert result.code == 0
    assert result.out.lstrip().startswith("{")
    assert json.loads(result.out)["kind"] == "grid"
    assert "trials" in result.err  # the progress bar went to stderr


def test_without_json_prints_a_table(grid, echo, sqlite_url):
    result = grid(echo, "--multipliers", "1,2", "--vary", "c", "--storage", sqlite_url)
    assert result.code == 0
    assert "echo-grid (grid)" in result.out
    assert "w_a" in result.out
    assert "2 trials: 2 complete" in result.out
    with pytest.raises(json.JSONDecodeError):
        json.loads(result.out)
