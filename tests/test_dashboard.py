"""optuna-dashboard, as a real client, reads studies made by weightsearch."""

from __future__ import annotations

import ast
import io
import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any
from wsgiref.util import setup_testing_defaults

import pytest
from cli_result import CliResult
from review_studies import TASK, shared_storage

optuna_dashboard = pytest.importorskip("optuna_dashboard")

Cli = Callable[..., CliResult]


def api(app: Any, path: str) -> Any:
    environ: dict[str, Any] = {"PATH_INFO": path, "REQUEST_METHOD": "GET"}
    setup_testing_defaults(environ)
    environ["wsgi.input"] = io.BytesIO()
    status: list[str] = []
    body = b"".join(app(environ, lambda s, headers, exc_info=None: status.append(s)))
    assert status[0].startswith("200"), (path, status, body[:300])
    return json.loads(body)


def study_detail(url: str, name: str) -> dict[str, Any]:
    app = optuna_dashboard.wsgi(url)
    summaries = api(app, "/api/studies")["study_summaries"]
    ids = {s["study_name"]: s["study_id"] for s in summaries}
    assert {"g", "ps", "c", "cmo"} <= set(ids)
    return api(app, f"/api/studies/{ids[name]}")


def test_grid_study_reads_well_in_the_dashboard() -> None:
    detail = study_detail(shared_storage(), "g")
    assert detail["objective_names"] == ["val_loss"]
    note = detail["note"]["body"]
    assert note.startswith("## g (grid)")
    # The task as it was given, so the command pastes back.
    assert f"`weightsearch grid {TASK} --multipliers 1,2 " in note
    assert "| # | w_cls | w_box | w_aux | val_loss ↓ | val_acc ↑ | seeds |" in note
    assert len(detail["trials"]) == 7
    for trial in detail["trials"]:
        params = {p["name"]: float(p["param_external_value"]) for p in trial["params"]}
        attrs = {a["key"]: a["value"] for a in trial["user_attrs"]}
        weights = ast.literal_eval(attrs["weights"])
        assert params == pytest.approx({f"w_{k}": w for k, w in weights.items()})
        assert sum(params.values()) == pytest.approx(1.0)
        assert "values" in attrs
        assert "run" in attrs
        assert trial["intermediate_values"], "learning curves come from run.report"
    graphs = {g["id"]: json.loads(g["graph_object"]) for g in detail["plotly_graph_objects"]}
    assert set(graphs) == {"weight-simplex", "objective-per-weight"}
    assert graphs["weight-simplex"]["data"][0]["type"] == "scatterternary"


def test_multi_objective_and_compare_studies_in_the_dashboard() -> None:
    url = shared_storage()
    detail = study_detail(url, "ps")
    assert detail["objective_names"] == ["val_loss", "val_acc"]
    assert detail["directions"] == ["minimize", "maximize"]
    assert "pareto-front" in {g["id"] for g in detail["plotly_graph_objects"]}
    detail = study_detail(url, "c")
    assert detail["note"]["body"].startswith("## c (compare)")
    names = {p["name"] for t in detail["trials"] for p in t["params"]}
    assert names == {"method", "seed"}
    graphs = {g["id"] for g in detail["plotly_graph_objects"]}
    assert graphs == {"methods-over-seeds", "weight-trajectories"}


def test_a_failing_dashboard_save_never_fails_the_command(
    cli: Cli, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(optuna_dashboard, "save_note", broken)
    result = cli("grid", TASK, "--multipliers", "1", "--storage", sqlite_url, "--in-process")
    assert result.code == 0, result.err
    assert "warning: the optuna-dashboard note and figures were not saved" in result.err
    assert "RuntimeError: disk full" in result.err


def test_dashboard_without_optuna_dashboard_says_how_to_install(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("weightsearch.report.dashboard.dashboard_installed", lambda: False)
    message = cli("dashboard").assert_error()
    assert "pip install 'weightsearch[dashboard]'" in message


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_dashboard_command_serves_the_study(tmp_path: Path) -> None:
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "weightsearch",
            "dashboard",
            "--port",
            str(port),
            "--storage",
            shared_storage(),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, server.communicate()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=5) as r:
                    summaries = json.load(r)["study_summaries"]
                break
            except OSError:
                assert time.monotonic() < deadline, "the dashboard did not answer in 60 s"
                time.sleep(0.3)
        assert "g" in {s["study_name"] for s in summaries}
    finally:
        server.terminate()
        _, err = server.communicate(timeout=30)
    assert f"http://127.0.0.1:{port}/dashboard/" in err
