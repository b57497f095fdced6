"""--devices: slots from a faked device list, each worker pinned to its own GPU, bad input.

No GPU here: ``WEIGHTSEARCH_FAKE_CUDA_DEVICES`` (read by ``devices.discover`` only) makes the
machine show that many CUDA devices, and a task records the ``CUDA_VISIBLE_DEVICES`` and
``run.device`` its worker process sees.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest
from cli_result import CliResult

from weightsearch.devices import (
    CPU,
    FAKE_CUDA_DEVICES_ENV,
    Device,
    Machine,
    device_slots,
    discover,
)
from weightsearch.errors import WeightsearchError

PINNED = Path(__file__).parent / "tasks" / "devices" / "pinned.py"
# Two losses, multipliers 1,2,3: 7 distinct points.
N_POINTS = 7
TWO_GPUS = Machine(cuda=2)


def names(slots: tuple[Device, ...]) -> list[str]:
    return [d.name for d in slots]


@pytest.mark.parametrize(
    ("spec", "n_jobs", "machine", "expected"),
    [
        ("auto", None, Machine(cuda=4), ["cuda:0", "cuda:1", "cuda:2", "cuda:3"]),
        ("auto", 3, Machine(cuda=2), ["cuda:0", "cuda:1", "cuda:0"]),
        ("auto", 1, Machine(cuda=2), ["cuda:0"]),
        ("auto", None, Machine(mps=True), ["mps"]),
        ("auto", None, Machine(), ["cpu"]),
        ("auto", 3, Machine(), ["cpu", "cpu", "cpu"]),
        ("0,1", None, TWO_GPUS, ["cuda:0", "cuda:1"]),
        ("cuda:1, cuda:0", None, TWO_GPUS, ["cuda:1", "cuda:0"]),
        ("CUDA:1,1", None, TWO_GPUS, ["cuda:1", "cuda:1"]),
        ("0,1", 1, TWO_GPUS, ["cuda:0"]),
        ("cpu", None, TWO_GPUS, ["cpu"]),
        ("cpu", 4, TWO_GPUS, ["cpu"] * 4),
        ("mps", None, Machine(mps=True), ["mps"]),
        ("0+1,2+3", None, Machine(cuda=4), ["cuda:0+1", "cuda:2+3"]),
        ("cuda:3+cuda:2", None, Machine(cuda=4), ["cuda:3+2"]),
    ],
)
def test_device_slots(spec: str, n_jobs: int | None, machine: Machine, expected: list[str]) -> None:
    assert names(device_slots(spec, n_jobs, machine=machine)) == expected


def test_in_process_runs_on_the_first_device() -> None:
    assert names(device_slots("1,0", None, in_process=True, machine=TWO_GPUS)) == ["cuda:1"]
    assert names(device_slots("auto", None, in_process=True, machine=TWO_GPUS)) == ["cuda:0"]
    assert names(device_slots("cpu", None, in_process=True, machine=TWO_GPUS)) == ["cpu"]


@pytest.mark.parametrize(
    ("spec", "n_jobs", "machine", "message"),
    [
        ("cuda:7", None, TWO_GPUS, "cuda:7 is not a device of this machine, which has 2 CUDA"),
        ("0,2", None, TWO_GPUS, "cuda:2 is not a device"),
        ("0+1,1+2", None, TWO_GPUS, "cuda:2 is not a device"),
        ("0+cpu", None, TWO_GPUS, "--devices takes auto, cpu, mps or a list"),
        ("0", None, Machine(), "which has no CUDA device. Use --devices cpu"),
        ("mps", None, TWO_GPUS, "MPS (the GPU of Apple-silicon Macs) is not available"),
        ("gpu0", None, TWO_GPUS, "--devices takes auto, cpu, mps or a list"),
        ("0,,1", None, TWO_GPUS, "but got '0,,1'"),
        ("", None, TWO_GPUS, "but got ''"),
        ("0,1", 3, TWO_GPUS, "--n-jobs 3 is more than the 2 device slot(s)"),
    ],
)
def test_bad_devices_are_errors_with_the_fix(
    spec: str, n_jobs: int | None, machine: Machine, message: str
) -> None:
    with pytest.raises(WeightsearchError) as info:
        device_slots(spec, n_jobs, machine=machine)
    assert message in str(info.value)
    assert "Example" in str(info.value) or "Use" in str(info.value)


def test_a_worker_is_pinned_through_the_coordinators_own_visible_devices() -> None:
    assert Device("cuda:1").environment({}) == {"CUDA_VISIBLE_DEVICES": "1"}
    # This process sees physical GPUs 2 and 3 as cuda:0 and cuda:1.
    inherited = {"CUDA_VISIBLE_DEVICES": "2,3"}
    assert Device("cuda:1").environment(inherited) == {"CUDA_VISIBLE_DEVICES": "3"}
    assert Device("cuda:1").worker_name == "cuda:0"
    # A CPU worker sees no GPU; MPS has no such variable.
    assert CPU.environment(inherited) == {"CUDA_VISIBLE_DEVICES": ""}
    assert Device("mps").environment(inherited) == {}
    # A group: the trial's worker sees both GPUs, the first as cuda:0.
    group = Device("cuda:0+1")
    assert group.environment({"CUDA_VISIBLE_DEVICES": "4,5,6"}) == {"CUDA_VISIBLE_DEVICES": "4,5"}
    assert (group.worker_name, group.torch_name) == ("cuda:0", "cuda:0")
    assert Device("cuda:2+3").torch_name == "cuda:2"


def test_the_fake_device_count_is_read_by_discovery(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FAKE_CUDA_DEVICES_ENV, "3")
    assert discover() == Machine(cuda=3)
    monkeypatch.delenv(FAKE_CUDA_DEVICES_ENV)
    assert discover().cuda == 0  # no GPU on the machines these tests run on


def test_without_a_gpu_driver_discovery_does_not_import_torch() -> None:
    # torch's import costs the coordinator seconds; on Linux no driver means no CUDA device.
    code = (
        "import os, sys\n"
        "from weightsearch.devices import discover\n"
        "drivers = os.path.exists('/proc/driver/nvidia') or os.path.exists('/dev/kfd')\n"
        "machine = discover()\n"
        "print(drivers or machine.cuda == 0 and 'torch' not in sys.modules)"
    )
    env = {k: v for k, v in os.environ.items() if k != FAKE_CUDA_DEVICES_ENV}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert done.stdout.strip() == "True", done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--devices", "cuda:7"], "cuda:7 is not a device of this machine, which has 2 CUDA"),
        (["--devices", "mps"], "MPS (the GPU of Apple-silicon Macs) is not available"),
        (["--devices", "garbage"], "--devices takes auto, cpu, mps or a list"),
        (["--devices", "0,1", "--n-jobs", "3"], "--n-jobs 3 is more than the 2 device slot(s)"),
    ],
)
@pytest.mark.parametrize("command", ["grid", "power-scale", "compare"])
def test_bad_devices_on_the_command_line(
    cli: Callable[..., CliResult],
    monkeypatch: pytest.MonkeyPatch,
    workdir: Path,
    command: str,
    args: list[str],
    message: str,
) -> None:
    monkeypatch.setenv(FAKE_CUDA_DEVICES_ENV, "2")
    result = cli(command, PINNED, *args, "--param", f"out={workdir / 'ran.jsonl'}")
    assert message in result.assert_error()
    assert not (workdir / "ran.jsonl").exists(), "a trial ran"
    assert not (workdir / "studies").exists(), "a study was created"


def test_bad_devices_on_probe(cli: Callable[..., CliResult]) -> None:
    assert "--devices takes auto" in cli("probe", PINNED, "--devices", "x").assert_error()


def run_pinned(
    cli: Callable[..., CliResult], workdir: Path, *args: str, sleep: float = 0.5
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Run the pinned task's grid; return what each trial saw and the report's trials."""
    out = workdir / "ran.jsonl"
    result = cli(
        "grid", PINNED, "--multipliers", "1,2,3", "--json", "--param", f"out={out}",
        "--param", f"sleep={sleep}", *args,
    )  # fmt: skip
    assert result.code == 0, result.err
    seen = [json.loads(line) for line in out.read_text().splitlines()]
    report = result.json()["trials"]
    assert len(seen) == len(report) == N_POINTS
    return seen, report


def overlapping(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return a["start"] < b["end"] and b["start"] < a["end"]


@pytest.mark.slow
def test_each_worker_sees_only_its_own_gpu_and_each_gpu_runs_one_trial_at_a_time(
    cli: Callable[..., CliResult], workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(FAKE_CUDA_DEVICES_ENV, "3")
    seen, report = run_pinned(cli, workdir)  # auto: one job per device, three at once
    assert {s["visible"] for s in seen} == {"0", "1", "2"}
    assert all(s["device"] == "cuda:0" for s in seen)
    # A worker process is pinned for life: one device per pid.
    by_pid: dict[int, set[str]] = {}
    for s in seen:
        by_pid.setdefault(s["pid"], set()).add(s["visible"])
    assert len(by_pid) == 3
    assert all(len(visible) == 1 for visible in by_pid.values())
    # The report names each trial's device as this machine numbers it: the one it was pinned to.
    recorded = {round(t["weights"]["a"], 9): t["device"] for t in report}
    assert all(recorded[round(s["weight"], 9)] == f"cuda:{s['visible']}" for s in seen)
    for a, b in combinations(seen, 2):
        if a["visible"] == b["visible"]:
            assert not overlapping(a, b), (a, b)
    # ...while different devices did run at once.
    assert any(overlapping(a, b) for a, b in combinations(seen, 2))


@pytest.mark.slow
def test_a_device_listed_twice_runs_two_trials_at_once(
    cli: Callable[..., CliResult], workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(FAKE_CUDA_DEVICES_ENV, "2")
    seen, report = run_pinned(cli, workdir, "--devices", "cuda:1,cuda:1")
    assert {s["visible"] for s in seen} == {"1"}
    assert {t["device"] for t in report} == {"cuda:1"}
    assert len({s["pid"] for s in seen}) == 2
    assert any(overlapping(a, b) for a, b in combinations(seen, 2))


@pytest.mark.slow
def test_a_group_of_gpus_goes_to_one_trial(
    cli: Callable[..., CliResult], workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(FAKE_CUDA_DEVICES_ENV, "4")
    seen, report = run_pinned(cli, workdir, "--devices", "0+1,2+3", sleep=0.0)
    assert {s["visible"] for s in seen} <= {"0,1", "2,3"}
    assert {s["device"] for s in seen} == {"cuda:0"}
    recorded = {round(t["weights"]["a"], 9): t["device"] for t in report}
    assert all(
        recorded[round(s["weight"], 9)] == "cuda:" + s["visible"].replace(",", "+") for s in seen
    )


@pytest.mark.slow
def test_cpu_workers_see_no_gpu(
    cli: Callable[..., CliResult], workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(FAKE_CUDA_DEVICES_ENV, "2")
    seen, report = run_pinned(cli, workdir, "--devices", "cpu", "--n-jobs", "2", sleep=0.0)
    assert {(s["visible"], s["device"]) for s in seen} == {("", "cpu")}
    assert {t["device"] for t in report} == {"cpu"}


def test_in_process_trials_run_on_the_first_listed_device(
    cli: Callable[..., CliResult], workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(FAKE_CUDA_DEVICES_ENV, "2")
    seen, report = run_pinned(cli, workdir, "--devices", "1,0", "--in-process", sleep=0.0)
    # No pinning in this process: the task sees the device as this machine numbers it.
    assert {s["device"] for s in seen} == {"cuda:1"}
    assert {t["device"] for t in report} == {"cuda:1"}


def test_the_table_report_counts_trials_per_device(
    cli: Callable[..., CliResult], workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(FAKE_CUDA_DEVICES_ENV, "2")
    args = ["--multipliers", "1,2,3", "--param", f"out={workdir / 'ran.jsonl'}"]
    result = cli("grid", PINNED, *args, "--devices", "1", "--in-process")
    assert result.code == 0, result.err
    assert f"trials per device: cuda:1 {N_POINTS}" in result.out
    # A CPU study's table doesn't mention devices.
    result = cli("grid", PINNED, *args, "--study", "cpu", "--devices", "cpu", "--in-process")
    assert "trials per device" not in result.out


@pytest.mark.slow
def test_a_trial_on_a_group_starts_its_own_processes_on_its_gpus(
    cli: Callable[..., CliResult], workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(FAKE_CUDA_DEVICES_ENV, "4")
    out = workdir / "rank"
    spawn = Path(__file__).parent / "tasks" / "devices" / "ddp_spawn.py"
    args = ["--multipliers", "1", "--devices", "2+3", "--param", f"out={out}", "--json"]
    result = cli("grid", spawn, *args)
    assert result.code == 0, result.err
    assert [t["device"] for t in result.json()["trials"]] == ["cuda:2+3"]
    assert [(workdir / f"rank.{r}").read_text() for r in (0, 1)] == ["2,3", "2,3"]
