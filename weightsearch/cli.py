"""The ``weightsearch`` command: one thin function per command, parsing only."""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import optuna
import typer
from rich.console import Console

from weightsearch import methods as balancing
from weightsearch.errors import WeightsearchError
from weightsearch.probe import DEFAULT_STEPS, run_probe
from weightsearch.report import build_report, render_table
from weightsearch.report.methods_table import render_methods_table
from weightsearch.report.probe_table import render_probe
from weightsearch.report.progress import ProgressBar
from weightsearch.runner import Interrupted
from weightsearch.search import (
    DEFAULT_METHODS,
    Outcome,
    ProgressFactory,
    Session,
    run_compare,
    run_grid,
    run_power_scale,
)
from weightsearch.spaces import parse_base_weights, parse_multipliers
from weightsearch.storage import mask_password, resolve_url
from weightsearch.task import parse_params

app = typer.Typer(
    help="Tune the loss weights of a multi-task model, and compare them with adaptive methods.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

EXIT_NO_COMPLETE = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130

TaskArg = Annotated[
    str, typer.Argument(help="path/file.py:function, package.module:function, or path/file.py")
]
StudyOpt = Annotated[
    str | None, typer.Option("--study", help="Study name (default: <task stem>-<command>).")
]
StorageOpt = Annotated[
    str | None,
    typer.Option(
        "--storage",
        envvar="WEIGHTSEARCH_STORAGE",
        help="Storage URL (default: sqlite:///studies/weightsearch.db).",
        show_envvar=True,
    ),
]
ObjectiveOpt = Annotated[
    list[str] | None,
    typer.Option("--objective", help="Metric to optimise; repeat for a multi-objective study."),
]
SeedsOpt = Annotated[
    int, typer.Option("--seeds", help="Seeds per point (a point's value is the mean).")
]
NTrialsOpt = Annotated[
    int | None,
    typer.Option(
        "--n-trials",
        help="At most this many trials in the study; a rerun tops it up (lost trials don't count).",
    ),
]
TimeoutOpt = Annotated[
    float | None, typer.Option("--timeout", help="Start no new trial after this many seconds.")
]
PrunerOpt = Annotated[
    str | None,
    typer.Option(
        "--pruner", help="none, median or hyperband (default: none for grids, else median)."
    ),
]
ParamOpt = Annotated[
    list[str] | None, typer.Option("--param", help="KEY=VALUE handed to the task as run.params.")
]
NJobsOpt = Annotated[
    int, typer.Option("--n-jobs", help="Trials at once on this machine (worker processes).")
]
TrialTimeoutOpt = Annotated[
    float | None,
    typer.Option("--trial-timeout", help="Stop and fail a trial that runs longer (seconds)."),
]
InProcessOpt = Annotated[
    bool,
    typer.Option(
        "--in-process",
        help="Run trials in this process (debuggers work; a crash of the task ends the command).",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print only the JSON report to stdout.")]
QuietOpt = Annotated[
    bool,
    typer.Option("--quiet", help="No progress bar: print only the result (and warnings)."),
]


@app.command()
def grid(
    task: TaskArg,
    multipliers: Annotated[
        str, typer.Option(help="Factors tried on each varied loss's base weight.")
    ] = "1,2,4,6",
    vary: Annotated[
        str | None, typer.Option(help="Comma-separated losses to vary (default: all).")
    ] = None,
    base: Annotated[
        str | None, typer.Option(help="Base weights name=w,... (default: equal).")
    ] = None,
    study: StudyOpt = None,
    storage: StorageOpt = None,
    objective: ObjectiveOpt = None,
    seeds: SeedsOpt = 1,
    n_trials: NTrialsOpt = None,
    timeout: TimeoutOpt = None,
    pruner: PrunerOpt = None,
    param: ParamOpt = None,
    n_jobs: NJobsOpt = 1,
    trial_timeout: TrialTimeoutOpt = None,
    in_process: InProcessOpt = False,
    json_output: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Sum-to-one multiplier grid: every weight vector normalised to sum 1, each run once."""
    session = _session(
        task,
        study,
        storage,
        objective,
        seeds,
        n_trials,
        timeout,
        pruner,
        param,
        n_jobs,
        trial_timeout,
        in_process,
    )
    outcome = _run(
        lambda progress: run_grid(
            session,
            multipliers=_parsed(parse_multipliers, multipliers),
            vary=[v.strip() for v in vary.split(",") if v.strip()] if vary is not None else None,
            base=_parsed(parse_base_weights, base) if base is not None else None,
            progress=progress,
        ),
        json_output,
        quiet,
    )
    _finish(outcome, json_output)


@app.command("power-scale")
def power_scale(
    task: TaskArg,
    anchor: Annotated[
        str | None, typer.Option(help="Loss fixed at weight 1 (default: the first loss).")
    ] = None,
    base: Annotated[float, typer.Option(help="Base m of the other weights m**n.")] = 10.0,
    exponents: Annotated[
        str, typer.Option(help="Integer exponent range LO:HI, inclusive.")
    ] = "-3:1",
    sampler: Annotated[
        str | None,
        typer.Option(
            help="grid, tpe, cmaes, gp or random (default: grid when it fits --n-trials, else tpe)."
        ),
    ] = None,
    continuous: Annotated[
        bool, typer.Option("--continuous", help="Real-valued exponents (model-based samplers).")
    ] = False,
    sampler_seed: Annotated[
        int | None, typer.Option(help="Seed of the sampler, for a reproducible search.")
    ] = None,
    study: StudyOpt = None,
    storage: StorageOpt = None,
    objective: ObjectiveOpt = None,
    seeds: SeedsOpt = 1,
    n_trials: NTrialsOpt = None,
    timeout: TimeoutOpt = None,
    pruner: PrunerOpt = None,
    param: ParamOpt = None,
    n_jobs: NJobsOpt = 1,
    trial_timeout: TrialTimeoutOpt = None,
    in_process: InProcessOpt = False,
    json_output: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Anchor-one power scaling: one loss at weight 1, the others base**n."""
    session = _session(
        task,
        study,
        storage,
        objective,
        seeds,
        n_trials,
        timeout,
        pruner,
        param,
        n_jobs,
        trial_timeout,
        in_process,
    )
    outcome = _run(
        lambda progress: run_power_scale(
            session,
            anchor=anchor,
            base=base,
            exponents=exponents,
            sampler=sampler,
            continuous=continuous,
            sampler_seed=sampler_seed,
            progress=progress,
        ),
        json_output,
        quiet,
    )
    _finish(outcome, json_output)


@app.command()
def compare(
    task: TaskArg,
    methods: Annotated[
        str,
        typer.Option(
            help="Comma-separated balancing methods (see: weightsearch methods); with torchjd "
            "installed also torchjd:<Aggregator>, e.g. torchjd:UPGrad."
        ),
    ] = ",".join(DEFAULT_METHODS),
    static: Annotated[
        list[str] | None,
        typer.Option(
            "--static",
            help="STUDY or STUDY:K: the best (top-K, Pareto) weights of a grid or power-scale "
            "study, as contenders.",
        ),
    ] = None,
    method_arg: Annotated[
        list[str] | None,
        typer.Option("--method-arg", help="METHOD.KEY=VALUE hyperparameter of a method."),
    ] = None,
    seeds: Annotated[
        int, typer.Option("--seeds", help="Seeds per method; every method runs the same seeds.")
    ] = 3,
    study: StudyOpt = None,
    storage: StorageOpt = None,
    objective: ObjectiveOpt = None,
    n_trials: NTrialsOpt = None,
    timeout: TimeoutOpt = None,
    param: ParamOpt = None,
    n_jobs: NJobsOpt = 1,
    trial_timeout: TrialTimeoutOpt = None,
    in_process: InProcessOpt = False,
    json_output: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Adaptive methods against equal and tuned static weights, seed by seed, with statistics."""
    session = _session(
        task,
        study,
        storage,
        objective,
        seeds,
        n_trials,
        timeout,
        None,
        param,
        n_jobs,
        trial_timeout,
        in_process,
    )
    outcome = _run(
        lambda progress: run_compare(
            session,
            methods=[m.strip() for m in methods.split(",") if m.strip()],
            static=static or (),
            method_args=_parsed(balancing.parse_method_args, method_arg or []),
            progress=progress,
        ),
        json_output,
        quiet,
    )
    _finish(outcome, json_output)


@app.command()
def probe(
    task: TaskArg,
    steps: Annotated[
        int, typer.Option(help="Balancer steps to measure; the function is stopped after them.")
    ] = DEFAULT_STEPS,
    anchor: Annotated[
        str | None,
        typer.Option(help="Loss at weight 1 in the suggested power-scale (default: the first)."),
    ] = None,
    base: Annotated[float, typer.Option(help="Base m of the suggested weights m**n.")] = 10.0,
    seed: Annotated[int, typer.Option(help="run.seed of the pass.")] = 0,
    param: ParamOpt = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print only the JSON document to stdout.")
    ] = False,
) -> None:
    """One short pass with equal weights: each loss's scale, gradient norm and conflicts.

    Runs the task's function until its balancer has measured --steps steps, then prints per
    loss the mean loss, the norm of its gradient on the shared parameters, the cosines between
    task gradients (negative: conflict), base weights that equalise the gradient norms (for
    grid --base) and a power-scale exponent range around them (for power-scale --exponents).

    \b
    --json fields: task, losses, steps (measured); magnitude, grad_norm (loss -> mean);
    cosine, conflict_rate (loss -> loss -> mean cosine or null, fraction of negative steps);
    conflicts (list of {losses: [a, b], cosine}); suggested {base_weights (sum 1), anchor,
    base, offsets (loss -> log_base(anchor norm / norm)), exponents ([LO, HI] or null)};
    commands (grid, power-scale: command lines to paste).
    """
    # With --json the task's own prints must not corrupt the document on stdout.
    with contextlib.redirect_stdout(sys.stderr) if json_output else contextlib.nullcontext():
        result = run_probe(
            task=task,
            steps=steps,
            anchor=anchor,
            base=base,
            seed=seed,
            params=parse_params(param or ()),
        )
    for note in result.notes:
        _message(note)
    if json_output:
        sys.stdout.write(json.dumps(result.to_dict(), indent=2) + "\n")
    else:
        render_probe(result, _stdout)


@app.command("methods")
def list_methods(
    json_output: JsonOpt = False,
) -> None:
    """List the balancing methods with their kind, reference and hyperparameters."""
    infos = balancing.describe()
    if json_output:
        sys.stdout.write(json.dumps([info.to_dict() for info in infos], indent=2) + "\n")
        return
    render_methods_table(infos, _stdout)


@app.command("report")
def report_study(
    study: Annotated[str, typer.Argument(help="Study name (see: weightsearch studies).")],
    fmt: Annotated[
        str, typer.Option("--format", help="table, json, csv, markdown or html (with plots).")
    ] = "table",
    output: Annotated[
        Path | None,
        typer.Option("--output", help="Write to this file (html default: <study>.html here)."),
    ] = None,
    storage: StorageOpt = None,
) -> None:
    """Report on a study: a table, JSON, CSV, markdown, or an HTML page with plots."""
    # The review modules load here, not at startup: plotly alone adds ~0.4 s to every command.
    from weightsearch.report.render import render_report

    written = render_report(study, fmt, url=resolve_url(storage), output=output, console=_stdout)
    if written is not None:
        _message(f"wrote the {fmt} report of {study!r} to {written.resolve()}")


@app.command("studies")
def show_studies(
    storage: StorageOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """List the studies in the storage: kind, task, trials by state, best value."""
    from weightsearch.report.studies import list_studies, open_for_review, render_studies_table

    url = resolve_url(storage)
    entries = list_studies(open_for_review(url))
    if json_output:
        sys.stdout.write(json.dumps(entries, indent=2) + "\n")
        return
    render_studies_table(entries, mask_password(url), _stdout)


@app.command()
def dashboard(
    storage: StorageOpt = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
) -> None:
    """Start optuna-dashboard on the storage (Ctrl-C stops it)."""
    from weightsearch.report.dashboard import INSTALL_HINT, dashboard_installed, serve
    from weightsearch.report.studies import open_for_review

    if not dashboard_installed():
        raise WeightsearchError(f"optuna-dashboard is not installed. Install it: {INSTALL_HINT}")
    url = resolve_url(storage)
    open_for_review(url)
    _message(
        f"optuna-dashboard for {mask_password(url)} at http://{host}:{port}/dashboard/ "
        "(Ctrl-C stops it)"
    )
    try:
        serve(url, host=host, port=port)
    except KeyboardInterrupt:
        _message("dashboard stopped.")


_stderr = Console(stderr=True)
# Piped output (a file, a CI log) gets wide tables instead of rich's default 80 columns.
_stdout = Console() if Console().is_terminal else Console(width=160)


def _session(
    task: str,
    study: str | None,
    storage: str | None,
    objective: list[str] | None,
    seeds: int,
    n_trials: int | None,
    timeout: float | None,
    pruner: str | None,
    param: list[str] | None,
    n_jobs: int,
    trial_timeout: float | None,
    in_process: bool,
) -> Session:
    if n_trials is not None and n_trials < 1:
        raise WeightsearchError(f"--n-trials must be at least 1, but got {n_trials}.")
    if timeout is not None and timeout <= 0:
        raise WeightsearchError(
            f"--timeout must be a positive number of seconds, but got {timeout}."
        )
    if seeds < 1:
        raise WeightsearchError(f"--seeds must be at least 1, but got {seeds}.")
    if n_jobs < 1:
        raise WeightsearchError(f"--n-jobs must be at least 1, but got {n_jobs}.")
    if trial_timeout is not None and trial_timeout <= 0:
        raise WeightsearchError(
            f"--trial-timeout must be a positive number of seconds, but got {trial_timeout}."
        )
    if in_process and (n_jobs > 1 or trial_timeout is not None):
        raise WeightsearchError(
            "--in-process runs one trial at a time and can't stop it: drop --n-jobs and "
            "--trial-timeout, or drop --in-process."
        )
    return Session(
        task=task,
        study=study,
        storage=storage,
        objectives=objective or (),
        seeds=seeds,
        n_trials=n_trials,
        timeout=timeout,
        pruner=pruner,
        params=parse_params(param or ()),
        n_jobs=n_jobs,
        trial_timeout=trial_timeout,
        in_process=in_process,
    )


def _parsed(parse: Callable[[Any], Any], text: Any) -> Any:
    try:
        return parse(text)
    except ValueError as exc:
        raise WeightsearchError(str(exc)) from None


def _run(
    start: Callable[[ProgressFactory | None], Outcome], json_output: bool, quiet: bool = False
) -> Outcome:
    """Run a command's core with a progress bar (none when quiet); on Ctrl-C print what was done
    and exit 130."""
    bar: ProgressFactory | None = None if quiet else (lambda d: ProgressBar(d, _stderr))
    try:
        return start(bar)
    except Interrupted as exc:
        _message("interrupted: running trials were marked failed; run the same command to resume.")
        if isinstance(exc.outcome, Outcome):
            _finish(exc.outcome, json_output, exit_code=EXIT_INTERRUPTED)
        raise typer.Exit(EXIT_INTERRUPTED) from None


def _finish(outcome: Outcome, json_output: bool, exit_code: int | None = None) -> None:
    for note in outcome.notes:
        _message(note)
    report = build_report(outcome.study, outcome.definition)
    _save_to_dashboard(outcome, report)
    if json_output:
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
    else:
        render_table(report, outcome.definition, _stdout)
        _stdout.print(f"study {outcome.study.study_name!r} in {outcome.shown_storage}")
    if exit_code is None:
        exit_code = 0 if report["best"] else EXIT_NO_COMPLETE
        if exit_code == EXIT_NO_COMPLETE:
            errors = [t.get("error") for t in report["trials"] if t["state"] == "FAIL"]
            first = f" First error: {errors[0]}" if errors else ""
            _error(f"no trial completed.{first}")
    raise typer.Exit(exit_code)


def _save_to_dashboard(outcome: Outcome, report: dict[str, Any]) -> None:
    """Where optuna-dashboard is installed, save the study note and figures; never fails."""
    from weightsearch.report.dashboard import save_to_dashboard

    warning = save_to_dashboard(outcome.study, outcome.definition, report)
    if warning:
        _message(warning)


def main(argv: list[str] | None = None) -> None:
    """Entry point: turns bad input into one ``error:`` line and exit 2, never a traceback."""
    command = typer.main.get_command(app)
    # Optuna's own log lines and experimental-API warnings would drown the table and the errors.
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    # A batch scheduler stops a job with SIGTERM: stop as cleanly as on Ctrl-C.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        # Outside standalone mode, typer.Exit raised inside a command comes back as the result.
        code = command.main(args=argv, prog_name="weightsearch", standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        _message("interrupted.")
        sys.exit(EXIT_INTERRUPTED)
    except WeightsearchError as exc:
        _error(mask_password(str(exc)))
        sys.exit(EXIT_BAD_INPUT)
    except typer.TyperException as exc:
        # Typer's usage errors (unknown option, missing argument, bad value); typer.Exit and
        # typer.Abort are handled above.
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        if type(exc).__name__ == "NoArgsIsHelpError":
            sys.stderr.write(message + "\n")
        else:
            context = getattr(exc, "ctx", None)
            where = context.command_path if context is not None else "weightsearch"
            _error(f"{mask_password(message)}\nSee: {where} --help")
        sys.exit(EXIT_BAD_INPUT)


@app.callback()
def _commands() -> None:
    """Tune the loss weights of a multi-task model, and compare them with adaptive methods."""


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _error(message: str) -> None:
    _message(f"error: {message}")


def _message(text: str) -> None:
    """A plain line on stderr: never wrapped, never coloured, so scripts can read it."""
    sys.stderr.write(text + "\n")
    sys.stderr.flush()
