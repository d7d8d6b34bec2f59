"""The agent-period estimator: honest variance with few agents who differ a lot, agents
compared with themselves when they have enough days in both cohorts."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from hivemind_kafka.analytics.clusters import MIN_OWN_STRATUM, estimate_groups


def _switchback(rng: np.random.Generator, reps: int, agents: int, days: int, *,
                per_day: float, ability_sd: float, effect: float, share: float = 0.5,
                day_sd: float = 0.05):
    """``reps`` independent small teams (one group each): every agent-day is one cluster
    drawn into the held-out arm with ``share``; agents differ in ability, days in luck."""
    g = np.repeat(np.arange(reps), agents * days)
    a = np.tile(np.repeat(np.arange(agents), days), reps)
    arm = (rng.random(g.size) >= share).astype(np.int64)
    n = rng.poisson(per_day, g.size)
    ability = rng.normal(0.0, ability_sd, (reps, agents))[g, a]
    p = np.clip(0.5 + ability + rng.normal(0.0, day_sd, g.size) + effect * arm, 0.02, 0.98)
    s = rng.binomial(n, p)
    truth = effect * np.ones(reps)  # the clip rarely binds at these settings
    return g, a, arm, n, s, truth


@pytest.mark.parametrize("stratify", [True, False])
def test_intervals_from_the_variance_and_df_cover_with_five_agents_that_differ(stratify):
    rng = np.random.default_rng(2)
    g, a, arm, n, s, truth = _switchback(rng, 1500, 5, 30, per_day=4, ability_sd=0.2,
                                         effect=0.08)
    est = estimate_groups(g, a, arm, n, s, 1500, stratify=stratify)
    ok = np.isfinite(est.estimate)
    half = stats.t.ppf(0.975, est.df[ok]) * np.sqrt(est.variance[ok])
    covered = np.abs(est.estimate[ok] - truth[ok]) <= half
    assert ok.mean() > 0.99
    assert covered.mean() >= 0.93


def test_agents_compared_with_themselves_give_a_tighter_estimate_than_pooling_them():
    rng = np.random.default_rng(3)
    g, a, arm, n, s, _ = _switchback(rng, 400, 6, 40, per_day=8, ability_sd=0.2, effect=0.0)
    own = estimate_groups(g, a, arm, n, s, 400, stratify=True)
    pooled = estimate_groups(g, a, arm, n, s, 400, stratify=False)
    assert np.median(own.strata) == 6
    assert np.mean(own.estimate ** 2) < 0.6 * np.mean(pooled.estimate ** 2)
    assert np.median(own.variance) < 0.6 * np.median(pooled.variance)


def test_an_agent_needs_enough_days_in_both_cohorts_to_be_its_own_stratum():
    # Agent 0: MIN_OWN_STRATUM days in each arm; agent 1: one held-out day less.
    cells = []
    for agent, held_days in ((0, MIN_OWN_STRATUM), (1, MIN_OWN_STRATUM - 1)):
        cells += [(agent, 0)] * held_days + [(agent, 1)] * MIN_OWN_STRATUM
    a = np.array([c[0] for c in cells])
    arm = np.array([c[1] for c in cells])
    n = np.full(a.size, 5)
    s = np.where(arm == 1, 3, 2)
    est = estimate_groups(np.zeros(a.size, np.int64), a, arm, n, s, 1)
    assert est.strata[0] == 1  # agent 0 alone; agent 1 goes to the pooled stratum
    assert est.compared[0] == n.sum()  # the pooled stratum (1 agent, >= 2 per arm) counts
    assert est.estimate[0] == pytest.approx(0.2)
    assert est.clusters[0].tolist() == [2 * MIN_OWN_STRATUM - 1, 2 * MIN_OWN_STRATUM]


def test_a_stratum_with_one_cluster_in_an_arm_is_left_out_not_guessed():
    # One agent with its own stratum, a second with a single held-out day (pooled alone).
    a = np.array([0] * (2 * MIN_OWN_STRATUM) + [1, 1, 1])
    arm = np.array([0] * MIN_OWN_STRATUM + [1] * MIN_OWN_STRATUM + [0, 1, 1])
    n = np.full(a.size, 4)
    s = np.where(arm == 1, 3, 1)
    s[-3:] = [4, 0, 0]  # the lone held-out day of agent 1 would flip the sign
    est = estimate_groups(np.zeros(a.size, np.int64), a, arm, n, s, 1)
    assert est.compared[0] == 4 * 2 * MIN_OWN_STRATUM
    assert est.estimate[0] == pytest.approx(0.5)


def test_groups_without_both_cohorts_have_no_estimate():
    est = estimate_groups(np.array([0, 0, 1]), np.array([0, 0, 0]), np.array([1, 1, 0]),
                          np.array([3, 3, 3]), np.array([1, 2, 3]), 3)
    assert np.isnan(est.estimate).all()
    assert est.known.tolist() == [[0, 6], [3, 0], [0, 0]]


def test_agents_who_report_fewer_outcomes_still_weigh_by_all_their_sessions():
    # Agent 0 reports every outcome (effect +10pp), agent 1 half of them (effect +40pp);
    # both run ten sessions a day, ten days in each cohort.
    a = np.repeat([0, 1], 20)
    arm = np.tile(np.repeat([0, 1], 10), 2)
    n = np.where(a == 0, 10, 5)
    s = np.select([(a == 0) & (arm == 1), a == 0, arm == 1], [6, 5, 4], 2)
    g = np.zeros(a.size, np.int64)
    by_known = estimate_groups(g, a, arm, n, s, 1)
    by_sessions = estimate_groups(g, a, arm, n, s, 1, sessions=np.full(a.size, 10))
    assert by_known.estimate[0] == pytest.approx((200 * 0.1 + 100 * 0.4) / 300)
    assert by_sessions.estimate[0] == pytest.approx(0.25)
    assert by_sessions.compared[0] == 400


def test_no_known_outcome_yet_gives_no_estimate_with_session_weights():
    cells = np.arange(4)
    est = estimate_groups(np.zeros(4, np.int64), cells, cells % 2, np.zeros(4, np.int64),
                          np.zeros(4, np.int64), 1, sessions=np.full(4, 3))
    assert np.isnan(est.estimate[0]) and est.compared[0] == 0
