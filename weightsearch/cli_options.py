"""The options several commands take, declared once, and the decorator giving searches theirs.

grid, power-scale and compare share a block of options that make a
:class:`~weightsearch.session.Session`; :func:`search_command` adds that block to each of them.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Annotated, Any

import typer

from weightsearch.cli_output import finish, run_with_progress
from weightsearch.session import Outcome, Session
from weightsearch.task import parse_params

TaskArg = Annotated[
    str,
    typer.Argument(
        metavar="TASK", help="path/file.py:function, package.module:function, or path/file.py"
    ),
]
StudyOpt = Annotated[
    str | None,
    typer.Option("--study", metavar="NAME", help="Study name (default: <task stem>-<command>)."),
]
StorageOpt = Annotated[
    str | None,
    typer.Option(
        "--storage",
        metavar="URL",
        envvar="WEIGHTSEARCH_STORAGE",
        help="Storage URL (default: sqlite:///studies/weightsearch.db).",
        show_envvar=True,
    ),
]
ObjectiveOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--objective",
        metavar="METRIC",
        help="Metric to optimise; repeat for a multi-objective study.",
    ),
]
SeedsOpt = Annotated[
    int, typer.Option("--seeds", metavar="N", help="Seeds per point (a point's value is the mean).")
]
NTrialsOpt = Annotated[
    int | None,
    typer.Option(
        "--n-trials",
        metavar="N",
        help="At most this many trials in the study; a rerun tops it up (lost trials don't count).",
    ),
]
TimeoutOpt = Annotated[
    float | None,
    typer.Option(
        "--timeout", metavar="SECONDS", help="Start no new trial after this many seconds."
    ),
]
PrunerOpt = Annotated[
    str | None,
    typer.Option(
        "--pruner",
        metavar="PRUNER",
        help="none, median, hyperband, or halving: successive halving over weight points, "
        "a promoted point retrains from scratch (default: none, as measured: see README).",
    ),
]
HalvingFactorOpt = Annotated[
    int,
    typer.Option(
        "--halving-factor",
        metavar="N",
        help="With --pruner halving: one point in this many goes up a rung.",
    ),
]
HalvingMinStepsOpt = Annotated[
    int | None,
    typer.Option(
        "--halving-min-steps",
        metavar="N",
        help="With --pruner halving: run.report steps of the lowest rung (default: half the "
        "task's length, learned from its first trial).",
    ),
]
ParamOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--param", metavar="KEY=VALUE", help="KEY=VALUE handed to the task as run.params."
    ),
]
NJobsOpt = Annotated[
    int | None,
    typer.Option(
        "--n-jobs",
        metavar="N",
        help="Trials at once on this machine, each in a worker process (default: one per "
        "device slot on GPUs, 1 on the CPU).",
    ),
]
DevicesOpt = Annotated[
    str,
    typer.Option(
        "--devices",
        metavar="DEVICES",
        help="auto (every CUDA GPU, else MPS, else the CPU), cpu, or a list like cuda:0,cuda:1 "
        "or 0,1: one worker per listed device; list a device twice for two trials on it.",
    ),
]
TrialTimeoutOpt = Annotated[
    float | None,
    typer.Option(
        "--trial-timeout",
        metavar="SECONDS",
        help="Stop and fail a trial that runs longer (seconds).",
    ),
]
InProcessOpt = Annotated[
    bool,
    typer.Option(
        "--in-process",
        help="Run trials in this process (debuggers work; a crash of the task ends the command).",
    ),
]
RetryFailedOpt = Annotated[
    bool,
    typer.Option(
        "--retry-failed",
        help="Train again the points whose earlier trials failed (skipped otherwise).",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print only the JSON report to stdout.")]
QuietOpt = Annotated[
    bool,
    typer.Option("--quiet", help="No progress bar: print only the result (and warnings)."),
]


def _shared_options(
    task: TaskArg,
    study: StudyOpt = None,
    storage: StorageOpt = None,
    objective: ObjectiveOpt = None,
    seeds: SeedsOpt = 1,
    n_trials: NTrialsOpt = None,
    timeout: TimeoutOpt = None,
    pruner: PrunerOpt = None,
    halving_factor: HalvingFactorOpt = 3,
    halving_min_steps: HalvingMinStepsOpt = None,
    param: ParamOpt = None,
    n_jobs: NJobsOpt = None,
    trial_timeout: TrialTimeoutOpt = None,
    in_process: InProcessOpt = False,
    devices: DevicesOpt = "auto",
    retry_failed: RetryFailedOpt = False,
) -> Session:
    """The options grid, power-scale and compare share, as the session they describe.

    Each option bears the name of the session's field, but for the repeatable --objective and
    --param, which become ``objectives`` and the parsed ``params``.
    """
    options = dict(locals())
    objectives = options.pop("objective") or ()
    params = parse_params(options.pop("param") or ())
    return Session(objectives=objectives, params=params, **options)


def _output_options(json_output: JsonOpt = False, quiet: QuietOpt = False) -> None:
    """How a search command prints: the JSON report only, and without a progress bar."""


SearchCommand = Callable[..., Outcome]


def search_command(
    app: typer.Typer, name: str, *, without: tuple[str, ...] = ()
) -> Callable[[SearchCommand], SearchCommand]:
    """Register a search command: its own options, then the options every search shares.

    The decorated function takes the session and the progress bar factory, then its own options,
    and returns what its core returns. The shared options (``_shared_options``, then
    ``_output_options``) are declared once and added to its signature here; an option of the
    command's own with the same name (compare's --seeds) replaces the shared one, and the names
    in ``without`` are left out (the session then takes its default).
    """

    def register(command: SearchCommand) -> SearchCommand:
        own = list(inspect.signature(command, eval_str=True).parameters.values())[2:]
        own_names = {p.name for p in own}
        shared = inspect.signature(_shared_options, eval_str=True).parameters
        task, *rest = [p for p in shared.values() if p.name not in {*own_names, *without}]
        output = inspect.signature(_output_options, eval_str=True).parameters.values()

        def run(**options: Any) -> None:
            json_output, quiet = options.pop("json_output"), options.pop("quiet")
            session = _shared_options(**{k: options.pop(k) for k in list(options) if k in shared})
            outcome = run_with_progress(
                lambda bar: command(session, bar, **options), json_output, quiet
            )
            finish(outcome, json_output)

        parameters = [task, *own, *rest, *output]
        run.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
        run.__annotations__ = {p.name: p.annotation for p in parameters}
        run.__doc__ = command.__doc__
        app.command(name)(run)
        return command

    return register
