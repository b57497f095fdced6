"""The ``weightsearch`` command: the search commands, the others' registration, the error boundary.

grid, power-scale and compare are declared here; the commands that run no search are in
:mod:`weightsearch.cli_inspect`, registered here in the order ``--help`` lists them.
"""

from __future__ import annotations

import importlib.metadata
import signal
import sys
import warnings
from collections.abc import Callable
from typing import Annotated, Any

import optuna
import typer

from weightsearch.cli_inspect import PROBE_STEPS as PROBE_STEPS  # kept importable from here
from weightsearch.cli_inspect import (
    dashboard,
    list_methods,
    probe,
    report_study,
    show_studies,
)
from weightsearch.cli_options import search_command
from weightsearch.cli_output import EXIT_INTERRUPTED
from weightsearch.cli_output import error as _error
from weightsearch.cli_output import message as _message
from weightsearch.errors import WeightsearchError
from weightsearch.runner import StopSignal
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
from weightsearch.spaces.power_scale import parse_exponent_range
from weightsearch.storage import mask_password

app = typer.Typer(
    help="Tune the loss weights of a multi-task model, and compare them with adaptive methods.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

EXIT_BAD_INPUT = 2


@search_command(app, "grid")
def grid(
    session: Session,
    progress: ProgressFactory | None,
    multipliers: Annotated[
        str,
        typer.Option(metavar="M,M,...", help="Factors tried on each varied loss's base weight."),
    ] = "1,2,4,6",
    vary: Annotated[
        str | None,
        typer.Option(metavar="LOSS,...", help="Comma-separated losses to vary (default: all)."),
    ] = None,
    base: Annotated[
        str | None,
        typer.Option(metavar="LOSS=W,...", help="Base weights name=w,... (default: equal)."),
    ] = None,
) -> Outcome:
    """Sum-to-one multiplier grid: every weight vector normalised to sum 1, each run once."""
    return run_grid(
        session,
        multipliers=_parsed(parse_multipliers, multipliers),
        vary=_names(vary) if vary is not None else None,
        base=_parsed(parse_base_weights, base) if base is not None else None,
        progress=progress,
    )


@search_command(app, "power-scale")
def power_scale(
    session: Session,
    progress: ProgressFactory | None,
    anchor: Annotated[
        str | None,
        typer.Option(metavar="LOSS", help="Loss fixed at weight 1 (default: the first loss)."),
    ] = None,
    base: Annotated[
        float, typer.Option(metavar="M", help="Base m of the other weights m**n.")
    ] = 10.0,
    exponents: Annotated[
        str, typer.Option(metavar="LO:HI", help="Integer exponent range LO:HI, inclusive.")
    ] = "-3:1",
    sampler: Annotated[
        str | None,
        typer.Option(
            metavar="SAMPLER",
            help="grid, tpe (multivariate), cmaes, gp or random "
            "(default: grid when it fits --n-trials, else tpe).",
        ),
    ] = None,
    continuous: Annotated[
        bool, typer.Option("--continuous", help="Real-valued exponents (model-based samplers).")
    ] = False,
    sampler_seed: Annotated[
        int | None,
        typer.Option(metavar="SEED", help="Seed of the sampler, for a reproducible search."),
    ] = None,
) -> Outcome:
    """Anchor-one power scaling: one loss at weight 1, the others base**n."""
    return run_power_scale(
        session,
        anchor=anchor,
        base=base,
        exponents=_parsed(parse_exponent_range, exponents),
        sampler=sampler,
        continuous=continuous,
        sampler_seed=sampler_seed,
        progress=progress,
    )


@search_command(
    app, "compare", without=("pruner", "retry_failed", "halving_factor", "halving_min_steps")
)
def compare(
    session: Session,
    progress: ProgressFactory | None,
    methods: Annotated[
        str,
        typer.Option(
            metavar="METHOD,...",
            help="Comma-separated balancing methods (see: weightsearch methods); with torchjd "
            "installed also torchjd:<Aggregator>, e.g. torchjd:UPGrad.",
        ),
    ] = ",".join(DEFAULT_METHODS),
    static: Annotated[
        list[str] | None,
        typer.Option(
            "--static",
            metavar="STUDY[:K]",
            help="STUDY or STUDY:K: the best (top-K, Pareto) weights of a grid or power-scale "
            "study, as contenders.",
        ),
    ] = None,
    method_arg: Annotated[
        list[str] | None,
        typer.Option(
            "--method-arg",
            metavar="METHOD.KEY=VALUE",
            help="METHOD.KEY=VALUE hyperparameter of a method.",
        ),
    ] = None,
    # Replaces the shared --seeds (another default and help); its value goes to the session.
    seeds: Annotated[
        int,
        typer.Option(
            "--seeds", metavar="N", help="Seeds per method; every method runs the same seeds."
        ),
    ] = 3,
) -> Outcome:
    """Adaptive methods against equal and tuned static weights, seed by seed, with statistics."""
    # The methods import torch: loaded when a command needs them, not at startup.
    from weightsearch.methods import parse_method_args

    return run_compare(
        session,
        methods=_names(methods),
        static=static or (),
        method_args=_parsed(parse_method_args, method_arg or []),
        progress=progress,
    )


app.command()(probe)
app.command("methods")(list_methods)
app.command("report")(report_study)
app.command("studies")(show_studies)
app.command()(dashboard)


def _parsed(parse: Callable[[Any], Any], text: Any) -> Any:
    try:
        return parse(text)
    except ValueError as exc:
        raise WeightsearchError(str(exc)) from None


def _names(text: str) -> list[str]:
    """A comma-separated list of names, blanks dropped."""
    return [name.strip() for name in text.split(",") if name.strip()]


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


def _show_version(value: bool) -> None:
    if value:
        try:
            version = importlib.metadata.version("weightsearch")
        except importlib.metadata.PackageNotFoundError:
            version = "unknown (not installed: pip install -e .)"
        sys.stdout.write(f"weightsearch {version}\n")
        raise typer.Exit()


@app.callback()
def _commands(
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", is_eager=True, callback=_show_version
        ),
    ] = False,
) -> None:
    """Tune the loss weights of a multi-task model, and compare them with adaptive methods."""


def _interrupt(signum: int, frame: object) -> None:
    raise StopSignal(signal.Signals(signum).name)
