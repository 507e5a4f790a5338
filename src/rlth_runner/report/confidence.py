"""95% confidence intervals over seeds: Student's t interval, mean ± t(0.975, n-1) s/sqrt(n).

The t quantile is computed here, with no scipy (not a dependency) and no torch:
the t distribution's CDF through the regularised incomplete beta function
(a continued fraction, evaluated by Lentz's method), inverted by bisection;
df 1 and 2 have closed forms. One value (n=1) has no spread, so no interval.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

from .stats import Stat

LEVEL = 0.95


@dataclass(frozen=True)
class Interval:
    low: float
    high: float
    t: float  # the quantile t(0.975, n - 1) the half-width was scaled by


def interval(s: Stat | None, level: float = LEVEL) -> Interval | None:
    """The Student-t interval of the mean over s.n values; None for one value (or none)."""
    if s is None or s.n < 2 or s.std is None:
        return None
    t = t_quantile(0.5 + level / 2, s.n - 1)
    half = t * s.std / math.sqrt(s.n)
    return Interval(s.mean - half, s.mean + half, t)


@functools.lru_cache(maxsize=256)
def t_quantile(p: float, df: int) -> float:
    """x with P(T <= x) = p for Student's t with df degrees of freedom (df >= 1, 0 < p < 1)."""
    if not 0.0 < p < 1.0 or df < 1:
        raise ValueError(f"t quantile of p={p} with df={df}: needs 0 < p < 1 and df >= 1")
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    if p == 0.5:
        return 0.0
    if df == 1:  # Cauchy
        return math.tan(math.pi * (p - 0.5))
    if df == 2:
        return (2 * p - 1) / math.sqrt(2 * p * (1 - p))
    low, high = 0.0, 2.0
    while t_cdf(high, df) < p:
        low, high = high, 2 * high
    for _ in range(200):  # bisection: the interval halves each step, to the float's precision
        mid = (low + high) / 2
        if mid in (low, high):
            break
        low, high = (mid, high) if t_cdf(mid, df) < p else (low, mid)
    return (low + high) / 2


def t_cdf(x: float, df: float) -> float:
    """P(T <= x): one tail is I_{df/(df+x^2)}(df/2, 1/2) / 2."""
    tail = 0.5 * beta_regularized(df / 2, 0.5, df / (df + x * x))
    return 1.0 - tail if x > 0 else tail


def beta_regularized(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1) / (a + b + 2):  # where the continued fraction converges fast; else by symmetry
        return front * _fraction(a, b, x) / a
    return 1.0 - front * _fraction(b, a, 1.0 - x) / b


def _fraction(a: float, b: float, x: float) -> float:
    """The incomplete beta function's continued fraction, by the modified Lentz method."""
    tiny = 1e-300

    def nonzero(v: float) -> float:
        return v if abs(v) > tiny else tiny

    c, d = 1.0, 1.0 / nonzero(1.0 - (a + b) * x / (a + 1))
    h = d
    for m in range(1, 500):
        for numerator in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                          -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 / nonzero(1.0 + numerator * d)
            c = nonzero(1.0 + numerator / c)
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return h
