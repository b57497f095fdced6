"""Statistics for comparing runs: means, t confidence intervals, paired tests, Pareto fronts.

Everything here is a pure function of plain Python numbers, with no dependency beyond the
standard library. The Student-t distribution is computed from the regularized incomplete beta
function (a continued fraction), so SciPy is needed only by the tests that check these values.

Example:
    >>> from weightsearch import stats
    >>> stats.mean([1.0, 2.0, 3.0])
    2.0
    >>> low, high = stats.ci95([1.0, 2.0, 3.0])
    >>> round(low, 4), round(high, 4)
    (-0.4841, 4.4841)
    >>> round(stats.paired_ttest({0: 1.0, 1: 2.0, 2: 4.0}, {0: 0.5, 1: 1.0, 2: 3.0}), 4)
    0.0377
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

_DIRECTIONS = ("minimize", "maximize")
_MAX_ITERATIONS = 500
_EPSILON = 1e-15
_TINY = 1e-300


def mean(values: Iterable[float]) -> float:
    """Return the arithmetic mean.

    Args:
        values: At least one finite number.

    Raises:
        ValueError: If there are no values or one is not finite.
    """
    data = _finite_list(values, "mean")
    return math.fsum(data) / len(data)


def std(values: Iterable[float]) -> float:
    """Return the sample standard deviation (divisor n - 1).

    One value has no observable spread; for it this returns 0.0 rather than failing, so a
    table of a single seed still renders. Callers show `n` beside it so that the reader sees
    the spread is not an estimate.

    Args:
        values: At least one finite number.

    Raises:
        ValueError: If there are no values or one is not finite.
    """
    data = _finite_list(values, "std")
    if len(data) < 2:
        return 0.0
    centre = math.fsum(data) / len(data)
    return math.sqrt(math.fsum((x - centre) ** 2 for x in data) / (len(data) - 1))


def ci95(values: Iterable[float]) -> tuple[float, float]:
    """Return the two-sided 95% confidence interval of the mean, from the t-distribution.

    The interval is `mean ± t(0.975, n - 1) * std / sqrt(n)`. For a single value no interval
    can be estimated; this returns `(value, value)` (the same choice as `std`), and callers
    show `n = 1` so the zero width is not mistaken for certainty.

    Args:
        values: At least one finite number.

    Raises:
        ValueError: If there are no values or one is not finite.
    """
    data = _finite_list(values, "ci95")
    centre = mean(data)
    if len(data) < 2:
        return (centre, centre)
    half_width = t_quantile(0.975, len(data) - 1) * std(data) / math.sqrt(len(data))
    return (centre - half_width, centre + half_width)


def paired_ttest(a_by_seed: Mapping[int, float], b_by_seed: Mapping[int, float]) -> float | None:
    """Return the two-sided p-value of a paired t-test of `a` against `b`, paired by seed.

    Only seeds present in both mappings are used. The test is on the differences
    `a[seed] - b[seed]`. When those differences have zero variance the t statistic is
    undefined (SciPy returns NaN); this returns 1.0 if every difference is zero (the runs are
    identical, no evidence of a difference) and 0.0 if they are all the same non-zero number
    (the same shift on every seed).

    Args:
        a_by_seed: Metric value of the first method per seed.
        b_by_seed: Metric value of the second method per seed.

    Returns:
        The p-value, or None when fewer than 2 seeds are shared (no test is possible).

    Raises:
        ValueError: If a shared seed's value is not finite.
    """
    shared = sorted(set(a_by_seed) & set(b_by_seed))
    if len(shared) < 2:
        return None
    differences = _finite_list(
        (a_by_seed[seed] - b_by_seed[seed] for seed in shared), "paired_ttest"
    )
    centre = mean(differences)
    spread = std(differences)
    if spread == 0.0:
        return 1.0 if centre == 0.0 else 0.0
    degrees = len(differences) - 1
    t = centre / (spread / math.sqrt(len(differences)))
    return _t_two_sided_p(t, degrees)


def holm(pvalues: Mapping[str, float | None]) -> dict[str, float | None]:
    """Return Holm–Bonferroni adjusted p-values, in the order of the input keys.

    With m non-None p-values sorted ascending, the k-th smallest (k from 0) is multiplied by
    `m - k`, then each adjusted value is raised to at least the one before it (so the order
    is kept) and capped at 1. Rejecting where the adjusted value is below alpha controls the
    family-wise error rate at alpha. None (no test possible) passes through and does not
    count towards m.

    Args:
        pvalues: Raw p-value per name, or None.

    Raises:
        ValueError: If a p-value is outside [0, 1].
    """
    for name, p in pvalues.items():
        if p is not None and not 0.0 <= p <= 1.0:
            raise ValueError(f"p-values must lie in [0, 1], but got {p!r} for {name!r}.")
    tested = sorted(
        ((name, p) for name, p in pvalues.items() if p is not None), key=lambda item: item[1]
    )
    count = len(tested)
    adjusted: dict[str, float | None] = {}
    running_max = 0.0
    for rank, (name, p) in enumerate(tested):
        running_max = max(running_max, min(1.0, (count - rank) * p))
        adjusted[name] = running_max
    return {name: adjusted.get(name) for name in pvalues}


def dominates(a: Sequence[float], b: Sequence[float], directions: Sequence[str]) -> bool:
    """Return whether point `a` Pareto-dominates point `b`.

    `a` dominates `b` when it is no worse in every objective and strictly better in at least
    one; equal points do not dominate each other.

    Args:
        a: Objective values of the first point.
        b: Objective values of the second point.
        directions: "minimize" or "maximize" per objective.

    Raises:
        ValueError: If the lengths differ, a direction is unknown or a value is NaN.
    """
    _check_points([a, b], directions)
    return _dominates(a, b, directions)


def pareto_front(points: Sequence[Sequence[float]], directions: Sequence[str]) -> list[int]:
    """Return the indices, ascending, of the points no other point dominates.

    Equal points are all kept. Infinite values are allowed and compare as usual.

    Args:
        points: Objective values per point, each as long as `directions`.
        directions: "minimize" or "maximize" per objective.

    Raises:
        ValueError: If a point's length differs from `directions`, a direction is unknown or
            a value is NaN.
    """
    _check_points(points, directions)
    return [
        i
        for i, candidate in enumerate(points)
        if not any(_dominates(other, candidate, directions) for other in points)
    ]


def dominated_by_any(
    point: Sequence[float], front: Sequence[Sequence[float]], directions: Sequence[str]
) -> bool:
    """Return whether some point of `front` dominates `point`.

    Used to say whether an adaptive method's mean result is beaten outright by a static
    Pareto front.

    Args:
        point: Objective values to test.
        front: Objective values of the comparison points.
        directions: "minimize" or "maximize" per objective.

    Raises:
        ValueError: As for `pareto_front`.
    """
    _check_points([point, *front], directions)
    return any(_dominates(other, point, directions) for other in front)


def is_significant(p_adjusted: float | None, alpha: float = 0.05) -> bool:
    """Return whether an (already adjusted) p-value is below `alpha`; None is never significant."""
    return p_adjusted is not None and p_adjusted < alpha


def format_p(p: float | None) -> str:
    """Format a p-value for a table: `0.012`, `<0.001`, or `n/a` when no test was possible."""
    if p is None:
        return "n/a"
    if p < 0.001:
        return "<0.001"
    return f"{p:.3f}"


@dataclass(frozen=True)
class SignificanceVerdict:
    """The comparison table's conclusion about the best method against the baseline.

    Attributes:
        best: Method with the best mean (the baseline itself if nothing beats its mean).
        baseline: Name of the reference method, normally "equal".
        p_adjusted: Holm-adjusted p-value of `best` against the baseline, or None.
        significant: Whether `best` differs from the baseline at `alpha`; False when it is
            the baseline or no test was possible.
        text: One plain sentence for the table's footer.
    """

    best: str
    baseline: str
    p_adjusted: float | None
    significant: bool
    text: str


def significance_verdict(
    means: Mapping[str, float],
    p_adjusted: Mapping[str, float | None],
    direction: str,
    *,
    metric: str,
    baseline: str = "equal",
    alpha: float = 0.05,
) -> SignificanceVerdict:
    """Say whether the method with the best mean is really better than the baseline.

    The best method is the one whose mean is strictly better than the baseline's and best
    overall (the first in `means` order on ties). If none beats the baseline's mean, the
    baseline is best. The verdict reads the Holm-adjusted p-value of that method against the
    baseline; at or above `alpha` the best is "within noise" of the baseline.

    Args:
        means: Mean of `metric` per method; must include `baseline`.
        p_adjusted: Holm-adjusted p-value against the baseline per method (None: no test).
        direction: Whether smaller or larger values of `metric` are better.
        metric: Name of the metric, for the wording.
        baseline: Reference method.
        alpha: Significance level.

    Raises:
        ValueError: If `baseline` has no mean, `direction` is unknown or `alpha` is not in
            (0, 1).
    """
    _check_direction(direction)
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie strictly between 0 and 1, but got {alpha!r}.")
    if baseline not in means:
        known = ", ".join(means) or "none"
        raise ValueError(
            f"The significance verdict needs a mean for the baseline {baseline!r}, but the "
            f"methods given are: {known}. Include {baseline!r} in the compared methods."
        )
    sign = 1.0 if direction == "maximize" else -1.0
    best = baseline
    for name, value in means.items():
        if sign * value > sign * means[best]:
            best = name
    if best == baseline:
        text = f"{baseline!r} has the best mean {metric}; no method improves on it."
        return SignificanceVerdict(best, baseline, None, False, text)
    p = p_adjusted.get(best)
    if p is None:
        text = (
            f"{best!r} has the best mean {metric}, but it shares fewer than 2 seeds with "
            f"{baseline!r}, so no test is possible; run more seeds."
        )
        return SignificanceVerdict(best, baseline, None, False, text)
    if is_significant(p, alpha):
        text = (
            f"{best!r} is better than {baseline!r} on {metric} "
            f"(Holm-adjusted p = {format_p(p)} < {alpha:g})."
        )
        return SignificanceVerdict(best, baseline, p, True, text)
    text = (
        f"{best!r} has the best mean {metric}, but it is within noise of {baseline!r} "
        f"(Holm-adjusted p = {format_p(p)} >= {alpha:g})."
    )
    return SignificanceVerdict(best, baseline, p, False, text)


def t_cdf(t: float, degrees: float) -> float:
    """Return the cumulative distribution function of Student's t at `t`.

    Args:
        t: Point at which to evaluate; may be infinite.
        degrees: Degrees of freedom, > 0.

    Raises:
        ValueError: If `degrees` is not positive or `t` is NaN.
    """
    _check_degrees(degrees)
    if math.isnan(t):
        raise ValueError("t_cdf needs a number for t, but got NaN.")
    if t == 0.0:
        return 0.5
    lower_tail = 0.5 * _t_two_sided_p(t, degrees)
    return 1.0 - lower_tail if t > 0.0 else lower_tail


def t_quantile(probability: float, degrees: float) -> float:
    """Return the value below which Student's t falls with the given probability.

    The inverse of `t_cdf`, found by bisection on its monotone tail, accurate to about
    1e-12 relative.

    Args:
        probability: In (0, 1).
        degrees: Degrees of freedom, > 0.

    Raises:
        ValueError: If `probability` is not in (0, 1) or `degrees` is not positive.
    """
    _check_degrees(degrees)
    if not 0.0 < probability < 1.0:
        raise ValueError(
            f"t_quantile needs a probability strictly between 0 and 1, but got {probability!r}."
        )
    if probability == 0.5:
        return 0.0
    upper = probability > 0.5
    # By symmetry search t > 0 whose two-sided tail equals the requested tail mass.
    tail = 2.0 * (1.0 - probability if upper else probability)
    low, high = 0.0, 1.0
    while _t_two_sided_p(high, degrees) > tail:
        low, high = high, high * 2.0
    for _ in range(200):
        middle = 0.5 * (low + high)
        if middle in (low, high):
            break
        if _t_two_sided_p(middle, degrees) > tail:
            low = middle
        else:
            high = middle
    value = 0.5 * (low + high)
    return value if upper else -value


def regularized_incomplete_beta(x: float, a: float, b: float) -> float:
    """Return the regularized incomplete beta function I_x(a, b).

    Evaluated by the continued fraction for I_x(a, b) (modified Lentz's method), using the
    symmetry I_x(a, b) = 1 - I_{1-x}(b, a) on the side where the fraction converges fast.

    Args:
        x: In [0, 1].
        a: Shape, > 0.
        b: Shape, > 0.

    Raises:
        ValueError: If an argument is out of range.
    """
    if not 0.0 <= x <= 1.0:
        raise ValueError(f"regularized_incomplete_beta needs x in [0, 1], but got {x!r}.")
    if not (a > 0.0 and b > 0.0):
        raise ValueError(f"regularized_incomplete_beta needs a, b > 0, but got {a!r}, {b!r}.")
    if x == 0.0 or x == 1.0:
        return x
    if x > (a + 1.0) / (a + b + 2.0):
        return 1.0 - _beta_fraction_side(1.0 - x, b, a)
    return _beta_fraction_side(x, a, b)


def _beta_fraction_side(x: float, a: float, b: float) -> float:
    """I_x(a, b) for x on the side where its continued fraction converges quickly."""
    log_front = (
        a * math.log(x) + b * math.log1p(-x) + math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
    )
    return math.exp(log_front) / a * _beta_continued_fraction(x, a, b)


def _beta_continued_fraction(x: float, a: float, b: float) -> float:
    """Value of 1 / (1 + d1 / (1 + d2 / (1 + ...))) for the incomplete beta function.

    The coefficients are d_{2m+1} = -(a+m)(a+b+m)x / ((a+2m)(a+2m+1)) and
    d_{2m} = m(b-m)x / ((a+2m-1)(a+2m)).
    """
    # Modified Lentz's method on g = 1 + d1/(1 + d2/(1 + ...)): g is the product of the
    # ratios c*d of successive convergents; tiny stands in for a zero denominator.
    g, c, d = 1.0, 1.0, 0.0
    for k in range(1, 2 * _MAX_ITERATIONS + 1):
        m = k // 2
        if k % 2 == 1:
            coefficient = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
        else:
            coefficient = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
        d = 1.0 + coefficient * d
        d = 1.0 / (d if abs(d) > _TINY else _TINY)
        c = 1.0 + coefficient / c
        c = c if abs(c) > _TINY else _TINY
        ratio = c * d
        g *= ratio
        if abs(ratio - 1.0) < _EPSILON:
            return 1.0 / g
    raise ArithmeticError(  # pragma: no cover - the fraction converges for valid inputs
        f"incomplete beta continued fraction did not converge for x={x}, a={a}, b={b}"
    )


def _t_two_sided_p(t: float, degrees: float) -> float:
    """P(|T| >= |t|) for Student's t with `degrees` degrees of freedom."""
    if math.isinf(t):
        return 0.0
    # Written as x = v / (v + t^2) without cancellation for large |t|.
    x = degrees / (degrees + t * t)
    return regularized_incomplete_beta(x, degrees / 2.0, 0.5)


def _finite_list(values: Iterable[float], what: str) -> list[float]:
    data = [float(v) for v in values]
    if not data:
        raise ValueError(f"{what} needs at least one value, but got none.")
    bad = [v for v in data if not math.isfinite(v)]
    if bad:
        raise ValueError(
            f"{what} needs finite numbers, but got {bad[0]!r}. Drop failed or diverged runs "
            "before computing statistics."
        )
    return data


def _check_degrees(degrees: float) -> None:
    if not degrees > 0.0:
        raise ValueError(f"Degrees of freedom must be positive, but got {degrees!r}.")


def _check_direction(direction: str) -> None:
    if direction not in _DIRECTIONS:
        raise ValueError(f"A direction must be 'minimize' or 'maximize', but got {direction!r}.")


def _check_points(points: Sequence[Sequence[float]], directions: Sequence[str]) -> None:
    for direction in directions:
        _check_direction(direction)
    for point in points:
        if len(point) != len(directions):
            raise ValueError(
                f"Each point needs one value per objective ({len(directions)}), but got "
                f"{len(point)} in {tuple(point)!r}."
            )
        if any(math.isnan(v) for v in point):
            raise ValueError(f"Points must not contain NaN, but got {tuple(point)!r}.")


def _dominates(a: Sequence[float], b: Sequence[float], directions: Sequence[str]) -> bool:
    strictly_better = False
    for x, y, direction in zip(a, b, directions, strict=True):
        better, worse = (x < y, x > y) if direction == "minimize" else (x > y, x < y)
        if worse:
            return False
        strictly_better = strictly_better or better
    return strictly_better
