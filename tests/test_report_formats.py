"""report in every text format, studies, and the figures built from report documents."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import pytest
from cli_result import CliResult
from review_studies import TASK, shared_storage

from weightsearch.report.figures import study_figures
from weightsearch.report.summary import equivalent_command
from weightsearch.storage import open_storage
from weightsearch.study import load_existing_study

Cli = Callable[..., CliResult]


@pytest.fixture(scope="module")
def url() -> str:
    return shared_storage()


def report_json(cli: Cli, url: str, study: str) -> dict[str, Any]:
    result = cli("report", study, "--format", "json", "--storage", url)
    assert result.code == 0, result.err
    return result.json()


def test_csv_holds_every_trial_with_weights_and_metrics(cli: Cli, url: str) -> None:
    document = report_json(cli, url, "g")
    result = cli("report", "g", "--format", "csv", "--storage", url)
    assert result.code == 0, result.err
    rows = list(csv.DictReader(io.StringIO(result.out)))
    assert len(rows) == len(document["trials"]) == 7
    assert list(rows[0])[:4] == ["number", "state", "method", "seeds"]
    for row, trial in zip(rows, document["trials"], strict=True):
        assert int(row["number"]) == trial["number"]
        for loss in ("cls", "box", "aux"):
            assert float(row[f"w_{loss}"]) == pytest.approx(trial["weights"][loss])
        assert float(row["val_loss"]) == pytest.approx(trial["values"]["val_loss"])
        assert float(row["val_acc"]) == pytest.approx(trial["values"]["val_acc"])


def test_power_scale_csv_has_exponents(cli: Cli, url: str) -> None:
    result = cli("report", "ps", "--format", "csv", "--storage", url)
    rows = list(csv.DictReader(io.StringIO(result.out)))
    anchor_free = {"n_box", "n_aux"}
    assert anchor_free <= set(rows[0])
    assert "n_cls" not in rows[0]
    assert {(r["n_box"], r["n_aux"]) for r in rows} == {
        (a, b) for a in ("-1.0", "0.0") for b in ("-1.0", "0.0")
    }


def test_markdown_of_a_grid_names_the_study_and_ranks_the_points(cli: Cli, url: str) -> None:
    document = report_json(cli, url, "g")
    result = cli("report", "g", "--format", "markdown", "--storage", url)
    assert result.code == 0, result.err
    text = result.out
    assert text.startswith("## g (grid)")
    # The task as it was given (an absolute path here), so the command pastes back.
    assert f"`weightsearch grid {TASK} --multipliers 1,2 " in text
    assert "| # | w_cls | w_box | w_aux | val_loss ↓ | val_acc ↑ | seeds |" in text
    best = document["best"][0]
    table = [line for line in text.splitlines() if line.startswith("| ")]
    # Header, rule, then the best point first, marked.
    assert table[2].startswith(f"| {best['number']}* |")
    assert f"{best['values']['val_loss']:.5g}" in table[2]
    assert "7 trials: 7 complete" in text


def test_markdown_of_a_compare_has_cis_tests_and_verdicts(cli: Cli, url: str) -> None:
    document = report_json(cli, url, "c")
    text = cli("report", "c", "--format", "markdown", "--storage", url).out
    for method in document["methods"]:
        assert f"| {method['name']} |" in text
    assert " ± " in text
    assert "| n/a |" in text
    for verdict in document["verdicts"]:
        assert verdict.replace("|", "\\|") in text
    assert "--methods equal,uncertainty --static g" in text


def test_table_to_a_file_and_html_to_study_name_in_cwd(cli: Cli, url: str, workdir: Path) -> None:
    result = cli("report", "g", "--output", "g.txt", "--storage", url)
    assert result.code == 0, result.err
    assert "g (grid): top 7 by val_loss" in (workdir / "g.txt").read_text()
    result = cli("report", "g", "--format", "html", "--storage", url)
    assert result.code == 0, result.err
    assert result.out == ""
    assert str(workdir / "g.html") in result.err
    assert (workdir / "g.html").read_text().startswith("<!DOCTYPE html>")


def test_report_errors_are_plain(cli: Cli, url: str, workdir: Path) -> None:
    assert (
        "--format must be one of"
        in cli("report", "g", "--format", "pdf", "--storage", url).assert_error()
    )
    assert "no study named 'nope'" in cli("report", "nope", "--storage", url).assert_error()
    # Reading never creates a storage that isn't there.
    message = cli("report", "g").assert_error()
    assert "no storage at sqlite:///studies/weightsearch.db" in message
    assert not (workdir / "studies").exists()


def test_studies_lists_kind_task_states_and_best(cli: Cli, url: str) -> None:
    result = cli("studies", "--storage", url, "--json")
    assert result.code == 0, result.err
    entries = {e["study"]: e for e in result.json()}
    assert set(entries) == {"g", "ps", "c", "cmo"}
    assert entries["g"]["kind"] == "grid"
    assert entries["g"]["task"] == str(TASK)
    assert entries["g"]["trials"] == {"COMPLETE": 7}
    best = report_json(cli, url, "g")["best"][0]
    assert entries["g"]["best"]["number"] == best["number"]
    assert entries["g"]["best"]["value"] == pytest.approx(best["values"]["val_loss"])
    assert entries["ps"]["best"] == {"pareto_front": len(report_json(cli, url, "ps")["best"])}
    top = report_json(cli, url, "c")["methods"][0]
    assert entries["c"]["best"]["method"] == top["name"]
    assert entries["c"]["best"]["value"] == pytest.approx(top["mean"]["val_loss"])
    table = cli("studies", "--storage", url).out
    assert "power-scale" in table
    assert "Pareto front" in table
    assert "(mean)" in table


def test_equivalent_command_holds_the_space() -> None:
    storage = open_storage(shared_storage())
    _, definition = load_existing_study(storage, "ps")
    command = equivalent_command(definition, "ps")
    assert command == (
        f"weightsearch power-scale {TASK} --anchor cls --base 10 --exponents -1:0 "
        "--objective val_loss --objective val_acc --seeds 1 --study ps"
    )


def synthetic_report(losses: list[str], objectives: int = 1) -> dict[str, Any]:
    names = [("loss", "minimize"), ("acc", "maximize")][:objectives]
    trials = []
    for number in range(6):
        raw = [1.0 + (number + i) % 3 for i in range(len(losses))]
        weights = {loss: w / sum(raw) for loss, w in zip(losses, raw, strict=True)}
        values = {"loss": 1.0 + number % 4, "acc": 0.1 * number}
        trials.append(
            {
                "number": number,
                "state": "COMPLETE",
                "weights": weights,
                "method": "static",
                "seeds": [0],
                "values": values,
            }
        )
    return {
        "study": "s",
        "kind": "grid",
        "task": "t:f",
        "losses": losses,
        "objectives": [{"name": n, "direction": d} for n, d in names],
        "trials": trials,
        "best": [{"number": 0, "weights": trials[0]["weights"], "values": trials[0]["values"]}],
    }


@pytest.mark.parametrize(
    ("losses", "trace_type"),
    [(["a", "b"], go.Scatter), (["a", "b", "c"], go.Scatterternary), (list("abcd"), go.Parcoords)],
)
def test_weight_space_figure_fits_the_number_of_losses(losses: list[str], trace_type: type) -> None:
    figures = {f.id: f for f in study_figures(synthetic_report(losses), {})}
    assert isinstance(figures["weight-simplex"].figure.data[0], trace_type)
    per_weight = figures["objective-per-weight"].figure
    assert len(per_weight.data) == len(losses)
    assert "pareto-front" not in figures
    assert "learning-curves" not in figures


def test_pareto_and_learning_curves_appear_with_their_data() -> None:
    report = synthetic_report(["a", "b", "c"], objectives=2)
    runs = {0: {"curves": {"0": [[0, {"loss": 3.0}], [1, {"loss": 2.0}]]}}}
    figures = {f.id: f for f in study_figures(report, runs)}
    front = figures["pareto-front"].figure
    assert [len(trace.x) for trace in front.data] == [5, 1]
    curve = figures["learning-curves"].figure.data[0]
    assert list(curve.y) == [3.0, 2.0]
    assert "learning-curves" not in {f.id for f in study_figures(report, runs, curves=False)}


def test_compare_figures_show_seeds_cis_and_only_changing_trajectories(cli: Cli, url: str) -> None:
    storage = open_storage(url)
    study, _ = load_existing_study(storage, "c")
    document = report_json(cli, url, "c")
    from weightsearch.report.figures import runs_by_trial

    figures = {f.id: f for f in study_figures(document, runs_by_trial(study.trials))}
    assert "methods-vs-static" not in figures  # one objective
    spread = figures["methods-over-seeds"].figure
    boxes = [t for t in spread.data if isinstance(t, go.Box)]
    assert [b.name for b in boxes] == [m["name"] for m in document["methods"]]
    assert all(len(b.y) == 2 for b in boxes)
    means = [t for t in spread.data if isinstance(t, go.Scatter)]
    for trace, method in zip(means, document["methods"], strict=True):
        low, high = method["ci95"]["val_loss"]
        assert trace.y[0] + trace.error_y.array[0] == pytest.approx(high)
        assert trace.y[0] - trace.error_y.arrayminus[0] == pytest.approx(low)
    trajectories = figures["weight-trajectories"].figure
    # Only uncertainty changes its weights: equal and the static weights are left out.
    assert [a.text for a in trajectories.layout.annotations] == ["uncertainty"]
    assert len(trajectories.data) == 2 * 3  # two seeds, three losses
    assert json.loads(trajectories.to_json())  # serialisable as the dashboard stores it
