"""A summary with failed trials says why: each distinct reason, its count, its trials."""

from __future__ import annotations

from pathlib import Path

import pytest

TASK = f"{Path(__file__).parent / 'tasks' / 'failing.py'}:two_reasons"


@pytest.fixture
def failed_study(grid, sqlite_url):
    result = grid(TASK, "--multipliers", "1,2", "--storage", sqlite_url, "--json", "--quiet")
    assert result.code == 0, result.err
    return result.json()


def test_the_json_report_groups_the_failures_by_reason(failed_study):
    failures = failed_study["failures"]
    fails = {t["number"]: t for t in failed_study["trials"] if t["state"] == "FAIL"}
    assert [(f["error"], f["count"]) for f in failures] == [
        ("ValueError: c is too large", 3),
        ("RuntimeError: b is too large", 2),
    ]
    assert sorted(n for f in failures for n in f["trials"]) == sorted(fails)
    for failure in failures:
        assert failure["trials"] == sorted(failure["trials"])
        assert {fails[n]["error"] for n in failure["trials"]} == {failure["error"]}


def test_the_table_lists_each_reason_with_its_count_and_trials(cli, failed_study, sqlite_url):
    result = cli("report", failed_study["study"], "--storage", sqlite_url)
    assert result.code == 0, result.err
    assert "7 trials: 2 complete, 5 fail" in result.out
    assert "5 failed:" in result.out
    numbers = ", ".join(str(n) for n in failed_study["failures"][1]["trials"])
    assert f"2 × RuntimeError: b is too large (trials {numbers})" in result.out


def test_the_markdown_report_lists_the_reasons(cli, failed_study, sqlite_url):
    result = cli("report", failed_study["study"], "--storage", sqlite_url, "--format", "markdown")
    assert result.code == 0, result.err
    numbers = ", ".join(str(n) for n in failed_study["failures"][1]["trials"])
    assert f"- 2 × RuntimeError: b is too large (trials {numbers})" in result.out


def test_a_run_without_failures_has_an_empty_failure_summary(grid, tasks_dir, sqlite_url):
    echo = tasks_dir / "echo.py"
    result = grid(echo, "--multipliers", "1", "--storage", sqlite_url, "--json", "--quiet")
    assert result.json()["failures"] == []
    table = grid(echo, "--multipliers", "1", "--storage", sqlite_url, "--quiet")
    assert "failed:" not in table.out
