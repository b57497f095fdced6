"""optuna-dashboard: a study note and the report's figures saved to a study, and the server.

optuna-dashboard is optional (``pip install 'weightsearch[dashboard]'``). Without it, saving does
nothing and ``serve`` says how to install it. Metric names and the weights as parameters are
written by the runner whether or not it is installed, so a study reads well once it is.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from typing import Any

import optuna

from weightsearch.errors import WeightsearchError
from weightsearch.report.formats import markdown_report
from weightsearch.storage import mask_password, open_storage
from weightsearch.study import StudyDefinition

INSTALL_HINT = "pip install 'weightsearch[dashboard]' (or: pip install optuna-dashboard)"


def dashboard_installed() -> bool:
    """Whether optuna-dashboard can be imported."""
    return importlib.util.find_spec("optuna_dashboard") is not None


def study_note(report: dict[str, Any], definition: StudyDefinition) -> str:
    """The markdown note of a study: what it was (task, space, command) and its summary."""
    intro = (
        "_Written by weightsearch when the command finished; each run of the command rewrites "
        "it. Weights are the trials' `w_` parameters (grid) or user attr `weights`; per-seed "
        "metrics, curves and errors are in the trials' user attrs._"
    )
    return f"{markdown_report(report, definition)}\n{intro}\n"


def save_to_dashboard(
    study: optuna.Study,
    definition: StudyDefinition,
    report: dict[str, Any],
    references: Sequence[dict[str, Any]] = (),
) -> str | None:
    """Save the study note and the report's figures to the study, where optuna-dashboard is
    installed; return a warning line if that failed, else None.

    Learning curves are left out: the dashboard draws them from the trials' reports. Each
    figure has a fixed id, so saving again replaces it.
    """
    if not dashboard_installed():
        return None
    try:
        import optuna_dashboard

        # plotly loads only here: commands start ~0.4 s faster without it.
        from weightsearch.report.figures import runs_by_trial, study_figures

        optuna_dashboard.save_note(study, study_note(report, definition))
        runs = runs_by_trial(study.get_trials(deepcopy=False))
        for named in study_figures(report, runs, references=references, curves=False):
            optuna_dashboard.save_plotly_graph_object(study, named.figure, graph_object_id=named.id)
    # The study itself is complete: a note that could not be written must not fail the command.
    except Exception as exc:
        reason = mask_password(str(exc).strip().splitlines()[0] if str(exc).strip() else "")
        return (
            f"warning: the optuna-dashboard note and figures were not saved "
            f"({type(exc).__name__}: {reason}). The study is complete."
        )
    return None


def serve(storage_url: str, host: str = "127.0.0.1", port: int = 8080) -> None:
    """Serve optuna-dashboard on the storage until interrupted.

    Raises:
        WeightsearchError: optuna-dashboard is not installed, the storage can't be opened, or
            the address can't be bound.
    """
    if not dashboard_installed():
        raise WeightsearchError(f"optuna-dashboard is not installed. Install it: {INSTALL_HINT}")
    if not 0 < port < 65536:
        raise WeightsearchError(f"--port must be between 1 and 65535, but got {port}.")
    storage = open_storage(storage_url)
    import optuna_dashboard

    try:
        optuna_dashboard.run_server(storage, host=host, port=port)
    except OSError as exc:
        raise WeightsearchError(
            f"can't serve on {host}:{port}: {exc.strerror or exc}. "
            "Pick another --port, or stop what is using it."
        ) from None
