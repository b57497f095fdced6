"""A trial that runs out of device memory fails alone, with a hint, and the study goes on.

No GPU here: the stand-in task raises ``torch.OutOfMemoryError`` (what CUDA's allocator raises)
on the CPU, for the grid's first point.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from cli_result import CliResult

from weightsearch import jobs
from weightsearch.out_of_memory import HINT, is_out_of_memory, release_memory

OUT_OF_MEMORY = Path(__file__).parent / "tasks" / "devices" / "out_of_memory.py"
# Two losses, multipliers 1,2,3: 7 distinct points; the first (0.5, 0.5) runs out of memory.
GRID = ["grid", str(OUT_OF_MEMORY), "--multipliers", "1,2,3", "--json"]
N_POINTS = 7


def test_cuda_and_mps_out_of_memory_errors_are_recognised() -> None:
    assert torch.cuda.OutOfMemoryError is torch.OutOfMemoryError
    assert is_out_of_memory(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB"))
    assert is_out_of_memory(RuntimeError("MPS backend out of memory (MPS allocated: 8 GB)"))
    assert not is_out_of_memory(RuntimeError("mat1 and mat2 shapes cannot be multiplied"))
    assert not is_out_of_memory(MemoryError())  # the host's RAM: not a device to free
    release_memory()  # on a machine where no device was used: nothing to do, no CUDA started
    assert not torch.cuda.is_initialized()


def check_one_trial_failed_with_the_hint(result: CliResult) -> None:
    # Some trials completed, so the command succeeds as any study with failures does.
    assert result.code == 0, result.err
    trials = result.json()["trials"]
    assert len(trials) == N_POINTS
    failed = [t for t in trials if t["state"] == "FAIL"]
    assert len(failed) == 1
    assert failed[0]["weights"] == {"a": 0.5, "b": 0.5}
    assert failed[0]["error"].startswith("OutOfMemoryError: CUDA out of memory.")
    assert HINT in failed[0]["error"]
    assert "smaller batch" in HINT
    assert "fewer trials per device" in HINT
    assert sum(t["state"] == "COMPLETE" for t in trials) == N_POINTS - 1


@pytest.mark.slow
def test_out_of_memory_in_a_worker_fails_that_trial_and_replaces_the_worker(
    cli: Callable[..., CliResult], workdir: Path
) -> None:
    pids = workdir / "pids.txt"
    result = cli(*GRID, "--n-jobs", "2", "--param", f"pids={pids}")
    check_one_trial_failed_with_the_hint(result)
    # Two workers, and a third that replaced the one whose trial ran out of memory.
    assert len(set(pids.read_text().split())) == 3


def test_out_of_memory_in_process_fails_that_trial_and_releases_memory(
    cli: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    released = []
    monkeypatch.setattr(jobs, "release_memory", lambda: released.append(True))
    check_one_trial_failed_with_the_hint(cli(*GRID, "--in-process"))
    assert released == [True]
