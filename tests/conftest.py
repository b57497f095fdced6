"""Shared fixtures: the test tasks, a fresh folder and storage per test, the CLI run in-process."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from cli_result import CliResult

from weightsearch.cli import main

# The PostgreSQL server and the storage_url fixture over every storage mode.
pytest_plugins = ["pg_server"]

TASKS = Path(__file__).parent / "tasks"


@pytest.fixture
def tasks_dir() -> Path:
    """The folder of the tasks written for these tests."""
    return TASKS


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh current folder, without a storage set by the environment."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("WEIGHTSEARCH_STORAGE", raising=False)
    return tmp_path


@pytest.fixture
def sqlite_url(workdir: Path) -> str:
    """A SQLite storage of this test only."""
    return f"sqlite:///{workdir / 'studies.db'}"


@pytest.fixture
def cli(workdir: Path, capsys: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    """Run ``weightsearch ARGS...`` in this process, in the test's own folder."""

    def run(*args: str | Path) -> CliResult:
        capsys.readouterr()
        try:
            main([str(a) for a in args])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        else:
            code = 0
        captured = capsys.readouterr()
        return CliResult(code=code, out=captured.out, err=captured.err)

    return run


@pytest.fixture
def grid(cli: Callable[..., CliResult]) -> Callable[..., CliResult]:
    """Run ``weightsearch grid ARGS... --in-process``: trials run in this process, which saves
    starting a worker process per command; tests that call ``cli("grid", ...)`` use the worker."""

    def run(*args: str | Path) -> CliResult:
        return cli("grid", *args, "--in-process")

    return run
