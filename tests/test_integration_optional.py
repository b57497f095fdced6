"""The frameworks are optional: without them ``import weightsearch`` and the CLI work, and an
adapter's import names the extra that installs its framework."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# A finder that makes lightning and transformers look uninstalled, as a fresh environment would.
BLOCK = """
import sys
class Absent:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("lightning", "transformers", "pytorch_lightning"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Absent())
"""


def python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", BLOCK + code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        timeout=120,
        check=False,
    )


@pytest.mark.slow
def test_weightsearch_and_its_cli_work_without_the_frameworks():
    result = python(
        "import weightsearch, weightsearch.cli\n"
        "assert not {'lightning', 'transformers'} & set(sys.modules), sorted(sys.modules)\n"
        "from weightsearch.cli import main\n"
        "main(['methods'])\n"
    )

    assert result.returncode == 0, result.stderr
    assert "mgda" in result.stdout


@pytest.mark.slow
@pytest.mark.parametrize("extra", ["lightning", "transformers"])
def test_an_adapter_without_its_framework_names_the_extra(extra):
    result = python(f"import weightsearch.integrations.{extra}\n")

    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last == (
        f"weightsearch.errors.WeightsearchError: weightsearch.integrations.{extra} needs "
        f'{extra}, which is not installed. Install it: pip install "weightsearch[{extra}]"'
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("example", "extra"),
    [("lightning_multitask.py", "lightning"), ("hf_trainer_multitask.py", "transformers")],
)
def test_an_example_without_its_framework_names_the_extra(example, extra):
    # The examples import their framework before the adapter, so the hint comes from loading.
    result = python(
        "from weightsearch.cli import main\n"
        f"main(['grid', 'examples/{example}', '--storage', 'sqlite:///:memory:'])\n"
    )

    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: importing ")
    assert f'Install it: pip install "weightsearch[{extra}]"' in result.stderr
