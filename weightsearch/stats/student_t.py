"""Student's t distribution, computed from the regularized incomplete beta function (a continued
fraction), so that the statistics need nothing beyond the standard library; SciPy is needed only
by the tests that check these values."""

from __future__ import annotations

import math

_MAX_ITERATIONS = 500
_EPSILON = 1e-15
_TINY = 1e-300


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
    lower_tail = 0.5 * t_two_sided_p(t, degrees)
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
    while t_two_sided_p(high, degrees) > tail:
        low, high = high, high * 2.0
    for _ in range(200):
        middle = 0.5 * (low + high)
        if middle in (low, high):
            break
        if t_two_sided_p(middle, degrees) > tail:
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


def t_two_sided_p(t: float, degrees: float) -> float:
    """P(|T| >= |t|) for Student's t with `degrees` degrees of freedom."""
    if math.isinf(t):
        return 0.0
    # Written as x = v / (v + t^2) without cancellation for large |t|.
    x = degrees / (degrees + t * t)
    return regularized_incomplete_beta(x, degrees / 2.0, 0.5)


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


def _check_degrees(degrees: float) -> None:
    if not degrees > 0.0:
        raise ValueError(f"Degrees of freedom must be positive, but got {degrees!r}.")
