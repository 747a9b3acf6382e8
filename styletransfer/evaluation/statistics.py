"""Small-sample statistics for comparing training runs over seeds: mean, sample standard
deviation, Student's t quantiles and the paired confidence interval of a difference.

Pure Python (``math`` only). Student's t distribution with an integer number of degrees of
freedom has a closed-form CDF (Abramowitz & Stegun 26.7.3–4), so quantiles are found by
bisection on it, exactly to float precision: t₀.₉₇₅ = 12.706 for 1 degree of freedom, 4.303
for 2, 2.776 for 4, 2.262 for 9.
"""
from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

NAN = float("nan")


def mean(values: Sequence[float]) -> float:
    """The arithmetic mean; NaN for no values."""
    return math.fsum(values) / len(values) if values else NAN


def sample_std(values: Sequence[float]) -> float:
    """The sample standard deviation (n − 1 in the denominator); NaN for fewer than 2 values."""
    if len(values) < 2:
        return NAN
    centre = mean(values)
    return math.sqrt(math.fsum((value - centre) ** 2 for value in values) / (len(values) - 1))


def t_probability_within(t: float, df: int) -> float:
    """P(|T| ≤ t) for Student's t with ``df`` ≥ 1 (an integer) degrees of freedom, t ≥ 0."""
    if df < 1 or int(df) != df:
        raise ValueError(f"degrees of freedom must be a positive integer, not {df}")
    theta = math.atan(t / math.sqrt(df))
    sin, cos = math.sin(theta), math.cos(theta)
    if df % 2:  # odd: (2/π)·(θ + sinθ·(cosθ + (2/3)cos³θ + ... up to cos^(df−2)θ))
        term, total = cos, 0.0
        for j in range(1, (df - 1) // 2 + 1):
            total += term
            term *= cos * cos * (2 * j) / (2 * j + 1)
        return min(1.0, 2 / math.pi * (theta + sin * total))
    term, total = 1.0, 0.0  # even: sinθ·(1 + (1/2)cos²θ + (1·3)/(2·4)cos⁴θ + ... up to cos^(df−2)θ)
    for j in range(1, df // 2 + 1):
        total += term
        term *= cos * cos * (2 * j - 1) / (2 * j)
    return min(1.0, sin * total)


def t_quantile(probability: float, df: int) -> float:
    """The ``probability`` quantile of Student's t with ``df`` degrees of freedom, for
    probability in (0, 1) (e.g. 0.975 for a two-sided 95 % interval)."""
    if not 0 < probability < 1:
        raise ValueError(f"probability must be in (0, 1), not {probability}")
    if probability < 0.5:
        return -t_quantile(1 - probability, df)
    within = 2 * probability - 1  # P(|T| ≤ q)
    low, high = 0.0, 1.0
    while t_probability_within(high, df) < within:
        low, high = high, high * 2
    for _ in range(200):
        middle = (low + high) / 2
        if middle in (low, high):
            break
        if t_probability_within(middle, df) < within:
            low = middle
        else:
            high = middle
    return (low + high) / 2


@dataclass(frozen=True)
class Interval:
    """A mean over ``n`` values with its confidence interval [low, high] (NaN when n < 2)."""

    mean: float
    low: float
    high: float
    n: int
    confidence: float = 0.95

    @property
    def defined(self) -> bool:
        return self.n >= 2 and not math.isnan(self.low)


def confidence_interval(values: Sequence[float], confidence: float = 0.95) -> Interval:
    """The mean of ``values`` with the t-distribution confidence interval
    mean ± t_{(1+confidence)/2, n−1} · s / √n (s the sample standard deviation)."""
    n = len(values)
    centre = mean(values)
    if n < 2:
        return Interval(centre, NAN, NAN, n, confidence)
    half = t_quantile((1 + confidence) / 2, n - 1) * sample_std(values) / math.sqrt(n)
    return Interval(centre, centre - half, centre + half, n, confidence)


def paired_differences(baseline: Mapping[Hashable, float], other: Mapping[Hashable, float], *,
                       relative: bool = True) -> list[float]:
    """The per-key (per-seed) differences other − baseline over the keys both have, in key
    order of ``other``; in percent of the baseline value when ``relative``. Keys where either
    value is NaN are left out."""
    differences = []
    for key, value in other.items():
        if key not in baseline or math.isnan(value) or math.isnan(baseline[key]):
            continue
        difference = value - baseline[key]
        differences.append(100 * difference / baseline[key] if relative else difference)
    return differences
