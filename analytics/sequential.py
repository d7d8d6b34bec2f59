"""Anytime-valid inference: intervals and evidence that stay valid however often one looks.

The measure job recomputes every skill's effect every ten minutes, and the auto-retirer
acts on the first look that says "harmful". A fixed-sample 95 % interval checked that
often excludes the truth far more than 5 % of the time; these sequences do not:

* **Normal-mixture e-values (mixture SPRT).** For an estimate ``theta`` with variance
  ``V`` (information ``I = 1/V``), ``z = (theta - theta0) / sqrt(V)`` and the one-sided
  mixture over a half-normal prior of scale ``rho`` (the effect size, in probability
  points, the test is tuned for) gives, with ``r = rho^2 I / (1 + rho^2 I)``::

      E+(theta0) = 2 sqrt(1 - r) exp(r z^2 / 2) Phi(z sqrt(r))

  a nonnegative supermartingale under ``theta <= theta0`` (Robbins 1970; Johari et al.
  2017 "Always valid inference"; Howard et al. 2021). By Ville's inequality
  ``P(E+ ever >= 1/a) <= a``: ``E+(0)`` is evidence of a positive effect, ``E-(0)`` (the
  same with ``-z``) of a harmful one, at any number of looks.
* **Confidence sequences.** ``[low, high]`` at ``confidence = 1 - alpha`` are the values
  no one-sided mixture rejects at ``alpha / 2``: the whole sequence of intervals covers
  the true effect at every look at once with probability >= ``confidence``.
* **Small samples.** ``V`` is estimated from a few dozen clusters at first. Before the
  mixture is applied, the studentized ``z`` is mapped through its t distribution with the
  clusters' Satterthwaite degrees of freedom (``df``) to the normal scale, and the
  interval's half-width is read back on the t scale: with few clusters the sequence is
  wider, with many it is the normal one.
* **False discoveries across skills** (:func:`e_bh`): e-BH (Wang & Ramdas 2022) over one
  workspace's library; valid under any dependence between the skills' e-values.
* **Sample ratio** (:func:`srm_e_value`): a beta-binomial mixture against the designed
  holdout share, anytime-valid like the rest.

Pure numpy/scipy; every function takes and returns arrays (one element per skill).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

DEFAULT_MIXTURE_SCALE = 0.05  # rho: tuned for effects of a few probability points
SRM_ALPHA = 0.001
SRM_CONCENTRATION = 100.0  # prior Beta(c*q, c*(1-q)) on the held-out share
LOG2 = math.log(2.0)


def _arr(x) -> np.ndarray:
    return np.asarray(x, dtype=float)


def to_normal_scale(z, df) -> np.ndarray:
    """A statistic ``z`` with a t distribution on ``df`` degrees of freedom, mapped to the
    standard normal with the same tail probability (``df`` inf or nan: unchanged)."""
    z, df = np.broadcast_arrays(_arr(z), _arr(df))
    out = z.copy()
    finite = np.isfinite(df) & np.isfinite(z) & (df > 0)
    if finite.any():
        tail = special.stdtr(df[finite], -np.abs(z[finite]))
        out[finite] = np.sign(z[finite]) * -special.ndtri(np.maximum(tail, 1e-300))
    return out


def from_normal_scale(zn, df) -> np.ndarray:
    """Inverse of :func:`to_normal_scale`: the t quantile with ``zn``'s normal tail."""
    zn, df = np.broadcast_arrays(_arr(zn), _arr(df))
    out = zn.copy()
    finite = np.isfinite(df) & np.isfinite(zn) & (df > 0)
    if finite.any():
        tail = special.ndtr(-np.abs(zn[finite]))
        out[finite] = np.sign(zn[finite]) * -special.stdtrit(df[finite], tail)
    return out


def mixture_weight(variance, scale: float = DEFAULT_MIXTURE_SCALE) -> np.ndarray:
    """``r = rho^2 I / (1 + rho^2 I)`` with ``I = 1 / variance`` (0 when nothing is known)."""
    v = _arr(variance)
    with np.errstate(divide="ignore", invalid="ignore"):
        info = np.where(np.isfinite(v) & (v > 0), scale * scale / v, 0.0)
    return info / (1.0 + info)


def log_one_sided_e(z, r) -> np.ndarray:
    """log E+ at standardized deviation ``z`` (normal scale) and mixture weight ``r``.
    Increasing in ``z``; 0 evidence (log E = log 2 + ...) is not 0: E+ at z = 0 is
    ``sqrt(1 - r)`` <= 1."""
    z, r = np.broadcast_arrays(_arr(z), _arr(r))
    with np.errstate(divide="ignore", invalid="ignore"):
        out = LOG2 + 0.5 * np.log1p(-r) + 0.5 * r * z * z + special.log_ndtr(z * np.sqrt(r))
    return np.where(r > 0, out, 0.0)


def e_values(estimate, variance, df, *, null: float = 0.0,
             scale: float = DEFAULT_MIXTURE_SCALE) -> tuple[np.ndarray, np.ndarray]:
    """``(E+, E-)`` against ``theta <= null`` and ``theta >= null``: evidence that the
    effect is above / below ``null``. Unknown estimates give 1 (no evidence)."""
    est, v = _arr(estimate), _arr(variance)
    ok = np.isfinite(est) & np.isfinite(v) & (v > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(ok, (est - null) / np.sqrt(np.where(ok, v, 1.0)), 0.0)
    r = np.where(ok, mixture_weight(v, scale), 0.0)
    zn = to_normal_scale(z, df)
    up = np.exp(np.minimum(log_one_sided_e(zn, r), 700.0))
    down = np.exp(np.minimum(log_one_sided_e(-zn, r), 700.0))
    return np.where(ok, up, 1.0), np.where(ok, down, 1.0)


def boundary_z(r, alpha) -> np.ndarray:
    """The normal-scale deviation at which the one-sided mixture reaches ``1/alpha``."""
    r = _arr(r)
    target = math.log(1.0 / alpha)
    lo, hi = np.zeros_like(r), np.full_like(r, 1e4)
    for _ in range(48):  # 1e4 / 2**48: far below any printed digit
        mid = (lo + hi) / 2
        above = log_one_sided_e(mid, r) >= target
        hi = np.where(above, mid, hi)
        lo = np.where(above, lo, mid)
    return np.where(r > 0, hi, np.inf)


def confidence_sequence(estimate, variance, df, *, confidence: float = 0.95,
                        scale: float = DEFAULT_MIXTURE_SCALE) -> tuple[np.ndarray, np.ndarray]:
    """Anytime-valid ``(low, high)``, clipped to [-1, 1] (an effect on a probability);
    unknown estimate or variance gives (-1, 1)."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    est, v = _arr(estimate), _arr(variance)
    ok = np.isfinite(est) & np.isfinite(v) & (v > 0)
    half = from_normal_scale(boundary_z(mixture_weight(v, scale), (1 - confidence) / 2), df)
    with np.errstate(invalid="ignore"):
        half = half * np.sqrt(np.where(ok, v, 0.0))
    low = np.where(ok, np.clip(est - half, -1.0, 1.0), -1.0)
    high = np.where(ok, np.clip(est + half, -1.0, 1.0), 1.0)
    return low, high


def half_width(variance, df, *, confidence: float = 0.95,
               scale: float = DEFAULT_MIXTURE_SCALE) -> np.ndarray:
    """Half-width of the confidence sequence at ``variance`` and ``df``."""
    v = _arr(variance)
    z = from_normal_scale(boundary_z(mixture_weight(v, scale), (1 - confidence) / 2), df)
    return z * np.sqrt(v)


def e_bh(e, q: float) -> np.ndarray:
    """e-BH at level ``q``: reject the ``k`` largest e-values for the largest ``k`` with
    ``e_(k) >= m / (q k)`` (m = len(e)). Controls the false discovery rate at ``q``
    under arbitrary dependence. Returns the rejection mask."""
    e = _arr(e)
    m = e.size
    if m == 0:
        return np.zeros(0, dtype=bool)
    order = np.argsort(-e, kind="stable")
    ranks = np.arange(1, m + 1)
    passing = e[order] >= m / (q * ranks)
    mask = np.zeros(m, dtype=bool)
    if passing.any():
        k = int(np.nonzero(passing)[0].max()) + 1
        mask[order[:k]] = True
    return mask


def srm_e_value(held, total, share, *, concentration: float = SRM_CONCENTRATION) -> np.ndarray:
    """Evidence that the held-out share of ``total`` randomized units is not ``share``:
    the Beta(c q, c (1 - q)) mixture of binomial likelihoods over Binomial(total, q)'s.
    ``P(ever >= 1/a) <= a`` when the assignment works; >= 1/``SRM_ALPHA`` flags."""
    x, n, q = np.broadcast_arrays(_arr(held), _arr(total), _arr(share))
    a, b = concentration * q, concentration * (1 - q)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_e = (special.betaln(a + x, b + n - x) - special.betaln(a, b)
                 - x * np.log(q) - (n - x) * np.log1p(-q))
    return np.where(n > 0, np.exp(np.minimum(log_e, 700.0)), 1.0)


def days_to_detect(effect: float, variance, df, elapsed_days, *, confidence: float = 0.95,
                   scale: float = DEFAULT_MIXTURE_SCALE, power: float = 0.8,
                   horizon_days: float = 3650.0) -> np.ndarray:
    """Days from the window's start until an effect of ``effect`` would be declared with
    probability ``power``, if traffic goes on as it did over ``elapsed_days`` (variance
    and degrees of freedom scale with time). nan when nothing is known; inf beyond
    ``horizon_days``."""
    v, dfs, t = np.broadcast_arrays(_arr(variance), _arr(df), _arr(elapsed_days))
    out = np.full(v.shape, np.nan)
    ok = np.isfinite(v) & (v > 0) & (t > 0)
    if not ok.any():
        return out
    z_power = float(special.ndtri(power))
    grid = np.geomspace(1.0, horizon_days, 64)  # candidate total durations, days
    vv, dd, tt = v[ok][:, None], dfs[ok][:, None], t[ok][:, None]
    total = np.maximum(grid[None, :], tt)
    var_at = vv * tt / total
    df_at = np.where(np.isfinite(dd), dd * total / tt, np.inf)
    need = half_width(var_at, df_at, confidence=confidence, scale=scale) + z_power * np.sqrt(var_at)
    reached = need <= abs(effect)
    first = np.where(reached.any(axis=1), total[np.arange(total.shape[0]), reached.argmax(axis=1)],
                     np.inf)
    out[ok] = first
    return out
