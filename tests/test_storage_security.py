"""The storage URL's password never appears: not in output, the JSON report, or the study."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import optuna
import pytest
from pg_server import POSTGRES_PASSWORD

from weightsearch.storage import open_storage

ECHO = Path(__file__).parent / "tasks" / "echo.py"

pytestmark = pytest.mark.postgres


def test_a_run_on_postgres_never_shows_or_stores_the_password(
    postgres_server: object, cli: Callable[..., object]
) -> None:
    url = postgres_server.create_database()  # type: ignore[attr-defined]
    assert POSTGRES_PASSWORD in url
    for args in (
        ["grid", str(ECHO), "--multipliers", "1,2", "--in-process", "--json"],
        ["grid", str(ECHO), "--multipliers", "1,2", "--in-process"],
        ["studies"],
        ["report", "echo-grid", "--format", "markdown"],
    ):
        result = cli(*args, "--storage", url)
        assert result.code == 0, result.err  # type: ignore[attr-defined]
        assert POSTGRES_PASSWORD not in result.out + result.err  # type: ignore[attr-defined]
    shown = cli("grid", str(ECHO), "--multipliers", "1,2", "--in-process", "--storage", url)
    assert "***" in shown.out  # type: ignore[attr-defined]

    study = optuna.load_study(study_name="echo-grid", storage=open_storage(url))
    stored = json.dumps(
        [study.user_attrs, study._storage.get_study_system_attrs(study._study_id)]
        + [[t.user_attrs, t.system_attrs, t.params] for t in study.trials],
        default=str,
    )
    assert POSTGRES_PASSWORD not in stored
    assert "127.0.0.1" not in stored  # nothing of the URL is kept at all
