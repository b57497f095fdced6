"""Importing weightsearch, and commands that run no trial, don't import torch (seconds of start-up).

Each check runs in a fresh interpreter: in this one, other tests have imported torch long ago.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _imports_torch(code: str) -> bool:
    result = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys; print('torch' in sys.modules)"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1] == "True"


@pytest.mark.parametrize(
    "module",
    [
        "weightsearch",
        "weightsearch.errors",
        "weightsearch.storage",
        "weightsearch.task",
        "weightsearch.run",
        "weightsearch.study",
        "weightsearch.report",
        "weightsearch.cli",
    ],
)
def test_importing_does_not_import_torch(module: str) -> None:
    assert not _imports_torch(f"import {module}")


def test_help_does_not_import_torch() -> None:
    code = "import contextlib\nfrom weightsearch.cli import main\n"
    code += "with contextlib.suppress(SystemExit):\n    main(['--help'])"
    assert not _imports_torch(code)


def test_the_public_names_still_work() -> None:
    assert _imports_torch(
        "import weightsearch as ws\n"
        "assert callable(ws.task) and ws.Run and ws.Task and issubclass(ws.Pruned, Exception)\n"
        "assert 'equal' in ws.methods.available()\n"
        "from weightsearch import methods\n"
        "assert methods is ws.methods"
    )  # ws.methods loads torch on first use


def test_a_task_runs_its_balancer_after_a_lazy_import() -> None:
    assert _imports_torch(
        "import torch, weightsearch as ws\n"
        "w = torch.nn.Parameter(torch.ones(2))\n"
        "run = ws.Run(weights={'a': 0.25, 'b': 0.75}, losses=('a', 'b'))\n"
        "run.balancer(shared=[w]).backward({'a': w.sum(), 'b': 2 * w.sum()})\n"
        "assert w.grad.tolist() == [1.75, 1.75], w.grad"
    )


def test_an_unknown_attribute_is_an_attribute_error() -> None:
    import weightsearch

    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        weightsearch.nope  # noqa: B018
