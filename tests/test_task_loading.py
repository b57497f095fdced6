"""The task contract: ``@ws.task``, ``Run``, and loading a task in each of its three forms."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import weightsearch as ws
from weightsearch.errors import WeightsearchError
from weightsearch.task import Task, load_task, parse_params, resolve_reference, task_stem


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_file_and_function(tasks_dir):
    task = load_task(f"{tasks_dir / 'two_tasks.py'}:second")
    assert isinstance(task, Task)
    assert task.name == "second"
    assert task.losses == ("x", "y", "z")
    assert task.metrics == {"gain": "maximize"}
    assert task(ws.Run(weights={"x": 0.2, "y": 0.3, "z": 0.5})) == {"gain": 0.5}


def test_file_alone_with_exactly_one_task(tasks_dir):
    task = load_task(str(tasks_dir / "echo.py"))
    assert task.name == "echo"
    assert task.losses == ("a", "b", "c")
    assert list(task.metrics) == ["score", "bonus"]


def test_relative_path_from_the_current_folder(tasks_dir, monkeypatch):
    monkeypatch.chdir(tasks_dir.parent)
    assert load_task("tasks/echo.py:echo").name == "echo"


def test_package_module_and_function(tasks_dir, monkeypatch):
    monkeypatch.syspath_prepend(str(tasks_dir))
    task = load_task("wstest_taskpkg.models:fit")
    assert task.name == "fit"
    assert task.losses == ("left", "right")
    assert task(ws.Run(weights={"left": 0.75, "right": 0.25})) == {"err": 0.5}


def test_package_module_alone_with_one_task(tasks_dir, monkeypatch):
    monkeypatch.syspath_prepend(str(tasks_dir))
    assert load_task("wstest_taskpkg.models").name == "fit"


def test_loading_twice_gives_the_same_task(tasks_dir):
    reference = f"{tasks_dir / 'echo.py'}:echo"
    assert load_task(reference) is load_task(reference)


@pytest.mark.parametrize(
    ("reference", "stem"),
    [
        ("path/to/train.py:fit", "train"),
        ("train.py", "train"),
        ("pkg.models:fit", "models"),
        ("models", "models"),
    ],
)
def test_task_stem(reference, stem):
    assert task_stem(reference) == stem


def test_missing_file(tmp_path):
    with pytest.raises(WeightsearchError, match=r"task file .*missing\.py does not exist"):
        load_task(f"{tmp_path / 'missing.py'}:train")


def test_missing_function_names_the_tasks_that_exist(tasks_dir):
    with pytest.raises(WeightsearchError, match="has no function 'nope'") as info:
        load_task(f"{tasks_dir / 'two_tasks.py'}:nope")
    assert "first, second" in str(info.value)


def test_plain_function_is_not_a_task(tasks_dir):
    with pytest.raises(WeightsearchError, match="helper is not a weightsearch task"):
        load_task(f"{tasks_dir / 'two_tasks.py'}:helper")


def test_file_alone_with_two_tasks_asks_to_name_one(tasks_dir):
    with pytest.raises(WeightsearchError, match="exactly one") as info:
        load_task(str(tasks_dir / "two_tasks.py"))
    assert "first, second" in str(info.value)
    assert "two_tasks.py:FUNCTION" in str(info.value)


def test_file_alone_without_tasks(tasks_dir):
    with pytest.raises(WeightsearchError, match=r"exactly one .* but has none"):
        load_task(str(tasks_dir / "no_tasks.py"))


def test_syntax_error_names_file_and_line(tmp_path):
    path = write(
        tmp_path / "broken.py", "import weightsearch as ws\n\n\ndef train(run:\n    pass\n"
    )
    with pytest.raises(WeightsearchError) as info:
        load_task(f"{path}:train")
    message = str(info.value)
    assert message.startswith(f"syntax error in {path} line 4")
    assert "\n" not in message


def test_error_while_importing_names_the_line(tmp_path):
    path = write(tmp_path / "explodes.py", "x = 1\nraise RuntimeError('no data folder')\n")
    with pytest.raises(WeightsearchError) as info:
        load_task(str(path))
    assert str(info.value) == (
        f"importing {path} failed: {path} line 2: RuntimeError: no data folder"
    )


def test_a_failed_import_can_be_retried_after_the_fix(tmp_path):
    path = write(tmp_path / "later.py", "raise RuntimeError('not yet')\n")
    with pytest.raises(WeightsearchError):
        load_task(str(path))
    write(
        path,
        "import weightsearch as ws\n"
        "@ws.task(losses=['a'], metrics={'m': 'minimize'})\n"
        "def fit(run):\n    return {'m': 1.0}\n",
    )
    assert load_task(str(path)).name == "fit"


def test_missing_module():
    with pytest.raises(WeightsearchError, match=r"no module or file named 'wstest_nosuch\.mod'"):
        load_task("wstest_nosuch.mod:fit")


def test_missing_module_inside_an_existing_package(tasks_dir, monkeypatch):
    monkeypatch.syspath_prepend(str(tasks_dir))
    with pytest.raises(WeightsearchError, match=r"no module or file named 'wstest_taskpkg\.nope'"):
        load_task("wstest_taskpkg.nope:fit")


def test_missing_dependency_of_a_module_is_not_a_missing_module(tmp_path, monkeypatch):
    # The dependency's name is a prefix of the module's: still the dependency is what is missing.
    write(tmp_path / "wstest_depx.py", "import wstest_dep\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(WeightsearchError) as info:
        load_task("wstest_depx:fit")
    assert str(info.value) == (
        "importing wstest_depx failed: ModuleNotFoundError: No module named 'wstest_dep'"
    )


def test_syntax_error_in_a_package_module(tmp_path, monkeypatch):
    package = tmp_path / "wstest_brokenpkg"
    package.mkdir()
    write(package / "__init__.py", "")
    write(package / "mod.py", "def fit(:\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(WeightsearchError, match=r"syntax error in .*mod\.py line 1"):
        load_task("wstest_brokenpkg.mod:fit")


def test_empty_reference():
    with pytest.raises(WeightsearchError, match=r"path/file\.py:function"):
        load_task(":train")


@pytest.mark.parametrize(
    ("losses", "metrics", "message"),
    [
        ([], {"m": "minimize"}, "losses must be a non-empty list"),
        ("abc", {"m": "minimize"}, "losses must be a non-empty list"),
        (["a", "a"], {"m": "minimize"}, "loss names must be unique"),
        (["a"], {}, "metrics must name at least one metric"),
        (["a"], {"m": "lower"}, "'minimize' or 'maximize'"),
    ],
)
def test_task_decorator_checks_its_arguments(losses, metrics, message):
    with pytest.raises(ValueError, match=message):
        ws.task(losses=losses, metrics=metrics)


def test_run_defaults():
    run = ws.Run(weights={"a": 1.0})
    assert (run.method, run.seed, run.device, run.params) == ("static", 0, "cpu", {})


def test_static_balancer_backward_is_the_weighted_sum():
    shared = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    run = ws.Run(weights={"a": 0.25, "b": 0.75}, losses=("a", "b"))
    balancer = run.balancer(shared=[shared])
    losses = {"a": (shared**2).sum(), "b": 3.0 * shared.sum()}
    balancer.backward(losses)
    # d/ds [0.25 * sum(s^2) + 0.75 * 3 * sum(s)] = 0.5 * s + 2.25
    assert shared.grad.tolist() == pytest.approx([2.75, 3.25])
    assert run.current_weights == pytest.approx({"a": 0.25, "b": 0.75})


def test_report_records_the_curve_and_raises_pruned_when_told():
    decisions = iter([False, True])
    run = ws.Run(weights={"a": 1.0}, reporter=lambda step, metrics: next(decisions))
    run.report(0, {"loss": 2.0})
    with pytest.raises(ws.Pruned):
        run.report(1, {"loss": torch.tensor(1.5)})
    assert run.curve == [(0, {"loss": 2.0}), (1, {"loss": 1.5})]


def test_report_without_a_pruner_never_raises():
    run = ws.Run(weights={"a": 1.0})
    for step in range(3):
        run.report(step, {"loss": 1.0 / (step + 1)})
    assert [step for step, _ in run.curve] == [0, 1, 2]


def test_parse_params_types_values():
    assert parse_params(["lr=0.01", "epochs=3", "flag=true", "off=False", "name=net", "e="]) == {
        "lr": 0.01,
        "epochs": 3,
        "flag": True,
        "off": False,
        "name": "net",
        "e": "",
    }


@pytest.mark.parametrize("pair", ["lr", "=3", " =3"])
def test_parse_params_refuses_pairs_without_key(pair):
    with pytest.raises(WeightsearchError, match="--param takes KEY=VALUE"):
        parse_params([pair])


HOUSE = """
import weightsearch as ws

@ws.task(losses=["rooms", "garden"], metrics={"price": "minimize"})
def fit(run):
    return {"price": run.weights["rooms"]}
"""


@pytest.fixture
def house_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder holding ``wstest_house.py``, made the current one; sys.path is restored after."""
    write(tmp_path / "wstest_house.py", HOUSE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", ".", str(tmp_path))])
    monkeypatch.delitem(sys.modules, "wstest_house", raising=False)
    yield tmp_path
    sys.modules.pop("wstest_house", None)


@pytest.mark.parametrize("reference", ["wstest_house:fit", "wstest_house.py:fit", "wstest_house"])
def test_every_form_of_a_file_in_the_current_folder_loads(house_folder, reference):
    assert load_task(reference).losses == ("rooms", "garden")


def test_a_module_name_from_the_folder_that_holds_it_through_the_console_script(house_folder):
    # The console script's sys.path[0] is its bin folder, not the current one: the case a
    # report's `weightsearch grid house:fit ...` pasted back in the task's folder used to fail.
    env = {k: v for k, v in os.environ.items() if k != "WEIGHTSEARCH_STORAGE"}
    result = subprocess.run(
        [shutil.which("weightsearch") or "weightsearch", "grid", "wstest_house:fit",
         "--multipliers", "1,2", "--in-process", "--quiet", "--storage", "sqlite:///h.db"],
        capture_output=True, text=True, cwd=house_folder, env=env, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


def test_a_module_name_not_in_the_current_folder_says_where_it_looked(house_folder):
    with pytest.raises(WeightsearchError) as info:
        load_task("wstest_nohouse:fit")
    message = str(info.value)
    assert "no wstest_nohouse.py in the current folder" in message
    assert str(house_folder) in message
    assert "path/to/wstest_nohouse.py:FUNCTION" in message


def test_the_reference_is_unchanged_where_the_study_was_created(house_folder):
    for reference in ("wstest_house:fit", "wstest_house.py:fit", "sub/x.py", "pkg.mod:fit"):
        assert resolve_reference(reference, str(house_folder)) == reference
        assert resolve_reference(reference, None) == reference


def test_a_reference_resolves_to_the_creation_folder_from_elsewhere(house_folder, monkeypatch):
    (house_folder / "deeper").mkdir()
    write(house_folder / "deeper" / "d.py", HOUSE)
    monkeypatch.chdir(house_folder / "deeper")
    origin = str(house_folder)
    house = house_folder / "wstest_house.py"
    assert resolve_reference("wstest_house:fit", origin) == f"{house}:fit"
    assert resolve_reference("wstest_house.py:fit", origin) == f"{house}:fit"
    assert resolve_reference("wstest_house.py", origin) == str(house)
    # Under the current folder the path stays relative.
    assert resolve_reference("deeper/d.py:fit", origin) == "d.py:fit"
    # An absolute path, an installed module and a package module stay as they were.
    assert resolve_reference(f"{house}:fit", "/elsewhere") == f"{house}:fit"
    assert resolve_reference("json:fit", origin) == "json:fit"
    assert resolve_reference("pkg.mod:fit", origin) == "pkg.mod:fit"
    # What it gives loads from here.
    assert load_task(resolve_reference("wstest_house:fit", origin)).name == "fit"
