"""The sum-to-one multiplier grid: candidates, deduplication after normalisation, parsing."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import pytest

from weightsearch.spaces import parse_base_weights, parse_multipliers, sum_to_one_grid

ABC = ["a", "b", "c"]


def exact_grid(losses, multipliers, vary=None, base=None):
    """The grid computed with exact fractions: the reference the float version must match."""
    varied = list(vary or losses)
    base_weights = {name: Fraction((base or {}).get(name, 1)) for name in losses}
    points: list[tuple[Fraction, ...]] = []
    for combo in itertools.product([Fraction(m) for m in multipliers], repeat=len(varied)):
        factor = dict(zip(varied, combo, strict=True))
        raw = [base_weights[name] * factor.get(name, 1) for name in losses]
        point = tuple(w / sum(raw) for w in raw)
        if point not in points:
            points.append(point)
    return points


def as_tuples(points, losses):
    return [tuple(point[name] for name in losses) for point in points]


def test_three_losses_with_multipliers_1_2_3_give_25_points():
    # 27 combinations; (1,1,1), (2,2,2) and (3,3,3) are one point.
    points = sum_to_one_grid(ABC, [1, 2, 3])
    assert len(points) == 25


def test_three_losses_with_multipliers_1_2_4_give_19_points():
    # 27 combinations; (1,1,1) = (2,2,2) = (4,4,4) saves 2, and each of (1,1,2) = (2,2,4) and
    # (2,2,1) = (4,4,2) in its 3 positions saves 6 more.
    points = sum_to_one_grid(ABC, [1, 2, 4])
    assert len(points) == 19
    quarter_half = [p for p in as_tuples(points, ABC) if p == (0.25, 0.25, 0.5)]
    assert len(quarter_half) == 1
    two_fifths = [p for p in as_tuples(points, ABC) if p == pytest.approx((0.4, 0.4, 0.2))]
    assert len(two_fifths) == 1


def test_two_losses_give_the_documented_points_in_order():
    assert sum_to_one_grid(["a", "b"], [1, 3]) == [
        {"a": 0.5, "b": 0.5},
        {"a": 0.25, "b": 0.75},
        {"a": 0.75, "b": 0.25},
    ]


def test_two_losses_with_proportional_multipliers_merge_equal_ratios():
    # Ratios a:b from {1,2,3,6}^2: 1, 1/2, 1/3, 1/6, 2, 2/3, 3, 3/2, 6 -> 9 distinct points.
    points = sum_to_one_grid(["a", "b"], [1, 2, 3, 6])
    ratios = sorted(Fraction(p["a"] / p["b"]).limit_denominator(100) for p in points)
    assert ratios == sorted({Fraction(x, y) for x, y in itertools.product([1, 2, 3, 6], repeat=2)})
    assert len(points) == 9


def test_vary_one_loss_scales_only_that_weight():
    points = sum_to_one_grid(ABC, [1, 2, 4, 6], vary=["c"])
    expected = [
        (1 / 3, 1 / 3, 1 / 3),
        (1 / 4, 1 / 4, 1 / 2),
        (1 / 6, 1 / 6, 2 / 3),
        (1 / 8, 1 / 8, 3 / 4),
    ]
    assert as_tuples(points, ABC) == [pytest.approx(e) for e in expected]


def test_base_weights_are_the_starting_point():
    points = sum_to_one_grid(ABC, [1, 2], vary=["c"], base={"a": 2})
    # Base (2, 1, 1) -> (1/2, 1/4, 1/4); c doubled: (2, 1, 2) -> (2/5, 1/5, 2/5).
    assert as_tuples(points, ABC) == [
        pytest.approx((0.5, 0.25, 0.25)),
        pytest.approx((0.4, 0.2, 0.4)),
    ]


def test_base_without_vary_varies_every_loss_around_the_base():
    points = sum_to_one_grid(["a", "b"], [1, 2], base={"a": 3, "b": 1})
    # (3,1), (3,2), (6,1), (6,2)=(3,1): 3 points.
    assert as_tuples(points, ["a", "b"]) == [
        pytest.approx((3 / 4, 1 / 4)),
        pytest.approx((3 / 5, 2 / 5)),
        pytest.approx((6 / 7, 1 / 7)),
    ]


@pytest.mark.parametrize(
    ("losses", "multipliers", "vary", "base"),
    [
        (ABC, [1, 2, 3], None, None),
        (ABC, [1, 2, 4], None, None),
        (ABC, [1, 2, 4, 6], None, None),
        (["a", "b", "c", "d"], [1, 2, 4], None, None),
        (ABC, [0.5, 1.5, 3], ["a", "b"], {"c": 0.2}),
        (ABC, [1, 2, 4, 6], ["b"], {"a": 0.1, "b": 10}),
        (["x"], [1, 7], None, None),
    ],
)
def test_grid_matches_exact_fractions(losses, multipliers, vary, base):
    points = sum_to_one_grid(losses, multipliers, vary=vary, base=base)
    expected = exact_grid(losses, multipliers, vary, base)
    assert len(points) == len(expected)
    for point, exact in zip(as_tuples(points, losses), expected, strict=True):
        assert point == pytest.approx([float(w) for w in exact], rel=1e-12)
    for point in points:
        assert list(point) == list(losses)
        assert math.isclose(sum(point.values()), 1.0, rel_tol=1e-12)


def test_default_multipliers_on_three_losses_give_55_points():
    assert len(sum_to_one_grid(ABC, [1, 2, 4, 6])) == 55


def test_first_point_is_the_normalised_base():
    points = sum_to_one_grid(ABC, [1, 2, 4, 6], base={"a": 1, "b": 3})
    assert as_tuples(points, ABC)[0] == pytest.approx((0.2, 0.6, 0.2))


def test_repeated_multipliers_change_nothing():
    assert sum_to_one_grid(ABC, [1, 2, 2, 4, 1]) == sum_to_one_grid(ABC, [1, 2, 4])


def test_a_single_loss_is_always_weight_one():
    assert sum_to_one_grid(["only"], [1, 2, 4]) == [{"only": 1.0}]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"multipliers": [1, 0]}, "multipliers must be positive"),
        ({"multipliers": [1, -2]}, "multipliers must be positive"),
        ({"multipliers": []}, "multipliers must be positive"),
        ({"multipliers": [1, math.inf]}, "multipliers must be positive"),
        ({"multipliers": [1, 2], "vary": ["a", "zz"]}, "--vary names losses .* zz"),
        ({"multipliers": [1, 2], "vary": []}, "--vary is empty"),
        ({"multipliers": [1, 2], "base": {"zz": 1.0}}, "--base names losses .* zz"),
        ({"multipliers": [1, 2], "base": {"a": 0.0}}, "base weights must be positive"),
        ({"multipliers": [1, 2], "base": {"a": -1.0}}, "base weights must be positive"),
        ({"multipliers": [1, 2], "base": {"a": math.nan}}, "base weights must be positive"),
    ],
)
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        sum_to_one_grid(ABC, **kwargs)


def test_unknown_loss_error_lists_the_task_losses():
    with pytest.raises(ValueError, match="The task's losses are: a, b, c"):
        sum_to_one_grid(ABC, [1, 2], vary=["d"])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1,2,4,6", [1.0, 2.0, 4.0, 6.0]),
        (" 1, 2 ,2", [1.0, 2.0]),
        ("0.5,1.5", [0.5, 1.5]),
        ("3", [3.0]),
        ("4,1,2", [4.0, 1.0, 2.0]),
        ("1,2,", [1.0, 2.0]),
    ],
)
def test_parse_multipliers(text, expected):
    assert parse_multipliers(text) == expected


@pytest.mark.parametrize("text", ["", ",", "a,b", "1,two", "0", "2,-4", "inf", "nan", "1;2"])
def test_parse_multipliers_refuses_non_positive_or_non_numeric(text):
    with pytest.raises(
        ValueError, match=r"--multipliers must be positive numbers, but got"
    ) as info:
        parse_multipliers(text)
    assert "Example: --multipliers 1,2,4,6" in str(info.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("cls=1,box=0.5", {"cls": 1.0, "box": 0.5}),
        (" cls = 2 ", {"cls": 2.0}),
        ("a=1e-3,", {"a": 0.001}),
    ],
)
def test_parse_base_weights(text, expected):
    assert parse_base_weights(text) == expected


@pytest.mark.parametrize("text", ["", "cls", "cls=", "=1", "cls=0", "cls=-1", "cls=x", "cls=inf"])
def test_parse_base_weights_refuses_bad_pairs(text):
    with pytest.raises(ValueError, match="--base"):
        parse_base_weights(text)
