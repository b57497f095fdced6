"""Where trials run: ``--devices`` read, checked against this machine, one device per worker.

A :class:`Device` is one slot: one worker process pinned to it runs one trial at a time there.
:func:`device_slots` turns ``--devices`` and ``--n-jobs`` into the slots of a command, and
:meth:`Device.environment` is what pins a worker process: ``CUDA_VISIBLE_DEVICES`` set in its
environment before it first touches CUDA, so its task sees its one GPU as ``cuda:0`` (or, for a
group like ``0+1`` that one multi-GPU trial uses, its GPUs as ``cuda:0`` and ``cuda:1``).

Nothing here is stored in a study: each machine sharing a study runs on its own devices.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass

from weightsearch.errors import WeightsearchError

# Test hook: when set (to a count), discovery reports that many CUDA devices and asks torch
# nothing, so that pinning is tested on machines without a GPU. Read by discover() only.
FAKE_CUDA_DEVICES_ENV = "WEIGHTSEARCH_FAKE_CUDA_DEVICES"
CUDA_VISIBLE = "CUDA_VISIBLE_DEVICES"

_CUDA_ITEM = re.compile(r"(?:cuda:)?(\d+)")
_EXAMPLE = "Example: --devices cuda:0,cuda:1 (or 0,1), --devices 0+1,2+3, cpu, or auto"


@dataclass(frozen=True)
class Machine:
    """The accelerators this machine shows: CUDA devices (as numbered here) and MPS."""

    cuda: int = 0
    mps: bool = False


@dataclass(frozen=True)
class Device:
    """One device slot, named as this machine numbers it: ``cpu``, ``mps``, ``cuda:N``, or a
    group of GPUs for one multi-GPU trial, ``cuda:N+M``."""

    name: str

    @property
    def cuda_indices(self) -> tuple[int, ...]:
        """The GPUs of the slot, as this machine numbers them (none for ``cpu`` and ``mps``)."""
        kind, _, indices = self.name.partition(":")
        return tuple(int(i) for i in indices.split("+")) if kind == "cuda" else ()

    @property
    def torch_name(self) -> str:
        """The device in this process, unpinned: the slot's first GPU (``cuda:N``)."""
        indices = self.cuda_indices
        return f"cuda:{indices[0]}" if indices else self.name

    @property
    def worker_name(self) -> str:
        """The device as a pinned worker's task sees it: its first GPU is ``cuda:0``."""
        return "cuda:0" if self.cuda_indices else self.name

    def environment(self, inherited: Mapping[str, str]) -> dict[str, str]:
        """The variables that pin a worker process to this device, on top of ``inherited``.

        A GPU's number here indexes the coordinator's own ``CUDA_VISIBLE_DEVICES`` when that is
        set (``2,3``: this machine's ``cuda:1`` is physical GPU 3), as CUDA numbers them. A CPU
        worker sees no GPU, so that a task that ignores ``run.device`` can't take one that
        another worker is pinned to.
        """
        indices = self.cuda_indices
        if not indices:
            return {CUDA_VISIBLE: ""} if self.name == "cpu" else {}
        visible = [v.strip() for v in inherited.get(CUDA_VISIBLE, "").split(",") if v.strip()]
        pinned = [visible[i] if i < len(visible) else str(i) for i in indices]
        return {CUDA_VISIBLE: ",".join(pinned)}


CPU = Device("cpu")


def discover() -> Machine:
    """The CUDA devices and MPS of this machine, without initialising CUDA where avoidable.

    ``torch.cuda.device_count()`` asks NVML first, which leaves CUDA uninitialised; only where
    NVML is missing does it fall back to ``cudaGetDeviceCount``, which initialises the CUDA
    driver in this (the coordinator's) process. Even then workers are not affected: they fork
    from multiprocessing's forkserver, a process started fresh (exec, not fork) that never
    touches CUDA (see :func:`weightsearch.worker._start_method`), and each applies its own
    ``CUDA_VISIBLE_DEVICES`` before its task first calls CUDA. The count is not cached by torch
    before CUDA is initialised, and nothing initialised here is inherited by a worker.
    ``torch.cuda.is_available()`` is avoided: by default it always calls
    ``cudaGetDeviceCount``.
    """
    fake = os.environ.get(FAKE_CUDA_DEVICES_ENV)
    if fake is not None:
        return Machine(cuda=int(fake))
    if not _may_have_gpus():
        return Machine(cuda=0)
    import torch

    mps = torch.backends.mps.is_available()
    return Machine(cuda=torch.cuda.device_count(), mps=mps)


def _may_have_gpus() -> bool:
    """False where no GPU driver can be loaded, known without importing torch (seconds).

    On Linux, CUDA needs NVIDIA's kernel driver (``/proc/driver/nvidia``) and ROCm's builds of
    torch.cuda AMD's (``/dev/kfd``); without either, torch would count 0 devices. Elsewhere
    (macOS's MPS, Windows) only torch can tell.
    """
    if not sys.platform.startswith("linux"):
        return True
    return os.path.exists("/proc/driver/nvidia") or os.path.exists("/dev/kfd")


def device_slots(
    spec: str, n_jobs: int | None, in_process: bool = False, machine: Machine | None = None
) -> tuple[Device, ...]:
    """The devices of a command's workers, one per job: ``--devices`` and ``--n-jobs`` checked.

    ``auto`` is every CUDA device of ``machine``, else MPS, else the CPU. ``--n-jobs`` defaults
    to the number of listed devices (1 on the CPU, which takes any number of jobs); a device
    listed twice runs two trials at once. ``--in-process`` runs on the first device.

    Args:
        spec: ``auto``, ``cpu``, ``mps`` or a comma-separated list (``cuda:0,cuda:1``, ``0,1``;
            ``0+1,2+3``: two GPUs per trial).
        n_jobs: ``--n-jobs`` (None: the default above).
        in_process: trials run in this process: one slot.
        machine: what this machine has (None: :func:`discover`).

    Raises:
        WeightsearchError: an unreadable list, a device this machine doesn't have, or more
            jobs than an explicit list has devices.
    """
    explicit = spec.strip().lower() != "auto"
    listed = _parse(spec) if explicit else None
    if machine is None and listed != [CPU]:
        machine = discover()
    listed = listed or _auto(machine or Machine())
    _check_exist(listed, machine or Machine())
    if all(device == CPU for device in listed):
        return (CPU,) * (1 if in_process else n_jobs or 1)
    if in_process:
        return (listed[0],)
    jobs = n_jobs or len(listed)
    if jobs > len(listed) and explicit:
        raise WeightsearchError(
            f"--n-jobs {jobs} is more than the {len(listed)} device slot(s) of --devices "
            f"{spec}. Use --n-jobs {len(listed)}, or list a device twice to run two trials on it "
            f"(--devices {','.join(d.name for d in (*listed, listed[0]))})."
        )
    return tuple(listed[i % len(listed)] for i in range(jobs))


def _parse(spec: str) -> list[Device]:
    items = [item.strip().lower() for item in spec.split(",")]
    devices = []
    for item in items:
        gpus = [_CUDA_ITEM.fullmatch(part.strip()) for part in item.split("+")]
        if all(gpus):
            devices.append(Device("cuda:" + "+".join(str(int(m.group(1))) for m in gpus if m)))
        elif item in ("cpu", "mps"):
            devices.append(Device(item))
        else:
            raise WeightsearchError(
                f"--devices takes auto, cpu, mps or a list of CUDA devices, but got {spec!r}. "
                f"{_EXAMPLE}"
            )
    return devices


def _auto(machine: Machine) -> list[Device]:
    if machine.cuda:
        return [Device(f"cuda:{i}") for i in range(machine.cuda)]
    return [Device("mps")] if machine.mps else [CPU]


def _check_exist(devices: list[Device], machine: Machine) -> None:
    for device in devices:
        missing = [i for i in device.cuda_indices if i >= machine.cuda]
        if missing:
            have = (
                f"{machine.cuda} CUDA device(s): "
                + ",".join(f"cuda:{i}" for i in range(machine.cuda))
                + f". Example: --devices {','.join(str(i) for i in range(machine.cuda))}"
                if machine.cuda
                else "no CUDA device. Use --devices cpu, or auto"
            )
            raise WeightsearchError(
                f"--devices cuda:{missing[0]} is not a device of this machine, which has {have}."
            )
        if device.name == "mps" and not machine.mps:
            raise WeightsearchError(
                "--devices mps: MPS (the GPU of Apple-silicon Macs) is not available on this "
                "machine. Use --devices auto."
            )
