"""Whether one method really differs from another: paired t-tests over seeds, Holm's correction
across methods, and the verdict a comparison table ends with."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from weightsearch.stats.pareto import check_direction
from weightsearch.stats.sample import finite_list, mean, std
from weightsearch.stats.student_t import t_two_sided_p


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
    differences = finite_list(
        (a_by_seed[seed] - b_by_seed[seed] for seed in shared), "paired_ttest"
    )
    centre = mean(differences)
    spread = std(differences)
    if spread == 0.0:
        return 1.0 if centre == 0.0 else 0.0
    degrees = len(differences) - 1
    t = centre / (spread / math.sqrt(len(differences)))
    return t_two_sided_p(t, degrees)


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
    best = _best_mean(means, direction, baseline, alpha)
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


def _best_mean(means: Mapping[str, float], direction: str, baseline: str, alpha: float) -> str:
    """The method whose mean beats the baseline's and is best overall (the first on ties), or
    the baseline; ValueError on the bad arguments `significance_verdict` documents."""
    check_direction(direction)
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
    return best
