"""The anchor-one power-scale space, with values worked out by hand."""

from __future__ import annotations

import math

import pytest

from weightsearch.samplers import choose_sampler
from weightsearch.spaces.power_scale import (
    PowerScaleSpace,
    normalize,
    parse_exponent_range,
    power_scale_space,
)

LOSSES = ("base", "big", "small")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("-3:1", (-3, 1)),
        ("0:0", (0, 0)),
        (" -1 : 1 ", (-1, 1)),
        ("+2:5", (2, 5)),
        ("-4:-2", (-4, -2)),
    ],
)
def test_parse_exponent_range(text: str, expected: tuple[int, int]) -> None:
    assert parse_exponent_range(text) == expected


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("1:-3", "non-empty range"),
        ("0.5:2", "two integers"),
        ("-3", "two integers"),
        ("a:b", "two integers"),
        ("", "two integers"),
        ("1:2:3", "two integers"),
    ],
)
def test_parse_exponent_range_rejects(text: str, match: str) -> None:
    with pytest.raises(ValueError, match=match) as info:
        parse_exponent_range(text)
    assert repr(text) in str(info.value)
    assert "Example: --exponents -3:1" in str(info.value)


def test_defaults_anchor_first_loss_base_ten_exponents_minus_three_to_one() -> None:
    space = power_scale_space(LOSSES)
    assert space.anchor == "base"
    assert space.base == 10.0
    assert space.exponents == (-3, 1)
    assert space.scaled == ("big", "small")
    assert space.exponent_values == [-3, -2, -1, 0, 1]
    assert space.grid_size == 25


def test_grid_of_the_acceptance_case_by_hand() -> None:
    space = power_scale_space(LOSSES, anchor="base", base=10, exponents="-1:1")
    grid = space.grid()
    assert space.grid_size == len(grid) == 9
    assert grid[:4] == [
        {"big": -1, "small": -1},
        {"big": -1, "small": 0},
        {"big": -1, "small": 1},
        {"big": 0, "small": -1},
    ]
    assert grid[-1] == {"big": 1, "small": 1}
    assert len({tuple(point.items()) for point in grid}) == 9


def test_anchor_in_the_middle_is_left_out_of_the_grid() -> None:
    space = power_scale_space(LOSSES, anchor="big", base=2, exponents="0:1")
    assert space.scaled == ("base", "small")
    assert space.grid() == [
        {"base": 0, "small": 0},
        {"base": 0, "small": 1},
        {"base": 1, "small": 0},
        {"base": 1, "small": 1},
    ]


def test_raw_and_normalized_weights_by_hand() -> None:
    space = power_scale_space(LOSSES, anchor="base", base=10, exponents="-1:1")
    raw = space.raw_weights({"small": 1, "big": -1})
    assert list(raw) == ["base", "big", "small"]  # task order, whatever order came in
    assert raw == pytest.approx({"base": 1.0, "big": 0.1, "small": 10.0}, rel=1e-15)
    normalized = space.normalized_weights({"big": -1, "small": 1})
    # 1 + 0.1 + 10 = 11.1
    assert normalized == pytest.approx({"base": 1 / 11.1, "big": 0.1 / 11.1, "small": 10 / 11.1})
    assert math.fsum(normalized.values()) == pytest.approx(1.0, abs=1e-15)


def test_base_two_and_fractional_base() -> None:
    two = power_scale_space(["a", "b"], base=2, exponents="-3:1")
    assert two.raw_weights({"b": -3}) == {"a": 1.0, "b": 0.125}
    half = power_scale_space(["a", "b"], base=0.5, exponents="-2:2")
    assert half.raw_weights({"b": -2}) == {"a": 1.0, "b": 4.0}
    assert half.normalized_weights({"b": 0}) == {"a": 0.5, "b": 0.5}


def test_continuous_exponents_give_real_powers() -> None:
    space = power_scale_space(["a", "b"], exponents="-1:1", continuous=True)
    assert space.raw_weights({"b": 0.5})["b"] == pytest.approx(math.sqrt(10.0), rel=1e-15)


@pytest.mark.parametrize("exponents", [{}, {"big": 0}, {"big": 0, "small": 0, "base": 0}])
def test_raw_weights_need_exactly_the_scaled_losses(exponents: dict[str, int]) -> None:
    space = power_scale_space(LOSSES)
    with pytest.raises(ValueError, match=r"exactly the scaled losses \(big, small\)"):
        space.raw_weights(exponents)


def test_raw_weights_reject_non_finite_exponent() -> None:
    with pytest.raises(ValueError, match="finite"):
        power_scale_space(["a", "b"]).raw_weights({"b": math.nan})


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (
            {"anchor": "nope"},
            r"--anchor must be one of the task's losses \(base, big, small\), "
            r"but got 'nope'\. Example: --anchor base",
        ),
        ({"base": 0}, "--base must be a positive number other than 1, but got 0"),
        ({"base": -10}, "--base must be a positive number other than 1, but got -10"),
        ({"base": 1}, "--base must be a positive number other than 1, but got 1"),
        ({"base": 1.0}, "other than 1"),
        ({"base": math.inf}, "other than 1"),
        ({"base": math.nan}, "other than 1"),
        ({"base": "10"}, "--base must be a number"),
        ({"exponents": "2:1"}, "non-empty range"),
        ({"exponents": (2, 1)}, "non-empty range"),
        ({"exponents": (0.5, 1)}, "two integers"),
        ({"exponents": "-400:1"}, "outside floating-point range"),
    ],
)
def test_bad_space_arguments(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        power_scale_space(LOSSES, **kwargs)  # type: ignore[arg-type]


def test_space_needs_two_distinct_losses() -> None:
    with pytest.raises(ValueError, match="at least two losses"):
        power_scale_space(["only"])
    with pytest.raises(ValueError, match="at least two losses"):
        power_scale_space([])
    with pytest.raises(ValueError, match="'a' repeats"):
        power_scale_space(["a", "b", "a"])


def test_direct_construction_is_checked_too() -> None:
    with pytest.raises(ValueError, match="--anchor"):
        PowerScaleSpace(losses=("a", "b"), anchor="c")


def test_definition_is_json_ready() -> None:
    space = power_scale_space(LOSSES, anchor="big", base=2, exponents="-2:0")
    assert space.definition() == {
        "kind": "power-scale",
        "losses": ["base", "big", "small"],
        "anchor": "big",
        "base": 2.0,
        "exponents": [-2, 0],
        "continuous": False,
    }


def test_normalize() -> None:
    assert normalize({"a": 1.0, "b": 3.0}) == {"a": 0.25, "b": 0.75}
    for bad in ({}, {"a": 0.0}, {"a": -1.0, "b": 2.0}, {"a": math.inf}):
        with pytest.raises(ValueError, match="Weights must"):
            normalize(bad)


# 3 losses, exponents -1:1: a grid of 9 points.
NINE = power_scale_space(LOSSES, exponents="-1:1")


@pytest.mark.parametrize(
    ("n_trials", "expected"),
    [(None, "grid"), (9, "grid"), (100, "grid"), (8, "tpe"), (1, "tpe")],
)
def test_default_sampler(n_trials: int | None, expected: str) -> None:
    assert choose_sampler(NINE, sampler=None, n_trials=n_trials) == expected


def test_default_sampler_for_continuous_space_is_tpe() -> None:
    space = power_scale_space(LOSSES, exponents="-1:1", continuous=True)
    assert choose_sampler(space, sampler=None, n_trials=None) == "tpe"
    assert choose_sampler(space, sampler=None, n_trials=100) == "tpe"


@pytest.mark.parametrize("sampler", ["grid", "tpe", "cmaes", "gp", "random"])
def test_explicit_sampler_is_kept(sampler: str) -> None:
    assert choose_sampler(NINE, sampler=sampler, n_trials=3) == sampler


def test_explicit_grid_with_small_budget_is_kept() -> None:
    # The user asked for a grid; running only part of it is their call, not an error.
    assert choose_sampler(NINE, sampler="grid", n_trials=2) == "grid"


def test_unknown_sampler() -> None:
    with pytest.raises(
        ValueError, match="--sampler must be one of grid, tpe, cmaes, gp, random, but got 'nsga'"
    ):
        choose_sampler(NINE, sampler="nsga", n_trials=None)


def test_continuous_with_grid_is_an_error() -> None:
    space = power_scale_space(LOSSES, continuous=True)
    with pytest.raises(ValueError, match="--continuous needs a sampler"):
        choose_sampler(space, sampler="grid", n_trials=None)


@pytest.mark.parametrize("sampler", ["cmaes"])
def test_single_objective_sampler_with_several_objectives(sampler: str) -> None:
    with pytest.raises(ValueError, match="handles a single objective"):
        choose_sampler(NINE, sampler=sampler, n_trials=5, n_objectives=2)


@pytest.mark.parametrize("sampler", ["grid", "tpe", "gp", "random", None])
def test_multi_objective_samplers(sampler: str | None) -> None:
    assert choose_sampler(NINE, sampler=sampler, n_trials=9, n_objectives=2) in {sampler, "grid"}


@pytest.mark.parametrize("n_trials", [0, -5])
def test_n_trials_must_be_positive(n_trials: int) -> None:
    with pytest.raises(ValueError, match="--n-trials must be a positive integer"):
        choose_sampler(NINE, sampler=None, n_trials=n_trials)
