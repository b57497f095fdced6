"""Statistics checked against SciPy and against values worked out by hand."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
from scipy import special
from scipy import stats as scipy_stats

from weightsearch import stats

SAMPLES = [
    [1.0, 2.0, 3.0],
    [0.812, 0.797, 0.825, 0.803],
    [10.0, 10.5],
    [-3.2, 4.1, 0.0, 7.7, -1.1, 2.2, 5.5, 0.3, 1.9, 2.8],
    [1e6 + 0.1, 1e6 + 0.3, 1e6 + 0.2],
]


@pytest.mark.parametrize("values", SAMPLES)
def test_mean_and_std_match_numpy_style_definitions(values: list[float]) -> None:
    assert stats.mean(values) == pytest.approx(scipy_stats.tmean(values), rel=1e-12)
    assert stats.std(values) == pytest.approx(scipy_stats.tstd(values), rel=1e-9)


def test_std_by_hand() -> None:
    # Deviations from 2 are -1, 0, 1: sum of squares 2, over n - 1 = 2, so std = 1.
    assert stats.std([1.0, 2.0, 3.0]) == 1.0
    assert stats.std([5.0, 5.0, 5.0]) == 0.0


def test_single_value_has_zero_spread_and_degenerate_interval() -> None:
    assert stats.std([4.2]) == 0.0
    assert stats.ci95([4.2]) == (4.2, 4.2)


@pytest.mark.parametrize("function", [stats.mean, stats.std, stats.ci95])
def test_empty_input_is_an_error(function: Callable[[list[float]], object]) -> None:
    with pytest.raises(ValueError, match="at least one value"):
        function([])


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_non_finite_input_is_an_error(bad: float) -> None:
    with pytest.raises(ValueError, match="finite"):
        stats.mean([1.0, bad])


@pytest.mark.parametrize("values", SAMPLES)
def test_ci95_matches_scipy_t_interval(values: list[float]) -> None:
    n = len(values)
    expected = scipy_stats.t.interval(
        0.95, n - 1, loc=scipy_stats.tmean(values), scale=scipy_stats.sem(values)
    )
    low, high = stats.ci95(values)
    assert low == pytest.approx(expected[0], rel=1e-9)
    assert high == pytest.approx(expected[1], rel=1e-9)
    assert low < stats.mean(values) < high


def test_ci95_by_hand() -> None:
    # mean 2, std 1, n 3: half width = t(0.975, 2) / sqrt(3). With 2 degrees of freedom
    # F(t) = 1/2 + t / (2 sqrt(t^2 + 2)), so t(p) = q sqrt(2 / (1 - q^2)) with q = 2p - 1.
    t = 0.95 * math.sqrt(2 / (1 - 0.95**2))
    low, high = stats.ci95([1.0, 2.0, 3.0])
    assert high - 2.0 == pytest.approx(t / math.sqrt(3), rel=1e-12)
    assert 2.0 - low == pytest.approx(high - 2.0, rel=1e-12)


@pytest.mark.parametrize("degrees", [1, 2, 3, 4, 5, 9, 29, 100, 1000, 0.5, 2.5])
@pytest.mark.parametrize("probability", [1e-6, 0.025, 0.1, 0.5, 0.6, 0.9, 0.975, 0.995])
def test_t_quantile_matches_scipy(degrees: float, probability: float) -> None:
    expected = scipy_stats.t.ppf(probability, degrees)
    assert stats.t_quantile(probability, degrees) == pytest.approx(expected, rel=1e-10, abs=1e-12)


def test_t_quantile_known_table_values() -> None:
    # Printed t tables: t(0.975, 1) = 12.706, t(0.975, 10) = 2.228; t(0.975, 1) = tan(0.475 pi).
    assert stats.t_quantile(0.975, 1) == pytest.approx(math.tan(0.475 * math.pi), rel=1e-12)
    assert stats.t_quantile(0.975, 10) == pytest.approx(2.228, abs=5e-4)


@pytest.mark.parametrize("degrees", [1, 2, 7, 30, 300, 0.7])
@pytest.mark.parametrize("t", [-1e6, -40.0, -2.5, -0.1, 0.0, 0.3, 1.96, 12.0, math.inf])
def test_t_cdf_matches_scipy(degrees: float, t: float) -> None:
    assert stats.t_cdf(t, degrees) == pytest.approx(scipy_stats.t.cdf(t, degrees), abs=1e-13)


def test_t_cdf_with_one_degree_is_cauchy() -> None:
    # Student's t with 1 degree of freedom is the standard Cauchy: F(t) = 1/2 + atan(t)/pi.
    for t in (-3.0, -0.5, 0.25, 8.0):
        assert stats.t_cdf(t, 1) == pytest.approx(0.5 + math.atan(t) / math.pi, rel=1e-13)


@pytest.mark.parametrize(
    ("x", "a", "b"),
    [(0.3, 0.5, 0.5), (0.9, 2.0, 3.0), (0.01, 5.0, 0.5), (0.999, 50.0, 0.5), (0.5, 200.0, 200.0)],
)
def test_regularized_incomplete_beta_matches_scipy(x: float, a: float, b: float) -> None:
    assert stats.regularized_incomplete_beta(x, a, b) == pytest.approx(
        special.betainc(a, b, x), rel=1e-11
    )


def test_regularized_incomplete_beta_by_hand() -> None:
    # I_x(1, 1) = x (uniform); I_x(a, 1) = x^a; I_x(1, b) = 1 - (1 - x)^b.
    assert stats.regularized_incomplete_beta(0.37, 1.0, 1.0) == pytest.approx(0.37, rel=1e-14)
    assert stats.regularized_incomplete_beta(0.6, 3.0, 1.0) == pytest.approx(0.216, rel=1e-13)
    assert stats.regularized_incomplete_beta(0.2, 1.0, 4.0) == pytest.approx(1 - 0.8**4, rel=1e-13)
    assert stats.regularized_incomplete_beta(0.0, 2.0, 3.0) == 0.0
    assert stats.regularized_incomplete_beta(1.0, 2.0, 3.0) == 1.0


PAIRED_CASES = [
    ({0: 1.0, 1: 2.0, 2: 4.0}, {0: 0.5, 1: 1.0, 2: 3.0}),
    ({0: 0.81, 1: 0.79, 2: 0.84, 3: 0.80}, {0: 0.80, 1: 0.80, 2: 0.82, 3: 0.77}),
    ({7: -1.0, 11: 3.0}, {7: 0.0, 11: 0.5}),
    ({s: math.sin(s) for s in range(12)}, {s: math.cos(s) for s in range(12)}),
]


@pytest.mark.parametrize(("a", "b"), PAIRED_CASES)
def test_paired_ttest_matches_scipy(a: dict[int, float], b: dict[int, float]) -> None:
    seeds = sorted(a)
    expected = scipy_stats.ttest_rel([a[s] for s in seeds], [b[s] for s in seeds]).pvalue
    assert stats.paired_ttest(a, b) == pytest.approx(expected, rel=1e-10)


def test_paired_ttest_by_hand() -> None:
    # Differences 0.5, 1, 1: mean 5/6, std sqrt(1/12), t = (5/6) / (sqrt(1/12)/sqrt(3)) = 5,
    # two degrees of freedom, so p = 2 * (1 - F(5)) with F from the closed form for nu = 2:
    # F(t) = 1/2 + t / (2 sqrt(t^2 + 2)), giving p = 1 - 5/sqrt(27).
    p = stats.paired_ttest({0: 1.0, 1: 2.0, 2: 4.0}, {0: 0.5, 1: 1.0, 2: 3.0})
    assert p == pytest.approx(1 - 5 / math.sqrt(27), rel=1e-12)


def test_paired_ttest_pairs_by_seed_not_by_position() -> None:
    a = {3: 10.0, 1: 1.0, 2: 5.0, 99: 1000.0}  # seed 99 has no partner and is ignored
    b = {1: 0.0, 2: 3.0, 3: 9.5, 42: -7.0}  # neither has seed 42's partner
    expected = scipy_stats.ttest_rel([1.0, 5.0, 10.0], [0.0, 3.0, 9.5]).pvalue
    assert stats.paired_ttest(a, b) == pytest.approx(expected, rel=1e-12)
    # Reordering one mapping changes nothing: pairing is by key.
    assert stats.paired_ttest(dict(reversed(list(a.items()))), b) == stats.paired_ttest(a, b)


def test_paired_ttest_is_symmetric() -> None:
    a, b = PAIRED_CASES[1]
    assert stats.paired_ttest(a, b) == pytest.approx(stats.paired_ttest(b, a), rel=1e-14)


def test_paired_ttest_needs_two_shared_seeds() -> None:
    assert stats.paired_ttest({0: 1.0, 1: 2.0}, {1: 1.5, 2: 3.0}) is None
    assert stats.paired_ttest({0: 1.0}, {0: 2.0}) is None
    assert stats.paired_ttest({}, {}) is None


def test_paired_ttest_zero_variance_of_differences() -> None:
    same = {0: 0.5, 1: 0.75, 2: 2.0}
    assert stats.paired_ttest(same, dict(same)) == 1.0
    shifted = {seed: value + 0.25 for seed, value in same.items()}  # exact in binary
    assert stats.paired_ttest(shifted, same) == 0.0
    assert stats.paired_ttest(same, shifted) == 0.0
    # A shift that rounding makes only nearly constant still gives a vanishing p-value.
    noisy = {0: 0.1, 1: 0.7, 2: 0.9}
    assert stats.paired_ttest({s: v + 0.1 for s, v in noisy.items()}, noisy) < 1e-12  # type: ignore[operator]


def test_paired_ttest_rejects_non_finite_shared_value() -> None:
    with pytest.raises(ValueError, match="finite"):
        stats.paired_ttest({0: 1.0, 1: math.nan}, {0: 1.0, 1: 2.0})


def test_holm_by_hand() -> None:
    # Sorted: b 0.01 (x3 = 0.03), a 0.02 (x2 = 0.04), c 0.04 (x1 = 0.04, kept >= 0.04).
    adjusted = stats.holm({"a": 0.02, "b": 0.01, "c": 0.04})
    assert list(adjusted) == ["a", "b", "c"]
    assert adjusted == pytest.approx({"a": 0.04, "b": 0.03, "c": 0.04}, rel=1e-12)


def test_holm_is_monotone_and_capped() -> None:
    # Raw: 0.04 * 3 = 0.12, then 0.03 * 2 = 0.06 would break the order, so it becomes 0.12.
    adjusted = stats.holm({"x": 0.04, "y": 0.045, "z": 0.9})
    assert adjusted == pytest.approx({"x": 0.12, "y": 0.12, "z": 0.9}, rel=1e-12)
    assert stats.holm({"p": 0.6, "q": 0.7}) == {"p": 1.0, "q": 1.0}


def test_holm_passes_none_through_and_does_not_count_it() -> None:
    adjusted = stats.holm({"a": 0.01, "b": None, "c": 0.02})
    assert adjusted == pytest.approx({"a": 0.02, "b": None, "c": 0.02})
    assert stats.holm({"a": None}) == {"a": None}
    assert stats.holm({}) == {}


def test_holm_single_value_is_unchanged() -> None:
    assert stats.holm({"only": 0.037}) == {"only": 0.037}


def test_holm_rejects_values_outside_unit_interval() -> None:
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        stats.holm({"a": 1.5})


def test_dominates() -> None:
    both_min = ["minimize", "minimize"]
    assert stats.dominates((1.0, 1.0), (2.0, 1.0), both_min)
    assert not stats.dominates((2.0, 1.0), (1.0, 1.0), both_min)
    assert not stats.dominates((1.0, 1.0), (1.0, 1.0), both_min)  # equal: neither
    assert not stats.dominates((1.0, 3.0), (2.0, 1.0), both_min)  # trade-off: neither
    mixed = ["maximize", "minimize"]
    assert stats.dominates((0.9, 0.1), (0.8, 0.1), mixed)
    assert not stats.dominates((0.8, 0.1), (0.9, 0.1), mixed)


def test_pareto_front_by_hand() -> None:
    # Maximize accuracy, minimize loss.
    points = [
        (0.90, 0.30),  # 0: front
        (0.85, 0.20),  # 1: front
        (0.80, 0.35),  # 2: dominated by 0 and 1
        (0.90, 0.30),  # 3: equal to 0, kept
        (0.95, 0.50),  # 4: front (best accuracy)
        (0.70, 0.20),  # 5: dominated by 1 (same loss, worse accuracy)
    ]
    assert stats.pareto_front(points, ["maximize", "minimize"]) == [0, 1, 3, 4]


def test_pareto_front_single_objective_keeps_all_ties_of_the_best() -> None:
    assert stats.pareto_front([(3.0,), (1.0,), (1.0,), (2.0,)], ["minimize"]) == [1, 2]
    assert stats.pareto_front([], ["minimize"]) == []


def test_dominated_by_any() -> None:
    front = [(0.9, 0.3), (0.85, 0.2)]
    directions = ["maximize", "minimize"]
    assert stats.dominated_by_any((0.8, 0.35), front, directions)
    assert not stats.dominated_by_any((0.95, 0.5), front, directions)
    assert not stats.dominated_by_any((0.9, 0.3), front, directions)


@pytest.mark.parametrize(
    ("points", "directions", "match"),
    [
        ([(1.0, 2.0)], ["minimize"], "one value per objective"),
        ([(1.0,)], ["smallest"], "'minimize' or 'maximize'"),
        ([(math.nan,)], ["minimize"], "NaN"),
    ],
)
def test_pareto_front_bad_input(
    points: list[tuple[float, ...]], directions: list[str], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        stats.pareto_front(points, directions)


def test_format_p() -> None:
    assert stats.format_p(None) == "n/a"
    assert stats.format_p(0.0004) == "<0.001"
    assert stats.format_p(0.0123) == "0.012"
    assert stats.format_p(1.0) == "1.000"


def test_is_significant() -> None:
    assert stats.is_significant(0.049)
    assert not stats.is_significant(0.05)
    assert not stats.is_significant(None)
    assert stats.is_significant(0.09, alpha=0.1)


def test_verdict_significant_improvement() -> None:
    verdict = stats.significance_verdict(
        {"equal": 0.80, "gradnorm": 0.84, "mgda": 0.82},
        {"equal": None, "gradnorm": 0.012, "mgda": 0.3},
        "maximize",
        metric="val_acc",
    )
    assert verdict.best == "gradnorm"
    assert verdict.significant
    assert verdict.p_adjusted == 0.012
    assert (
        verdict.text
        == "'gradnorm' is better than 'equal' on val_acc (Holm-adjusted p = 0.012 < 0.05)."
    )


def test_verdict_within_noise() -> None:
    verdict = stats.significance_verdict(
        {"equal": 0.50, "uncertainty": 0.47},
        {"uncertainty": 0.2},
        "minimize",
        metric="val_loss",
    )
    assert verdict.best == "uncertainty"
    assert not verdict.significant
    assert "within noise of 'equal'" in verdict.text
    assert "0.200 >= 0.05" in verdict.text


def test_verdict_baseline_best_when_nothing_beats_its_mean() -> None:
    # A tie with the baseline is not an improvement.
    verdict = stats.significance_verdict(
        {"equal": 0.5, "static:g": 0.5, "mgda": 0.6},
        {"static:g": 0.9, "mgda": 0.01},
        "minimize",
        metric="loss",
    )
    assert verdict.best == "equal"
    assert not verdict.significant
    assert verdict.text == "'equal' has the best mean loss; no method improves on it."


def test_verdict_ties_between_methods_go_to_the_first_listed() -> None:
    verdict = stats.significance_verdict(
        {"equal": 1.0, "a": 2.0, "b": 2.0}, {"a": 0.01, "b": 0.5}, "maximize", metric="m"
    )
    assert verdict.best == "a"


def test_verdict_without_test() -> None:
    verdict = stats.significance_verdict(
        {"equal": 1.0, "mgda": 2.0}, {"mgda": None}, "maximize", metric="score"
    )
    assert verdict.best == "mgda"
    assert verdict.p_adjusted is None
    assert not verdict.significant
    assert "fewer than 2 seeds" in verdict.text


def test_verdict_respects_alpha() -> None:
    means = {"equal": 1.0, "mgda": 2.0}
    assert not stats.significance_verdict(means, {"mgda": 0.07}, "maximize", metric="m").significant
    assert stats.significance_verdict(
        means, {"mgda": 0.07}, "maximize", metric="m", alpha=0.1
    ).significant


def test_verdict_needs_baseline() -> None:
    with pytest.raises(ValueError, match="Include 'equal'"):
        stats.significance_verdict({"mgda": 1.0}, {}, "maximize", metric="m")


def test_full_compare_pipeline_on_fixed_numbers() -> None:
    """Paired tests per method, Holm across them, then the verdict, as the compare table does."""
    equal = {0: 0.700, 1: 0.710, 2: 0.690, 3: 0.705}
    runs = {
        "static:g": {0: 0.760, 1: 0.765, 2: 0.748, 3: 0.770},
        "gradnorm": {0: 0.720, 1: 0.700, 2: 0.705, 3: 0.690},
    }
    raw = {name: stats.paired_ttest(values, equal) for name, values in runs.items()}
    for name, values in runs.items():
        expected = scipy_stats.ttest_rel(list(values.values()), list(equal.values())).pvalue
        assert raw[name] == pytest.approx(expected, rel=1e-10)
    adjusted = stats.holm(raw)
    means = {"equal": stats.mean(equal.values())} | {
        name: stats.mean(values.values()) for name, values in runs.items()
    }
    verdict = stats.significance_verdict(means, adjusted, "maximize", metric="val_acc")
    assert verdict.best == "static:g"
    assert verdict.significant
    smallest = min(p for p in raw.values() if p is not None)
    assert adjusted["static:g"] == pytest.approx(2 * smallest, rel=1e-12)
