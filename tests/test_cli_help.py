"""What a new user sees first: ``--version``, and help whose placeholders say what to type."""

from __future__ import annotations

import importlib.metadata
import re

import pytest

COMMANDS = ["grid", "power-scale", "compare", "probe", "methods", "report", "studies", "dashboard"]
# Typer's type names where a placeholder belongs: <str>, <int>, <list[str]>, {task}.
TYPE_PLACEHOLDER = re.compile(r"<(str|int|float|bool|path|list\[\w+\])>|\{[a-z_]+\}")


def test_version_prints_the_installed_package_version(cli):
    result = cli("--version")
    assert result.code == 0, result.err
    assert result.out == f"weightsearch {importlib.metadata.version('weightsearch')}\n"


@pytest.mark.parametrize("command", COMMANDS)
def test_options_show_what_to_type_not_python_types(cli, command, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    result = cli(command, "--help")
    assert result.code == 0, result.err
    options = [line for line in result.out.splitlines() if line.lstrip().startswith("--")]
    assert options
    for line in options:
        assert not TYPE_PLACEHOLDER.search(line), line
    assert "{task}" not in result.out


def test_repeatable_options_name_their_value(cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    shown = cli("compare", "--help").out
    assert "--objective METRIC" in shown
    assert "--param KEY=VALUE" in shown
    assert "--static STUDY[:K]" in shown
    assert "--method-arg METHOD.KEY=VALUE" in shown
