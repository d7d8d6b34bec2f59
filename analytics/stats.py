"""Fixed-sample interval estimates for success rates (pure, stdlib only).

The report's skill effects do not use these: they come from hivemind_kafka.analytics.clusters (the
agent-period estimator) and analytics.sequential (anytime-valid sequences). What stays
here is descriptive (the Wilson interval of each period's rate in the charts) or a
one-look tool kept for comparison and planning:

* :func:`wilson` — Wilson score interval for one proportion (no continuity correction;
  Newcombe 1998a method 3). Good coverage at small n and near 0 or 1, never leaves [0, 1].
* :func:`newcombe_diff` — Newcombe's hybrid score interval for p1 - p2 of two independent
  proportions (Newcombe 1998b method 10), built from the two Wilson intervals.
* :func:`srm_check` — sample ratio mismatch: chi-square goodness of fit of the observed
  cohort sizes against the configured holdout share; ``p < 0.001`` flags.
* :func:`has_minimum_sample` — the rule below which the answer is "insufficient data".
* :func:`design_effect` — variance inflation when sessions cluster by agent, and
  :func:`effective_counts` (the report now estimates the variance over the randomized
  agent-periods directly and shows its ratio to the naive one as the design effect).

Every function validates its input and raises ``ValueError`` naming the bad argument.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from statistics import NormalDist

from msgspec import Struct

MIN_SAMPLE_PER_COHORT = 30
DEFAULT_CONFIDENCE = 0.95
SRM_ALPHA = 0.001


class Interval(Struct, frozen=True):
    estimate: float
    low: float
    high: float

    def excludes_zero(self) -> bool:
        return self.low > 0.0 or self.high < 0.0


def z_value(confidence: float = DEFAULT_CONFIDENCE) -> float:
    """Two-sided standard normal quantile (0.95 -> 1.95996...)."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    return NormalDist().inv_cdf(0.5 + confidence / 2.0)


def _check_counts(successes: float, n: float) -> None:
    if n < 0 or successes < 0 or successes > n:
        raise ValueError(f"need 0 <= successes <= n, got successes={successes} n={n}")


def wilson(successes: float, n: float, confidence: float = DEFAULT_CONFIDENCE) -> Interval:
    """Wilson score interval. ``n == 0`` gives the uninformative (nan, 0, 1). Counts may
    be fractional: effective counts after a design effect (:func:`effective_counts`)."""
    _check_counts(successes, n)
    if n == 0:
        return Interval(math.nan, 0.0, 1.0)
    z = z_value(confidence)
    p = successes / n
    z2 = z * z
    denom = 1.0 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    # Exact ends at 0 and n (the formula gives them up to rounding).
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return Interval(p, low, high)


def newcombe_diff(s1: float, n1: float, s2: float, n2: float,
                  confidence: float = DEFAULT_CONFIDENCE) -> Interval:
    """Interval for p1 - p2 (Newcombe 1998 method 10, hybrid score, no correction).

    With Wilson limits (l1, u1), (l2, u2) and d = p1 - p2:
    ``low = d - sqrt((p1 - l1)^2 + (u2 - p2)^2)``, ``high = d + sqrt((u1 - p1)^2 + (p2 - l2)^2)``.
    Either n == 0 gives (nan, -1, 1). Counts may be fractional (effective counts).
    """
    _check_counts(s1, n1)
    _check_counts(s2, n2)
    if n1 == 0 or n2 == 0:
        return Interval(math.nan, -1.0, 1.0)
    a, b = wilson(s1, n1, confidence), wilson(s2, n2, confidence)
    d = a.estimate - b.estimate
    low = d - math.sqrt((a.estimate - a.low) ** 2 + (b.high - b.estimate) ** 2)
    high = d + math.sqrt((a.high - a.estimate) ** 2 + (b.estimate - b.low) ** 2)
    return Interval(d, max(-1.0, low), min(1.0, high))


def chi_square_sf(x: float, df: int) -> float:
    """Upper tail P(X >= x) of a chi-square with ``df`` degrees of freedom."""
    if df < 1:
        raise ValueError(f"df must be >= 1, got {df}")
    if x <= 0:
        return 1.0
    return _upper_regularized_gamma(df / 2.0, x / 2.0)


def _upper_regularized_gamma(a: float, x: float) -> float:
    """Q(a, x) by series (x < a + 1) or continued fraction (Numerical Recipes 6.2)."""
    gln = math.lgamma(a)
    if x < a + 1.0:
        term = total = 1.0 / a
        ap = a
        for _ in range(10_000):
            ap += 1.0
            term *= x / ap
            total += term
            if abs(term) < abs(total) * 1e-15:
                break
        return max(0.0, 1.0 - total * math.exp(-x + a * math.log(x) - gln))
    tiny = 1e-300
    b = x + 1.0 - a
    c = 1.0 / tiny
    d = 1.0 / b
    h = d
    for i in range(1, 10_000):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return min(1.0, math.exp(-x + a * math.log(x) - gln) * h)


def design_effect(clusters: Iterable[tuple[int, int]]) -> float:
    """Variance inflation of a proportion whose units come in clusters (sessions of one
    agent): ``1 + (m - 1) * icc`` with ``m`` the size-weighted mean cluster size and
    ``icc`` the one-way ANOVA intraclass correlation of the binary outcome, floored at 0
    (so the result is >= 1). ``clusters`` yields (successes, n) per cluster; fewer than two
    non-empty clusters give 1.0 (nothing to estimate from).
    """
    sizes = [(s, n) for s, n in clusters if n > 0]
    k = len(sizes)
    total = sum(n for _, n in sizes)
    if k < 2 or total <= k:
        return 1.0
    p = sum(s for s, _ in sizes) / total
    ss_between = sum(n * (s / n - p) ** 2 for s, n in sizes)
    ss_within = sum(s * (1 - s / n) for s, n in sizes)  # sum over clusters of n*p_i*(1-p_i)
    ms_between = ss_between / (k - 1)
    ms_within = ss_within / (total - k)
    n0 = (total - sum(n * n for _, n in sizes) / total) / (k - 1)
    denom = ms_between + (n0 - 1) * ms_within
    icc = max(0.0, (ms_between - ms_within) / denom) if denom > 0 else 0.0
    m = sum(n * n for _, n in sizes) / total
    return 1.0 + (m - 1.0) * icc


def effective_counts(successes: int, n: int, deff: float) -> tuple[float, float]:
    """(successes, n) divided by the design effect: the independent sample worth as much."""
    if deff < 1.0:
        raise ValueError(f"design effect must be >= 1, got {deff}")
    return successes / deff, n / deff


class SrmResult(Struct, frozen=True):
    chi2: float
    p_value: float
    expected_held_out: float
    observed_held_out: int
    total: int
    mismatch: bool


def srm_check(n_present: int, n_held_out: int, held_out_share: float,
              alpha: float = SRM_ALPHA) -> SrmResult:
    """Chi-square goodness of fit (df = 1) of (present, held_out) against
    (1 - share, share). ``mismatch`` when p < ``alpha`` (default 0.001): the cohorts are
    not the sizes randomization produces, so an effect estimate cannot be trusted."""
    if not 0.0 < held_out_share < 1.0:
        raise ValueError(f"held_out_share must be in (0, 1), got {held_out_share}")
    if n_present < 0 or n_held_out < 0:
        raise ValueError(f"cohort sizes must be >= 0, got {n_present}, {n_held_out}")
    total = n_present + n_held_out
    if total == 0:
        return SrmResult(0.0, 1.0, 0.0, 0, 0, False)
    exp_h = total * held_out_share
    exp_p = total - exp_h
    chi2 = (n_held_out - exp_h) ** 2 / exp_h + (n_present - exp_p) ** 2 / exp_p
    p = chi_square_sf(chi2, 1)
    return SrmResult(chi2, p, exp_h, n_held_out, total, p < alpha)


def has_minimum_sample(*cohort_sizes: int, minimum: int = MIN_SAMPLE_PER_COHORT) -> bool:
    """True when every cohort has at least ``minimum`` sessions with a known result."""
    return all(n >= minimum for n in cohort_sizes)


def sessions_needed(effect: float, base_rate: float, held_out_share: float, *,
                    confidence: float = DEFAULT_CONFIDENCE, power: float = 0.8) -> int:
    """Total sessions (both cohorts) for a two-sided test at ``confidence`` to exclude 0
    with probability ``power`` when the true difference is ``effect`` (normal approximation,
    variance at ``base_rate`` and ``base_rate + effect``)."""
    if effect == 0:
        raise ValueError("effect must be non-zero")
    p1, p2 = base_rate + effect, base_rate
    if not (0 < p1 < 1 and 0 < p2 < 1):
        raise ValueError(f"rates out of (0, 1): base={base_rate} effect={effect}")
    z_a = z_value(confidence)
    z_b = NormalDist().inv_cdf(power)
    q = held_out_share
    var_per_total = p1 * (1 - p1) / (1 - q) + p2 * (1 - p2) / q
    return math.ceil((z_a + z_b) ** 2 * var_per_total / effect**2)
