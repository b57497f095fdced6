"""Errors that list a storage's studies: the right ones, and how many more there are."""

from __future__ import annotations

import optuna
import pytest

from weightsearch.study import listed_names


def test_up_to_ten_names_are_listed_in_full():
    assert listed_names([]) == "none"
    assert listed_names([f"s{i}" for i in range(10)]) == ", ".join(f"s{i}" for i in range(10))


def test_more_than_ten_names_say_how_many_more_and_where_to_see_them():
    text = listed_names([f"s{i:02}" for i in range(13)])
    assert text.startswith("s00, s01")
    assert "s09" in text
    assert "s10" not in text
    assert text.endswith("... and 3 more (weightsearch studies lists them)")


@pytest.fixture
def crowded(grid, tasks_dir, sqlite_url):
    """A storage with a grid study 'g' and twelve plain Optuna studies."""
    assert (
        grid(
            tasks_dir / "echo.py",
            "--multipliers",
            "1",
            "--study",
            "g",
            "--storage",
            sqlite_url,
            "--quiet",
        ).code
        == 0
    )
    for i in range(12):
        optuna.create_study(storage=sqlite_url, study_name=f"plain-{i:02}")
    return sqlite_url


def test_report_of_a_missing_study_says_more_studies_exist(cli, crowded):
    message = cli("report", "nosuch", "--storage", crowded).assert_error()
    assert "no study named 'nosuch'" in message
    assert "... and 3 more (weightsearch studies lists them)" in message


def test_a_missing_static_study_is_blamed_on_static_and_lists_the_searches(cli, tasks_dir, crowded):
    args = ("--methods", "equal", "--seeds", "1", "--in-process", "--storage", crowded)
    message = cli("compare", tasks_dir / "echo.py", "--static", "nosuch", *args).assert_error()
    assert "--static study 'nosuch' does not exist" in message
    assert "grid and power-scale studies: g." in message
    assert "plain-" not in message
    assert "Check --study" not in message
