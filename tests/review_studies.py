"""Tiny studies of every kind for the report, HTML and dashboard tests, made once per module.

Each runs the three-loss test task in this process (``--in-process``), for a few seconds in all;
``shared_storage`` makes them once per test process, for every module that reads them.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

from weightsearch.cli import main

TASK = Path(__file__).parent / "tasks" / "three_losses.py"


def run_cli(*args: str) -> int:
    """Run ``weightsearch ARGS...`` in this process; return its exit code."""
    try:
        main(list(args))
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 0
    return 0


def make_studies(folder: Path) -> str:
    """Make studies ``g`` (grid), ``ps`` (power-scale, two objectives), ``c`` (compare with an
    adaptive method and ``g``'s best weights) and ``cmo`` (compare on two objectives against
    ``ps``'s Pareto front) in a SQLite file in ``folder``; return its URL."""
    url = f"sqlite:///{folder / 'review.db'}"
    common = ("--storage", url, "--in-process", "--json", "--param", "steps=4")
    commands = [
        ("grid", str(TASK), "--multipliers", "1,2", "--study", "g"),
        (
            "power-scale",
            str(TASK),
            "--exponents",
            "-1:0",
            "--study",
            "ps",
            "--objective",
            "val_loss",
            "--objective",
            "val_acc",
        ),
        (
            "compare",
            str(TASK),
            "--methods",
            "equal,uncertainty",
            "--static",
            "g",
            "--seeds",
            "2",
            "--study",
            "c",
        ),
        (
            "compare",
            str(TASK),
            "--methods",
            "equal,uncertainty",
            "--static",
            "ps",
            "--seeds",
            "2",
            "--study",
            "cmo",
            "--objective",
            "val_loss",
            "--objective",
            "val_acc",
        ),
    ]
    for command in commands:
        code = run_cli(*command, *common)
        assert code == 0, (command, code)
    return url


@functools.cache
def shared_storage() -> str:
    """The URL of a storage with the studies of ``make_studies``, made on first use. Tests read
    it; a test that changes a study makes its own."""
    folder = Path(tempfile.mkdtemp(prefix="weightsearch-review-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return make_studies(folder)
