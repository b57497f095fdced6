"""``weightsearch probe``: the suggestion math by hand, the measuring balancer on fixed tensors,
the probe of examples/scales.py against a real power-scale search, bad inputs; and ``--quiet``."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch
from cli_result import CliResult

from weightsearch.probe import (
    ProbeBalancer,
    StepMeasure,
    _Measured,
    equalising_weights,
    exponent_offsets,
    exponent_range,
    summarise,
)
from weightsearch.task import load_task

ROOT = Path(__file__).resolve().parents[1]
SCALES = ROOT / "examples" / "scales.py"
PROBE_TASKS = Path(__file__).parent / "tasks" / "probe"


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """Tiny models: threads only add contention on a shared 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# --- the suggestion math, by hand ---------------------------------------------------------


def test_equalising_weights_are_inverse_norms_summing_to_one() -> None:
    weights = equalising_weights({"width": 1.0, "height": 10.0, "tilt": 0.1})
    # 1/norm = 1, 0.1, 10; their sum is 11.1.
    assert weights == pytest.approx({"width": 1 / 11.1, "height": 0.1 / 11.1, "tilt": 10 / 11.1})
    assert math.fsum(weights.values()) == pytest.approx(1.0)
    # Each weighted norm is then the same.
    assert {n: w * {"width": 1, "height": 10, "tilt": 0.1}[n] for n, w in weights.items()} == (
        pytest.approx(dict.fromkeys(weights, 1 / 11.1))
    )


def test_exponent_offsets_and_range_for_scales_1_10_01() -> None:
    offsets = exponent_offsets({"width": 1.0, "height": 10.0, "tilt": 0.1}, anchor="width")
    assert offsets == pytest.approx({"height": -1.0, "tilt": 1.0})
    # Integers bracket [-1, 1] exactly; widened by one on each side.
    assert exponent_range(offsets) == (-2, 2)


def test_exponent_range_brackets_fractional_offsets() -> None:
    assert exponent_range({"b": -1.27, "c": 0.88}) == (-3, 2)
    assert exponent_range({"b": 0.5}) == (-1, 2)
    assert exponent_range({"b": -0.2, "c": -0.1}) == (-2, 1)


def test_exponent_range_treats_near_integers_as_integers() -> None:
    # log10(1000) is 2.9999999999999996 in floating point: the range must not reach 2.
    offsets = exponent_offsets({"a": 1000.0, "b": 1.0}, anchor="a")
    assert offsets["b"] == pytest.approx(3.0)
    assert exponent_range(offsets) == (2, 4)


def test_offsets_follow_the_anchor_and_base() -> None:
    norms = {"a": 8.0, "b": 1.0, "c": 0.5}
    assert exponent_offsets(norms, anchor="b", base=2.0) == pytest.approx({"a": -3.0, "c": 1.0})
    assert exponent_range(exponent_offsets(norms, anchor="b", base=2.0)) == (-4, 2)
    # A base below 1 flips the exponents.
    assert exponent_offsets(norms, anchor="b", base=0.5) == pytest.approx({"a": 3.0, "c": -1.0})


@pytest.mark.parametrize(
    ("norms", "anchor", "base", "words"),
    [
        ({"a": 1.0, "b": 0.0}, "a", 10.0, "positive finite"),
        ({"a": 1.0, "b": math.nan}, "a", 10.0, "positive finite"),
        ({"a": 1.0, "b": 2.0}, "c", 10.0, "--anchor must be one of"),
        ({"a": 1.0, "b": 2.0}, "a", 1.0, "--base must be a positive number other than 1"),
        ({"a": 1.0, "b": 2.0}, "a", -10.0, "--base must be a positive number other than 1"),
    ],
)
def test_bad_suggestion_inputs_raise(
    norms: dict[str, float], anchor: str, base: float, words: str
) -> None:
    with pytest.raises(ValueError, match=words):
        exponent_offsets(norms, anchor=anchor, base=base)


def test_summarise_averages_steps_and_flags_conflicts() -> None:
    record = [
        StepMeasure([1.0, 4.0], [2.0, 1.0], [[1.0, -0.5], [-0.5, 1.0]]),
        StepMeasure([3.0, 2.0], [4.0, 3.0], [[1.0, 0.1], [0.1, 1.0]]),
    ]
    result = summarise("t.py", ["a", "b"], record, anchor="a", base=2.0)
    assert result.magnitude == {"a": 2.0, "b": 3.0}
    assert result.grad_norm == {"a": 3.0, "b": 2.0}
    assert result.cosine["a"]["b"] == pytest.approx(-0.2)
    assert result.conflict_rate["a"]["b"] == 0.5
    assert result.conflicts == [("a", "b", pytest.approx(-0.2))]
    assert result.base_weights == pytest.approx({"a": 0.4, "b": 0.6})
    assert result.offsets == pytest.approx({"b": math.log2(1.5)})
    assert result.exponents == (-1, 2)
    assert result.commands["power-scale"] == (
        "weightsearch power-scale t.py --anchor a --base 2 --exponents -1:2"
    )
    assert result.commands["grid"] == "weightsearch grid t.py --base a=0.4,b=0.6"


# --- the measuring balancer on fixed tensors ----------------------------------------------


def test_probe_balancer_measures_hand_computed_gradients_and_trains_equal() -> None:
    shared = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    head = torch.nn.Parameter(torch.tensor(2.0))
    record: list[StepMeasure] = []
    balancer = ProbeBalancer(["a", "b"], [shared], record=record, steps=5)
    # d a / d shared = (2 w0, 0) = (2, 0); d b / d shared = 3 h (1, 1) = (6, 6); d b / d h = 9.
    balancer.backward({"a": shared[0] ** 2, "b": 3.0 * head * shared.sum()})
    (step,) = record
    assert step.losses == pytest.approx([1.0, 18.0])
    assert step.grad_norms == pytest.approx([2.0, 6.0 * math.sqrt(2.0)])
    assert step.cosines[0][1] == pytest.approx(1 / math.sqrt(2.0))
    assert step.cosines[1][0] == pytest.approx(1 / math.sqrt(2.0))
    # Equal weights: the gradient of a + b on every parameter, heads included.
    assert shared.grad is not None
    assert head.grad is not None
    assert shared.grad.tolist() == pytest.approx([8.0, 6.0])
    assert head.grad.item() == pytest.approx(9.0)
    assert balancer.weights == {"a": 1.0, "b": 1.0}


def test_probe_balancer_stops_after_its_steps() -> None:
    shared = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    record: list[StepMeasure] = []
    balancer = ProbeBalancer(["a", "b"], [shared], record=record, steps=2)
    balancer.backward({"a": shared[0] ** 2, "b": shared.sum()})
    with pytest.raises(_Measured):
        balancer.backward({"a": shared[0] ** 2, "b": shared.sum()})
    assert not issubclass(_Measured, Exception), "a task's `except Exception` would eat it"
    assert len(record) == 2


# --- the command on examples/scales.py ----------------------------------------------------


def _probe(cli: Callable[..., CliResult], *args: str | Path) -> CliResult:
    return cli("probe", *args)


def test_probe_of_scales_up_weights_the_small_scale_loss(cli: Callable[..., CliResult]) -> None:
    result = _probe(cli, SCALES, "--steps", "10", "--param", "epochs=2", "--json")
    assert result.code == 0, result.err
    doc = result.json()
    assert doc["steps"] == 10
    weights = doc["suggested"]["base_weights"]
    # Targets 1 : 10 : 0.1, so gradient norms about 1 : 10 : 0.1: tilt up, height down.
    assert weights["tilt"] > weights["width"] > weights["height"]
    assert weights["tilt"] > 10 * weights["height"]
    assert doc["grad_norm"]["height"] > doc["grad_norm"]["width"] > doc["grad_norm"]["tilt"]
    assert doc["magnitude"]["height"] > doc["magnitude"]["width"] > doc["magnitude"]["tilt"]


@pytest.mark.slow  # 49 trials of 5 epochs: about 15 s
def test_suggested_range_contains_the_best_power_scale_point(
    cli: Callable[..., CliResult], sqlite_url: str
) -> None:
    probed = _probe(cli, SCALES, "--param", "epochs=5", "--json")
    assert probed.code == 0, probed.err
    low, high = probed.json()["suggested"]["exponents"]
    assert (low, high) != (-3, 3), "a range as wide as the search would prove nothing"

    search = cli(
        "power-scale", SCALES, "--exponents", "-3:3", "--sampler", "grid", "--in-process",
        "--param", "epochs=5", "--storage", sqlite_url, "--json", "--quiet",
    )  # fmt: skip
    assert search.code == 0, search.err
    report = search.json()
    assert len([t for t in report["trials"] if t["state"] == "COMPLETE"]) == 49
    (best,) = report["best"]
    raw = best["raw_weights"]
    assert raw["width"] == 1.0
    for name in ("height", "tilt"):
        exponent = round(math.log10(raw[name]))
        assert low <= exponent <= high, (name, exponent, (low, high), raw)


def test_probe_table_and_commands(cli: Callable[..., CliResult]) -> None:
    result = _probe(cli, SCALES, "--steps", "4", "--param", "epochs=1", "--anchor", "tilt")
    assert result.code == 0, result.err
    assert "grad norm" in result.out
    assert "cosine" in result.out
    lines = [line.strip() for line in result.out.splitlines()]
    grid = next(line for line in lines if line.startswith("weightsearch grid "))
    power = next(line for line in lines if line.startswith("weightsearch power-scale "))
    assert f"weightsearch grid {SCALES} --base width=" in grid
    assert grid.endswith("--param epochs=1")
    assert "--anchor tilt --base 10 --exponents " in power
    # tilt's gradient is the smallest: every other loss gets a negative exponent.
    low, high = power.split("--exponents ")[1].split()[0].split(":")
    assert int(low) < int(high) <= 1


def test_probe_json_shape(cli: Callable[..., CliResult]) -> None:
    result = _probe(cli, SCALES, "--steps", "3", "--param", "epochs=1", "--base", "2", "--json")
    assert result.code == 0, result.err
    doc = result.json()
    names = ["width", "height", "tilt"]
    assert set(doc) == {
        "task", "losses", "steps", "magnitude", "grad_norm", "cosine", "conflict_rate",
        "conflicts", "suggested", "commands",
    }  # fmt: skip
    assert doc["losses"] == names
    assert doc["steps"] == 3
    for key in ("magnitude", "grad_norm"):
        assert list(doc[key]) == names
        assert all(v > 0 for v in doc[key].values())
    for a in names:
        assert doc["cosine"][a][a] == pytest.approx(1.0)
        for b in names:
            assert -1 <= doc["cosine"][a][b] <= 1
            assert doc["cosine"][a][b] == doc["cosine"][b][a]
            assert 0 <= doc["conflict_rate"][a][b] <= 1
    for conflict in doc["conflicts"]:
        a, b = conflict["losses"]
        assert conflict["cosine"] < 0
        assert conflict["cosine"] == doc["cosine"][a][b]
    suggested = doc["suggested"]
    assert suggested["anchor"] == "width"
    assert suggested["base"] == 2.0
    assert math.fsum(suggested["base_weights"].values()) == pytest.approx(1.0)
    assert set(suggested["offsets"]) == {"height", "tilt"}
    low, high = suggested["exponents"]
    assert all(low + 1 <= v <= high - 1 for v in suggested["offsets"].values())
    assert set(doc["commands"]) == {"grid", "power-scale"}
    assert f"--exponents {low}:{high}" in doc["commands"]["power-scale"]
    assert result.err == ""


def test_probe_notes_a_task_that_ends_before_the_steps(cli: Callable[..., CliResult]) -> None:
    # One epoch of examples/scales.py is 8 batches.
    result = _probe(cli, SCALES, "--steps", "50", "--param", "epochs=1", "--json")
    assert result.code == 0, result.err
    assert result.json()["steps"] == 8
    assert "finished after 8 of 50 steps" in result.err


def test_probe_stops_a_task_that_swallows_exceptions(cli: Callable[..., CliResult]) -> None:
    path = PROBE_TASKS / "guarded.py"
    steps_run = load_task(str(path)).fn.__globals__["STEPS_RUN"]
    steps_run.clear()
    result = _probe(cli, path, "--steps", "3", "--json")
    assert result.code == 0, result.err
    assert result.json()["steps"] == 3
    assert steps_run == [0, 1]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ((SCALES, "--anchor", "depth"), "--anchor must be one of the task's losses"),
        ((SCALES, "--steps", "0"), "--steps must be at least 1, but got 0"),
        ((SCALES, "--base", "1"), "--base must be a positive number other than 1"),
        ((SCALES, "--param", "epochs"), "--param takes KEY=VALUE"),
        ((PROBE_TASKS / "no_backward.py",), "without calling balancer.backward"),
        ((PROBE_TASKS / "failing.py",), "after 2 measured step(s): RuntimeError: data loader"),
        ((PROBE_TASKS / "missing.py",), "does not exist"),
    ],
)
def test_bad_probe_input_is_one_error_line(
    cli: Callable[..., CliResult], args: tuple[str | Path, ...], words: str
) -> None:
    message = _probe(cli, *args).assert_error(2)
    assert words in message


# --- --quiet ------------------------------------------------------------------------------

_BAR = "━"  # what rich's progress bar draws with


@pytest.mark.parametrize("command", ["grid", "power-scale"])
def test_quiet_hides_the_progress_bar(
    cli: Callable[..., CliResult], tasks_dir: Path, sqlite_url: str, command: str
) -> None:
    task = tasks_dir / "three_losses.py"
    space = ["--multipliers", "1,2"] if command == "grid" else ["--exponents", "0:0"]
    common = [command, task, *space, "--in-process", "--storage", sqlite_url]
    loud = cli(*common, "--study", "loud")
    assert loud.code == 0, loud.err
    assert _BAR in loud.err
    assert "trials" in loud.err
    quiet = cli(*common, "--study", "quiet", "--quiet")
    assert quiet.code == 0, quiet.err
    assert quiet.err == ""  # no bar, not even its last state
    assert "study 'quiet'" in quiet.out  # the final table is still printed
    quiet_json = cli(*common, "--study", "quiet-json", "--quiet", "--json")
    assert quiet_json.err == ""
    assert quiet_json.json()["study"] == "quiet-json"


def test_quiet_compare(cli: Callable[..., CliResult], tasks_dir: Path, sqlite_url: str) -> None:
    args = ["compare", tasks_dir / "three_losses.py", "--methods", "equal", "--seeds", "2"]
    result = cli(*args, "--in-process", "--storage", sqlite_url, "--quiet", "--json")
    assert result.code == 0, result.err
    assert result.err == ""
    assert [m["name"] for m in result.json()["methods"]] == ["equal"]
