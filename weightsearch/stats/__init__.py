"""Statistics for comparing runs: means, t confidence intervals, paired tests, Pareto fronts.

Everything here is a pure function of plain Python numbers, with no dependency beyond the
standard library: ``sample`` (mean, std, CI), ``significance`` (paired t-test, Holm, the
verdict), ``pareto`` (dominance) and ``student_t`` (the t distribution they rest on).

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

from weightsearch.stats.pareto import dominated_by_any, dominates, pareto_front
from weightsearch.stats.sample import ci95, mean, std
from weightsearch.stats.significance import (
    SignificanceVerdict,
    format_p,
    holm,
    is_significant,
    paired_ttest,
    significance_verdict,
)
from weightsearch.stats.student_t import regularized_incomplete_beta, t_cdf, t_quantile

__all__ = [
    "SignificanceVerdict",
    "ci95",
    "dominated_by_any",
    "dominates",
    "format_p",
    "holm",
    "is_significant",
    "mean",
    "paired_ttest",
    "pareto_front",
    "regularized_incomplete_beta",
    "significance_verdict",
    "std",
    "t_cdf",
    "t_quantile",
]
