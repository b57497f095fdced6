"""Every ```bash block of the README runs as written, the multi-machine PostgreSQL recipe included.

A comment on the line before a block says how it runs:
- ``<!-- recipe: skip (why) -->``: not run; the reason says what it needs (a venv to create, a
  server set up by hand with sudo and a password prompt, a cluster, minutes of benchmarking).
- ``<!-- recipe: postgres (...) -->``: run twice at once, as two machines, against the test
  server; in its URL the placeholder ``ws:PASSWORD@dbhost`` becomes the server's
  ``user:password@host:port`` (nothing else changes), and its ``pip install`` line is checked to
  be satisfied already (``--no-index``: the dev extra installs what it names).
- no comment: run once by bash (``-e``, ``pipefail``) in a temporary copy of the repository's
  ``examples/``, in the README's order (later blocks use earlier blocks' studies), with
  ``WEIGHTSEARCH_STORAGE`` set to a temporary SQLite file; it must exit 0.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from weightsearch.spaces import sum_to_one_grid

# The blocks train the examples as written (minutes in all): CI runs them as their own step
# (.ci/run: pytest -q -m recipes), the default test command leaves them out.
pytestmark = [pytest.mark.slow, pytest.mark.recipes]

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PLACEHOLDER = "ws:PASSWORD@dbhost"
_MARKER = re.compile(r"<!--\s*recipe:\s*(?P<kind>skip|postgres)\s*\((?P<why>[^)]+)\)\s*-->")


@dataclass(frozen=True)
class Block:
    """One ```bash block of the README: where it starts, its text, and its marker (if any)."""

    line: int
    text: str
    kind: str  # "run", "skip" or "postgres"
    why: str = ""


def readme_blocks(text: str) -> list[Block]:
    """The README's ```bash blocks in order, each with the marker on the line before it."""
    blocks: list[Block] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        if lines[index].strip() != "```bash":
            index += 1
            continue
        end = lines.index("```", index + 1)
        before = lines[index - 1] if index else ""
        marker = _MARKER.search(before)
        body = "\n".join(lines[index + 1 : end]) + "\n"
        if marker:
            blocks.append(Block(index + 1, body, marker["kind"], marker["why"].strip()))
        else:
            blocks.append(Block(index + 1, body, "run"))
        index = end + 1
    return blocks


BLOCKS = readme_blocks(README.read_text())
RUNNABLE = [b for b in BLOCKS if b.kind == "run"]


def _env(storage: str | None, bin_dir: Path | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "WEIGHTSEARCH_STORAGE"}
    # The package under test, also where the venv's editable install points elsewhere.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    path = [str(Path(sys.executable).parent), env.get("PATH", "")]
    if bin_dir is not None:
        path.insert(0, str(bin_dir))
    env["PATH"] = os.pathsep.join(path)
    if storage is not None:
        env["WEIGHTSEARCH_STORAGE"] = storage
    return env


def _bash(script: str, cwd: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["bash", "-e", "-o", "pipefail", "-c", script],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _checkout(folder: Path) -> Path:
    """A folder as a clone's root looks to the README's commands: the examples to run."""
    folder.mkdir(parents=True)
    shutil.copytree(ROOT / "examples", folder / "examples")
    return folder


def test_every_block_is_found_and_each_skip_says_why() -> None:
    assert len(BLOCKS) >= 10
    assert all(b.why for b in BLOCKS if b.kind != "run")
    assert sum(b.kind == "postgres" for b in BLOCKS) == 1
    # The set-up lines are skipped because they install, not silently.
    setup = [b for b in BLOCKS if "python3 -m venv" in b.text]
    assert setup
    assert all(b.kind == "skip" for b in setup)


@pytest.fixture(scope="module")
def recipe_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder for every runnable block: later blocks use the studies of earlier ones."""
    return _checkout(tmp_path_factory.mktemp("readme") / "clone")


@pytest.mark.parametrize("block", RUNNABLE, ids=[f"line{b.line}" for b in RUNNABLE])
def test_readme_block_runs_as_written(block: Block, recipe_folder: Path) -> None:
    storage = f"sqlite:///{recipe_folder / 'recipes.db'}"
    process = _bash(block.text, recipe_folder, _env(storage))
    out, err = process.communicate(timeout=1800)
    assert process.returncode == 0, f"README line {block.line}:\n{block.text}\n{out[-2000:]}{err}"


def _pip_offline(folder: Path) -> Path:
    """A ``pip`` that installs nothing: ``pip install X`` only succeeds if X is installed already.

    The test's environment was set up by the README's test command (``.[dev]``, which installs
    the postgres extra); a recipe's ``pip install`` line must hold in it without a download.
    """
    bin_dir = folder / "offline-bin"
    bin_dir.mkdir()
    pip = bin_dir / "pip"
    pip.write_text(
        '#!/usr/bin/env bash\nset -e\n[ "$1" = install ] || { echo "only install" >&2; exit 2; }\n'
        f'shift\nexec {sys.executable} -m pip install --no-index --disable-pip-version-check "$@"\n'
    )
    pip.chmod(0o755)
    return bin_dir


@pytest.mark.postgres
def test_the_multi_machine_recipe_on_postgres(
    postgres_server: object, postgres_url: str, tmp_path: Path
) -> None:
    (block,) = [b for b in BLOCKS if b.kind == "postgres"]
    assert "pip install 'weightsearch[postgres]'" in block.text
    assert f"=postgresql://{PLACEHOLDER}/" in block.text  # a plain URL: SQLAlchemy's default
    # The recipe's database is named in its URL; start it empty.
    database = block.text.split(f"{PLACEHOLDER}/", 1)[1].split()[0]
    postgres_server.drop_database(database)  # type: ignore[attr-defined]
    url = postgres_server.create_database(database)  # type: ignore[attr-defined]
    script = block.text.replace(PLACEHOLDER, postgres_server.credentials)  # type: ignore[attr-defined]
    bin_dir = _pip_offline(tmp_path)

    machines = [
        _bash(script, _checkout(tmp_path / f"machine{n}"), _env(None, bin_dir)) for n in (1, 2)
    ]
    results = [machine.communicate(timeout=1800) for machine in machines]

    for machine, (out, err) in zip(machines, results, strict=True):
        assert machine.returncode == 0, err
        assert "complete" in out + err  # each command ends with the final result
    command = [line for line in block.text.splitlines() if line.startswith("weightsearch ")][-1]
    multipliers = [float(m) for m in command.split("--multipliers ")[1].split()[0].split(",")]
    report = subprocess.run(
        ["weightsearch", "report", "scales-grid", "--format", "json", "--storage", url],
        capture_output=True,
        text=True,
        env=_env(None),
        cwd=tmp_path / "machine1",
        timeout=300,
        check=True,
    )
    trials = json.loads(report.stdout)["trials"]
    losses = ["width", "height", "tilt"]
    points = [tuple(round(t["weights"][n], 9) for n in losses) for t in trials]
    expected = {tuple(round(w[n], 9) for n in losses) for w in sum_to_one_grid(losses, multipliers)}
    assert [t["state"] for t in trials] == ["COMPLETE"] * len(expected)
    assert sorted(points) == sorted(expected)  # every point once, across the two machines
