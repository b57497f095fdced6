"""The commands that run no search: probe a task, list the methods, report on a study, list the
studies of a storage, serve optuna-dashboard.

Each is its options and one call into the module that does the work, imported when the command
runs (the probe and the methods import torch, the reports plotly); :mod:`weightsearch.cli`
registers them on the ``weightsearch`` command.
"""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from weightsearch.cli_options import JsonOpt, ParamOpt, StorageOpt, TaskArg
from weightsearch.cli_output import STDOUT as _stdout
from weightsearch.cli_output import message as _message
from weightsearch.errors import WeightsearchError
from weightsearch.storage import mask_password, resolve_url
from weightsearch.task import parse_params

# probe.DEFAULT_STEPS, which a test keeps equal: importing probe here would import torch.
PROBE_STEPS = 20


def probe(
    task: TaskArg,
    steps: Annotated[
        int,
        typer.Option(
            metavar="N", help="Balancer steps to measure; the function is stopped after them."
        ),
    ] = PROBE_STEPS,
    anchor: Annotated[
        str | None,
        typer.Option(
            metavar="LOSS",
            help="Loss at weight 1 in the suggested power-scale (default: the first).",
        ),
    ] = None,
    base: Annotated[
        float, typer.Option(metavar="M", help="Base m of the suggested weights m**n.")
    ] = 10.0,
    seed: Annotated[int, typer.Option(metavar="SEED", help="run.seed of the pass.")] = 0,
    param: ParamOpt = None,
    devices: Annotated[
        str,
        typer.Option(
            metavar="DEVICE", help="Device of the pass: auto, cpu, mps or cuda:N (see grid --help)."
        ),
    ] = "auto",
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
    # probe.py and its tables import torch: loaded here, not at every command's startup.
    from weightsearch.probe import run_probe
    from weightsearch.report.probe_table import render_probe

    params = parse_params(param or ())
    # With --json the task's own prints must not corrupt the document on stdout.
    with contextlib.redirect_stdout(sys.stderr) if json_output else contextlib.nullcontext():
        result = run_probe(task, steps, anchor, base, seed=seed, params=params, devices=devices)
    for note in result.notes:
        _message(note)
    if json_output:
        sys.stdout.write(json.dumps(result.to_dict(), indent=2) + "\n")
    else:
        render_probe(result, _stdout)


def list_methods(
    json_output: JsonOpt = False,
) -> None:
    """List the balancing methods with their kind, reference and hyperparameters."""
    from weightsearch.methods import describe
    from weightsearch.report.methods_table import render_methods_table

    infos = describe()
    if json_output:
        sys.stdout.write(json.dumps([info.to_dict() for info in infos], indent=2) + "\n")
        return
    render_methods_table(infos, _stdout)


def report_study(
    study: Annotated[
        str, typer.Argument(metavar="STUDY", help="Study name (see: weightsearch studies).")
    ],
    fmt: Annotated[
        str,
        typer.Option(
            "--format", metavar="FORMAT", help="table, json, csv, markdown or html (with plots)."
        ),
    ] = "table",
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", metavar="FILE", help="Write to this file (html default: <study>.html here)."
        ),
    ] = None,
    storage: StorageOpt = None,
) -> None:
    """Report on a study: a table, JSON, CSV, markdown, or an HTML page with plots."""
    # The review modules load here, not at startup: plotly alone adds ~0.4 s to every command.
    from weightsearch.report.render import render_report

    written = render_report(study, fmt, url=resolve_url(storage), output=output, console=_stdout)
    if written is not None:
        _message(f"wrote the {fmt} report of {study!r} to {written.resolve()}")


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


def dashboard(
    storage: StorageOpt = None,
    host: Annotated[
        str, typer.Option(metavar="ADDRESS", help="Address to listen on.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(metavar="PORT", help="Port to listen on.")] = 8080,
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
