"""The import rules between layers, and what the CLI and the session check by themselves."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

import weightsearch
from weightsearch import cli, probe
from weightsearch.errors import WeightsearchError
from weightsearch.session import Session

PACKAGE = Path(weightsearch.__file__).parent


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at its top or inside a function."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def top_level_modules(path: Path) -> set[str]:
    """The modules a file imports when it is imported (not those imported inside functions)."""
    names: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def uses(names: set[str], module: str) -> bool:
    return any(name == module or name.startswith(module + ".") for name in names)


@pytest.mark.parametrize("path", sorted((PACKAGE / "spaces").glob("*.py")), ids=lambda p: p.name)
def test_spaces_import_neither_torch_nor_optuna(path: Path) -> None:
    found = imported_modules(path)
    assert not uses(found, "torch")
    assert not uses(found, "optuna")


@pytest.mark.parametrize(
    "name",
    [
        "search",
        "session",
        "compare",
        "samplers",
        "points",
        "runner",
        "recording",
        "lost_trials",
        "run",
    ],
)
def test_search_core_imports_no_torch_at_import_time(name: str) -> None:
    assert not uses(top_level_modules(PACKAGE / f"{name}.py"), "torch")


def test_nothing_imports_the_cli() -> None:
    importers = [
        path.relative_to(PACKAGE)
        for path in PACKAGE.rglob("*.py")
        if path.name not in {"cli.py", "__main__.py"}
        and uses(imported_modules(path), "weightsearch.cli")
    ]
    assert importers == []


def test_optuna_private_attributes_only_in_optuna_internals() -> None:
    private = ("._storage", "._study_id", "._trial_id")
    users = [
        path.relative_to(PACKAGE)
        for path in PACKAGE.rglob("*.py")
        if path.name != "optuna_internals.py"
        and any(attr in path.read_text(encoding="utf-8") for attr in private)
    ]
    assert users == []


def test_the_cli_loads_without_probe_or_methods() -> None:
    code = (
        "import sys, weightsearch.cli; "
        "print(sorted(m for m in ('weightsearch.probe', 'weightsearch.report.probe_table') "
        "if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_probe_steps_default_is_probes_own() -> None:
    steps = inspect.signature(cli.probe).parameters["steps"].default
    assert steps == probe.DEFAULT_STEPS


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"seeds": 0}, "--seeds must be at least 1, but got 0"),
        ({"n_trials": 0}, "--n-trials must be at least 1, but got 0"),
        ({"n_jobs": 0}, "--n-jobs must be at least 1, but got 0"),
        ({"timeout": 0.0}, "--timeout must be a positive number of seconds"),
        ({"trial_timeout": -1.0}, "--trial-timeout must be a positive number of seconds"),
        ({"in_process": True, "n_jobs": 2}, "--in-process runs one trial at a time"),
    ],
)
def test_session_checks_itself(options: dict[str, object], message: str) -> None:
    with pytest.raises(WeightsearchError, match=message):
        Session(task="task.py", **options)  # type: ignore[arg-type]


def test_session_is_made_by_keyword() -> None:
    with pytest.raises(TypeError):
        Session("task.py")  # type: ignore[misc]
    assert Session(task="task.py", seeds=2).seeds == 2
