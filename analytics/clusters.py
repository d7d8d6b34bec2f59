"""The difference in success rate between two cohorts of randomized clusters.

Input: one row per *cell* — the sessions of one cluster (an agent-period, the unit the
switchback randomizes) in one arm of one group (a skill version) — with its known-outcome
sessions ``n`` and successes ``s``. Output per group: the estimate, its variance, the
Satterthwaite degrees of freedom, and the counts the report shows.

Estimator (design-based, session-weighted):

1. **Strata by agent.** An agent with at least ``MIN_OWN_STRATUM`` clusters in each arm
   is its own stratum: its present days are compared with its own held-out days, so the
   differences in ability between agents (large, and the dominant noise where a few
   agents do most of the work) drop out. Agents with fewer are compared together in one
   pooled stratum (an own stratum with fewer clusters would estimate its variance from
   too few of them: the degrees of freedom, and with them the interval, would suffer).
2. **Per stratum**: ``d_h = S1/N1 - S0/N0`` (successes over known sessions per arm).
3. **Combined**: ``theta = sum_h W_h d_h`` with ``W_h`` the stratum's share of sessions
   (all of them when ``sessions`` is given, else those with a known outcome): the
   session-weighted average effect. A stratum with fewer than
   ``MIN_CELLS_PER_ARM`` cells in an arm (only the pooled one can be) is left out and the
   weights renormalize; its sessions are reported as not compared.
4. **Variance**: cluster-robust, from the clusters' residuals
   ``e_c = s_c - (S/N) n_c`` in each stratum-arm, ``sum e_c^2 / N^2`` times the
   small-sample factor ``k / (k - 1)`` (k clusters): sessions of one agent-period are
   not independent, and with few clusters the plain sandwich is too small.
5. **Degrees of freedom**: Satterthwaite over the stratum-arm components
   (``(sum c)^2 / sum(c^2 / (k - 1))``), used by analytics.sequential's t correction.

Pure numpy. Every array argument has one element per cell.
"""

from __future__ import annotations

import numpy as np
from msgspec import Struct

MIN_CELLS_PER_ARM = 2  # for a stratum to be compared at all
MIN_OWN_STRATUM = 5  # clusters per arm for an agent to be its own stratum


class GroupEstimates(Struct, frozen=True):
    """Per group (index = group id), numpy arrays."""

    estimate: np.ndarray  # nan when no stratum has both arms
    variance: np.ndarray  # cluster-robust, small-sample corrected
    df: np.ndarray  # Satterthwaite degrees of freedom
    naive_variance: np.ndarray  # as if sessions were independent (for the design effect)
    clusters: np.ndarray  # (groups, 2): clusters with a known outcome, [held_out, present]
    known: np.ndarray  # (groups, 2)
    successes: np.ndarray  # (groups, 2)
    agents: np.ndarray  # (groups, 2): agents with a known outcome per arm
    strata: np.ndarray  # agent strata used (the pooled one not counted)
    compared: np.ndarray  # sessions weighing the strata that were compared


def _bincount(idx: np.ndarray, weights: np.ndarray | None, size: int) -> np.ndarray:
    return np.bincount(idx, weights=weights, minlength=size)[:size].astype(float)


def estimate_groups(group: np.ndarray, agent: np.ndarray, arm: np.ndarray, n: np.ndarray,
                    s: np.ndarray, groups: int, *, stratify: bool = True,
                    sessions: np.ndarray | None = None) -> GroupEstimates:
    """Estimates for ``groups`` groups from cells (``arm`` 1 = present, 0 = held out;
    ``agent`` non-negative ints). Cells with ``n == 0`` count for nothing in the
    comparison. ``stratify`` False pools every agent (one stratum per group).
    ``sessions`` (all sessions per cell, known outcome or not) weights the strata by all
    their sessions instead of the known ones: where outcomes go missing more for some
    agents than others, the estimate still speaks for every session."""
    all_group, all_agent = group.astype(np.int64), agent.astype(np.int64)
    keep = n > 0
    group, agent, arm = group[keep].astype(np.int64), agent[keep].astype(np.int64), arm[keep].astype(np.int64)
    n, s = n[keep].astype(float), s[keep].astype(float)
    shape2 = (groups, 2)
    clusters = _bincount(group * 2 + arm, None, groups * 2).reshape(shape2)
    known = _bincount(group * 2 + arm, n, groups * 2).reshape(shape2)
    successes = _bincount(group * 2 + arm, s, groups * 2).reshape(shape2)

    # 1. strata: (group, agent) with enough clusters in both arms, else the pooled one.
    ga_keys, ga_idx = np.unique(group * (int(agent.max(initial=0)) + 1) + agent, return_inverse=True)
    ga_cells = _bincount(ga_idx * 2 + arm, None, ga_keys.size * 2).reshape(-1, 2)
    ga_group = ga_keys // (int(agent.max(initial=0)) + 1)
    agents = np.stack([_bincount(ga_group, (ga_cells[:, a] > 0).astype(float), groups)
                       for a in (0, 1)], axis=1)
    own = (ga_cells.min(axis=1) >= MIN_OWN_STRATUM) if stratify else np.zeros(ga_keys.size, bool)
    # Stratum key: own strata get 1 + their (group, agent) index, pooled ones 0, per group.
    stratum_of_cell = np.where(own[ga_idx], ga_idx + 1, 0)
    h_keys, h_idx = np.unique(group * (ga_keys.size + 1) + stratum_of_cell, return_inverse=True)
    h_group = h_keys // (ga_keys.size + 1)
    h_own = (h_keys % (ga_keys.size + 1)) > 0
    nh = h_keys.size

    # 2-4. per stratum-arm sums and residual sums of squares.
    cell = h_idx * 2 + arm
    k = _bincount(cell, None, nh * 2).reshape(-1, 2)
    big_n = _bincount(cell, n, nh * 2).reshape(-1, 2)
    big_s = _bincount(cell, s, nh * 2).reshape(-1, 2)
    ss = _bincount(cell, s * s, nh * 2).reshape(-1, 2)
    sn = _bincount(cell, s * n, nh * 2).reshape(-1, 2)
    nn = _bincount(cell, n * n, nh * 2).reshape(-1, 2)
    usable = k.min(axis=1) >= MIN_CELLS_PER_ARM
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(big_n > 0, big_s / big_n, 0.0)
        resid = np.maximum(ss - 2 * rate * sn + rate * rate * nn, 0.0)
        comp = np.where(k > 1, k / (k - 1) * resid / (big_n * big_n), 0.0)
        naive = np.where(big_n > 0, rate * (1 - rate) / big_n, 0.0)
    d = rate[:, 1] - rate[:, 0]
    if sessions is None:
        weight_raw = np.where(usable, big_n.sum(axis=1), 0.0)
    else:
        # Every session of an agent that has a known outcome goes to its agent's stratum.
        width = int(agent.max(initial=0)) + 1
        all_key = all_group * width + np.minimum(all_agent, width - 1)
        pos = np.minimum(np.searchsorted(ga_keys, all_key), max(ga_keys.size - 1, 0))
        known_agent = ((ga_keys[pos] == all_key) & (all_agent < width) if ga_keys.size
                       else np.zeros(all_key.size, bool))
        ga_sessions = _bincount(pos[known_agent], sessions[known_agent].astype(float),
                                ga_keys.size)
        ga_to_h = np.zeros(ga_keys.size, np.int64)
        ga_to_h[ga_idx] = h_idx
        weight_raw = np.where(usable, _bincount(ga_to_h, ga_sessions, nh), 0.0)
    total = _bincount(h_group, weight_raw, groups)
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.where(usable, weight_raw / total[h_group], 0.0)
        estimate = np.where(total > 0, _bincount(h_group, w * d, groups), np.nan)
        c = (w * w)[:, None] * comp  # variance components per stratum-arm
        variance = np.where(total > 0, _bincount(h_group, c.sum(axis=1), groups), np.nan)
        naive_var = np.where(total > 0, _bincount(h_group, (w * w) * naive.sum(axis=1), groups),
                             np.nan)
        denom = _bincount(h_group, np.where(k > 1, c * c / np.maximum(k - 1, 1), 0.0).sum(axis=1),
                          groups)
        df = np.where(denom > 0, variance * variance / denom, np.nan)
    return GroupEstimates(
        estimate=estimate, variance=variance, df=df, naive_variance=naive_var,
        clusters=clusters, known=known, successes=successes, agents=agents,
        strata=_bincount(h_group, (usable & h_own).astype(float), groups),
        compared=total,
    )
