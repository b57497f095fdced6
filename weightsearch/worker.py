"""The worker side: where a trial's job runs, in this process or a child process.

:class:`InProcessWorker` runs jobs in the coordinator's process (``--in-process``).
:class:`ProcessWorker` keeps one long-lived child process that imported the task once,
hands it jobs over a pipe, answers its intermediate reports with pruning decisions, and turns a
child that dies (segfault, ``os._exit``, out of memory) or overruns ``--trial-timeout`` into a
failed trial, starting a fresh child for the next job.
"""

from __future__ import annotations

import contextlib
import importlib
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Mapping
from multiprocessing.connection import Connection
from typing import Any, Protocol

from weightsearch.errors import WeightsearchError
from weightsearch.jobs import Job, JobResult, Reporter, execute_job
from weightsearch.task import Task, load_task

# How long a new worker may take to import torch and the task before its first job.
_START_TIMEOUT_S = 300.0
# What torch imports at its first optimizer step, not at ``import torch``: its compiler stack
# (torch._dynamo, sympy), about 2 s. A worker that will be timed imports it before its first job.
_FIRST_USE_MODULES = ("torch._dynamo",)


class Worker(Protocol):
    """Runs jobs for the coordinator: in this process, or in a process of its own."""

    def prepare(self) -> None:
        """Get ready to run jobs (start a process, load the task); run() does it if needed."""
        ...

    def run(self, job: Job, report: Reporter) -> JobResult: ...

    def close(self) -> None: ...


class InProcessWorker:
    """Runs jobs in the coordinator's own process (``--in-process``)."""

    def __init__(self, task: Task, warm_up: bool = False) -> None:
        self.task = task
        self.warm_up = warm_up

    def prepare(self) -> None:
        if self.warm_up:
            load_first_use_modules()
            self.warm_up = False

    def run(self, job: Job, report: Reporter) -> JobResult:
        return execute_job(self.task, job, report)

    def close(self) -> None:
        pass


class ProcessWorker:
    """Runs jobs in a long-lived child process that imports the task once.

    Args:
        task_ref: the task reference the user gave; the child loads the task from it (and from
            nothing else: no code crosses the pipe).
        threads: torch threads in the child, so that N workers share the cores instead of each
            using all of them (None: torch's default).
        trial_timeout: a job running longer than this many seconds is stopped and failed.
        pin: variables set in the child's environment on top of this process's, before the
            child first touches CUDA: its device (:meth:`weightsearch.devices.Device.environment`).
        warm_up: import what torch loads at first use before the first job, so that the first
            job's time is comparable with the others' (compare's s/run).
    """

    def __init__(
        self,
        task_ref: str,
        threads: int | None,
        trial_timeout: float | None = None,
        pin: Mapping[str, str] | None = None,
        warm_up: bool = False,
    ) -> None:
        self.task_ref = task_ref
        self.threads = threads
        self.trial_timeout = trial_timeout
        self.pin = dict(pin or {})
        self.warm_up = warm_up
        self._context = _start_method()
        self._process: Any = None
        self._conn: Connection | None = None
        self._busy = False
        self._ready = False

    def _start(self) -> None:
        parent, child = self._context.Pipe()
        self._process = self._context.Process(
            target=_serve,
            args=(self.task_ref, self.threads, {**os.environ, **self.pin}, child, self.warm_up),
            daemon=True,
        )
        self._process.start()
        child.close()
        self._conn = parent
        self._ready = False

    def prepare(self) -> None:
        if self._conn is None or not self._process.is_alive():
            self._kill()
            self._start()
        if not self._ready:
            self._await_ready(self._conn)

    def run(self, job: Job, report: Reporter) -> JobResult:
        # Started when first needed, so that a command with nothing left to run starts nothing.
        self._busy = True
        self.prepare()
        conn = self._conn
        if not self._ready or conn is None:
            self._busy = False
            return JobResult(
                state="FAIL",
                error=f"WorkerDied: a new worker process {self._death()} before it could start",
            )
        started = time.monotonic()
        deadline = None if self.trial_timeout is None else started + self.trial_timeout
        try:
            conn.send(job)
            while True:
                wait = None if deadline is None else max(0.0, deadline - time.monotonic())
                if not conn.poll(wait):
                    self._kill()
                    return JobResult(
                        state="FAIL",
                        error=f"TrialTimeout: the trial ran longer than --trial-timeout "
                        f"{self.trial_timeout:g} s and was stopped",
                        seconds=time.monotonic() - started,
                    )
                message = conn.recv()
                if isinstance(message, JobResult):
                    if message.out_of_memory:
                        # What the task keeps alive is only freed with the process.
                        self._busy = False
                        self.close()
                    return message
                seed_index, step, metrics = message
                conn.send(report(seed_index, step, metrics))
        except (EOFError, OSError):
            # The pipe broke: the child died, or close() killed it while it ran this job.
            return JobResult(
                state="FAIL",
                error=f"WorkerDied: the worker process running this trial {self._death()}; "
                "a new worker takes the next trial",
                seconds=time.monotonic() - started,
            )
        finally:
            self._busy = False

    def _await_ready(self, conn: Connection | None) -> bool:
        try:
            self._ready = (
                conn is not None and conn.poll(_START_TIMEOUT_S) and conn.recv() == "ready"
            )
        except (EOFError, OSError):
            self._ready = False
        if not self._ready:
            self._process.kill()
        return self._ready

    def close(self) -> None:
        """Stop the child: politely if it is idle, at once if it is running a job.

        May be called from another thread than the one in :meth:`run`: for a busy worker it
        only kills the child, and the thread in :meth:`run` sees the pipe break and cleans up.
        """
        if self._busy:
            if self._process is not None and self._process.is_alive():
                self._process.kill()
            return
        if self._conn is not None:
            with contextlib.suppress(OSError):
                self._conn.send(None)
            if self._process is not None:
                self._process.join(timeout=2)
        self._kill()

    def _kill(self) -> None:
        if self._process is not None and self._process.is_alive():
            self._process.kill()
            self._process.join(timeout=5)
        if self._conn is not None:
            with contextlib.suppress(OSError):
                self._conn.close()
            self._conn = None

    def _death(self) -> str:
        self._process.join(timeout=5)
        code = self._process.exitcode
        self._kill()
        if code is None:
            return "stopped answering"
        if code < 0:
            name = signal.Signals(-code).name
            hint = " (out of memory?)" if name == "SIGKILL" else ""
            return f"was killed by {name}{hint}"
        return f"exited with code {code}"


def _start_method() -> Any:
    """How worker processes start: forked from a server process that has imported torch once.

    The coordinator never forks itself: a fork of a process whose torch has started its thread
    pools can deadlock. multiprocessing's forkserver is a fresh process that imports this module
    and torch (named here: the package imports torch lazily) and nothing else, runs nothing, and
    forks every worker from there, so a worker doesn't spend seconds importing torch first: four
    workers on two cores were ready in 1.7 s instead of 3.8 s, and a crashed worker's replacement
    in 0.04 s. Off Linux workers are spawned: Windows has no forkserver, and macOS frameworks
    loaded by torch's import are not known to survive a fork.

    CUDA: neither this module nor ``import torch`` initialises CUDA (torch does so lazily, on
    the first CUDA call), and the server runs nothing else, so every worker forked from it
    starts with CUDA uninitialised, as CUDA requires of a forked child. Each worker sets its
    device's ``CUDA_VISIBLE_DEVICES`` (:func:`_adopt_environment`, first thing in
    :func:`_serve`) before its task can call CUDA, and the CUDA driver reads that variable when
    it initialises, so the task sees exactly its own GPU. Don't add a preload that calls CUDA
    (``torch.cuda.is_available()``, ``device_count()``): every worker would inherit it.
    """
    if not sys.platform.startswith("linux"):
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    # Only read when the server starts: once per process, by its first worker.
    context.set_forkserver_preload([__name__, "torch"])
    return context


def start_worker_server() -> None:
    """Start the process that workers fork from now, without waiting for it to be ready.

    The server imports torch (seconds); started at the top of a command, that import runs while
    the command loads the task and opens the study rather than after it, when the first worker
    is needed. Nothing to do where workers are spawned.
    """
    context = _start_method()
    if context.get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()


def _adopt_environment(environment: Mapping[str, str]) -> None:
    """Make this process's environment the coordinator's as it was when the worker started.

    A forkserver's children inherit the server's environment from when the server started
    (multiprocessing brings over the working directory and ``sys.path``, not the environment).
    What torch read at import stays as it was then; ``CUDA_VISIBLE_DEVICES`` is read later, when
    the task first calls CUDA, so the worker's device pin set here takes effect.
    """
    for key in [k for k in os.environ if k not in environment]:
        del os.environ[key]
    os.environ.update(environment)


def load_first_use_modules() -> None:
    """Import what torch otherwise imports inside the first trial (see ``_FIRST_USE_MODULES``)."""
    for name in _FIRST_USE_MODULES:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)


def _serve(
    task_ref: str,
    threads: int | None,
    environment: Mapping[str, str],
    conn: Connection,
    warm_up: bool = False,
) -> None:
    """The child's loop: load the task once, then run jobs until told to stop."""
    # Ctrl-C reaches the whole process group; the coordinator alone decides what it means.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Started as a daemon, so that it ends with the command; but a multi-GPU trial starts its
    # own processes (torch.multiprocessing.spawn), which multiprocessing forbids a daemon.
    multiprocessing.current_process().daemon = False
    _adopt_environment(environment)
    import torch

    if threads is not None:
        torch.set_num_threads(threads)
    if warm_up:
        load_first_use_modules()
    try:
        task: Task | None = load_task(task_ref)
        load_error = None
    except WeightsearchError as exc:
        task, load_error = None, str(exc)

    def report(seed_index: int, step: int, metrics: Mapping[str, float]) -> bool:
        conn.send((seed_index, step, dict(metrics)))
        return bool(conn.recv())

    conn.send("ready")

    while True:
        try:
            job = conn.recv()
        except EOFError:
            return
        if job is None:
            return
        if task is None:
            error = f"the worker could not load the task: {load_error}"
            conn.send(JobResult(state="FAIL", error=error))
            continue
        conn.send(execute_job(task, job, report))


def worker_threads(n_jobs: int) -> int | None:
    """Torch threads per worker so that ``n_jobs`` workers share this machine's cores.

    None for a single worker: it keeps torch's own default, as the task would have when run alone.
    """
    if n_jobs == 1:
        return None
    return max(1, (os.cpu_count() or 1) // n_jobs)
