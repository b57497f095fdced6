"""Storage URLs and their drivers: the extras install what the URLs need, and errors name it.

Also: a mistyped SQLite or journal path is an error, not a study quietly put in new folders.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import optuna
import pytest
from sqlalchemy.engine import make_url

from weightsearch.errors import WeightsearchError
from weightsearch.storage import open_storage

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parent.parent
ECHO = Path(__file__).parent / "tasks" / "echo.py"


def _extras() -> dict[str, list[str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras: dict[str, list[str]] = project["optional-dependencies"]
    return extras


def test_the_postgres_extra_installs_the_driver_of_a_plain_url() -> None:
    driver = make_url("postgresql://u@h/db").get_dialect().driver
    assert driver == "psycopg"  # SQLAlchemy >= 2.1 maps a plain postgresql:// to psycopg 3
    assert any(r.startswith("psycopg[binary]") for r in _extras()["postgres"])
    # ... and the dev extra (the README's test set-up) installs it the way the README says.
    assert any(r.startswith("weightsearch[") and "postgres" in r for r in _extras()["dev"])


def test_the_mysql_extra_installs_the_driver_of_the_documented_url() -> None:
    assert "mysql+pymysql://" in (ROOT / "README.md").read_text()
    assert make_url("mysql+pymysql://u@h/db").get_dialect().driver == "pymysql"
    assert any(r.startswith("pymysql") for r in _extras()["mysql"])


@pytest.mark.parametrize(
    ("url", "module", "advice"),
    [
        ("postgresql://ws:sEcret@db/x", "psycopg", "pip install 'weightsearch[postgres]'"),
        ("postgresql+psycopg2://ws:sEcret@db/x", "psycopg2", "pip install psycopg2-binary"),
        ("mysql://ws:sEcret@db/x", "MySQLdb", "pip install mysqlclient"),
        ("mysql+pymysql://ws:sEcret@db/x", "pymysql", "pip install 'weightsearch[mysql]'"),
    ],
)
def test_a_missing_driver_names_the_package_the_url_needs(
    url: str, module: str, advice: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Hide the driver even where it is installed: a None entry makes its import fail.
    for name in [m for m in sys.modules if m == module or m.startswith(module + ".")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(WeightsearchError) as caught:
        open_storage(url)
    message = str(caught.value)
    assert advice in message
    assert "sEcret" not in message
    if "+" not in url.split("://")[0]:
        assert "SQLAlchemy's default" in message  # why a URL without a driver needs this one


@pytest.mark.postgres
def test_the_psycopg2_form_still_opens(postgres_server: object) -> None:
    if importlib.util.find_spec("psycopg2") is None:
        pytest.skip("psycopg2-binary is not installed (the dev extra installs it)")
    url = postgres_server.create_database()  # type: ignore[attr-defined]
    storage = open_storage(url.replace("postgresql://", "postgresql+psycopg2://", 1))
    assert isinstance(storage, optuna.storages.RDBStorage)
    assert storage.engine.dialect.driver == "psycopg2"
    optuna.create_study(study_name="s", storage=storage).optimize(lambda t: 0.0, n_trials=1)
    storage.engine.dispose()


@pytest.mark.parametrize("scheme", ["sqlite:///", "journal://"])
def test_a_missing_folder_is_an_error_not_created(
    scheme: str, tmp_path: Path, cli: Callable[..., object]
) -> None:
    missing = tmp_path / "nonexistent" / "dir"
    url = f"{scheme}{missing / 'x.db'}"
    result = cli("grid", ECHO, "--multipliers", "1,2", "--in-process", "--storage", url)
    assert result.code == 2  # type: ignore[attr-defined]
    err: str = result.err  # type: ignore[attr-defined]
    assert err.startswith("error:")
    assert str(missing) in err
    assert "mkdir -p" in err
    assert "Traceback" not in err
    assert not missing.parent.exists()  # nothing was created, not even the first level


def test_only_the_default_folder_is_created(workdir: Path, cli: Callable[..., object]) -> None:
    result = cli("grid", ECHO, "--multipliers", "1,2", "--in-process")
    assert result.code == 0, result.err  # type: ignore[attr-defined]
    assert (workdir / "studies" / "weightsearch.db").is_file()
    # The same folder named by a URL is the default folder too.
    shutil.rmtree(workdir / "studies")
    open_storage(f"sqlite:///{workdir / 'studies' / 'other.db'}")
    assert (workdir / "studies" / "other.db").is_file()


def test_ci_installs_the_extras_with_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    command = next(
        line for line in readme.splitlines() if "pip install -q -e" in line and "pytest" in line
    )
    assert command in (ROOT / ".ci" / "run").read_text()  # as written, so CI installs .[dev]
    assert '".[dev]"' in command
