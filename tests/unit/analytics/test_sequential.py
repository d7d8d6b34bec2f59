"""Anytime-valid inference: the sequences hold under any number of looks (where fixed
intervals do not), the t correction widens them when few clusters estimate the variance,
e-BH and the sample-ratio e-value behave as their guarantees say."""

from __future__ import annotations

import numpy as np
import pytest

from hivemind_kafka.analytics.sequential import (
    confidence_sequence,
    days_to_detect,
    e_bh,
    e_values,
    half_width,
    srm_e_value,
)

LOOKS = 400


@pytest.fixture(scope="module")
def null_runs() -> tuple[np.ndarray, np.ndarray]:
    """2,000 runs of a null effect: means of Bernoulli(0.5) outcomes (minus 0.5) after
    25, 50, ... 10,000 sessions, and their variance at each look."""
    rng = np.random.default_rng(11)
    n = np.arange(1, LOOKS + 1) * 25
    means = np.cumsum(rng.binomial(25, 0.5, (2000, LOOKS)), axis=1) / n - 0.5
    return means, 0.25 / n


def test_sequences_keep_their_level_over_hundreds_of_looks_where_fixed_intervals_do_not(
        null_runs):
    means, var = null_runs
    low, high = confidence_sequence(means, var, np.inf, confidence=0.95)
    ever_wrong = ((low > 0) | (high < 0)).any(axis=1).mean()
    fixed = (np.abs(means) > 1.96 * np.sqrt(var)).any(axis=1).mean()
    assert ever_wrong <= 0.05
    assert fixed > 0.25  # the same data, 95 % fixed intervals checked at every look


def test_one_side_of_the_sequence_is_crossed_at_most_half_as_often(null_runs):
    means, var = null_runs
    _, high = confidence_sequence(means, var, np.inf, confidence=0.95)
    assert (high < 0).any(axis=1).mean() <= 0.025


def test_few_clusters_widen_the_sequence_and_many_give_the_normal_one():
    v = np.full(4, 0.02**2)
    widths = half_width(v, np.array([3.0, 10.0, 100.0, np.inf]))
    assert widths[0] > widths[1] > widths[2] > widths[3]
    assert widths[2] == pytest.approx(widths[3], rel=0.03)


def test_e_values_point_the_way_of_the_evidence():
    up, down = e_values(np.array([0.10, -0.10, 0.0]), np.full(3, 0.02**2), np.inf)
    assert up[0] > 1000 and down[0] < 1
    assert down[1] > 1000 and up[1] < 1
    assert up[2] <= 1 and down[2] <= 1  # no deviation, no evidence
    unknown = e_values(np.array([np.nan]), np.array([np.nan]), np.inf)
    assert unknown[0][0] == 1.0 and unknown[1][0] == 1.0


def test_the_sequence_excludes_zero_exactly_when_the_one_sided_e_value_reaches_two_over_alpha():
    est = np.linspace(-0.12, 0.12, 49)
    var = np.full(est.size, 0.03**2)
    low, high = confidence_sequence(est, var, 20.0, confidence=0.95)
    up, down = e_values(est, var, 20.0)
    assert np.array_equal(low > 0, up >= 40 * (1 - 1e-9))
    assert np.array_equal(high < 0, down >= 40 * (1 - 1e-9))


def test_e_bh_rejects_the_largest_e_values_that_clear_the_step_up_line():
    # m = 4, q = 0.1: the k-th largest must reach 40 / k.
    e = np.array([30.0, 500.0, 21.0, 1.0])
    assert e_bh(e, 0.1).tolist() == [True, True, True, False]  # 21 >= 40/3, 30 >= 40/2
    assert e_bh(np.array([39.0, 2.0, 1.0, 1.0]), 0.1).tolist() == [False] * 4
    assert e_bh(np.array([]), 0.1).size == 0


def test_e_bh_keeps_false_discoveries_rare_among_many_null_skills():
    rng = np.random.default_rng(5)
    fdp = []
    for _ in range(300):
        null = e_values(rng.normal(0, 0.02, 18), np.full(18, 0.02**2), np.inf)[0]
        real = e_values(rng.normal(0.1, 0.02, 2), np.full(2, 0.02**2), np.inf)[0]
        rejected = e_bh(np.concatenate([null, real]), 0.1)
        fdp.append(rejected[:18].sum() / max(rejected.sum(), 1))
    assert np.mean(fdp) <= 0.1


def test_srm_evidence_grows_for_a_broken_share_and_stays_small_for_the_designed_one():
    assert srm_e_value(500, 1000, 0.5) < 1.0
    assert srm_e_value(300, 1000, 0.5) > 1e6
    rng = np.random.default_rng(3)
    held = np.cumsum(rng.random((2000, 1000)) < 0.25, axis=1)[:, 9::10]
    total = np.arange(10, 1001, 10)  # a look every 10 units
    ever = (srm_e_value(held, total, 0.25) >= 1000).any(axis=1).mean()
    assert ever <= 0.001 + 3 * np.sqrt(0.001 / 2000)


def test_the_plan_is_longer_for_smaller_effects_and_unknown_without_a_variance():
    small = days_to_detect(0.02, np.array([0.01**2]), np.array([50.0]), np.array([14.0]))
    large = days_to_detect(0.08, np.array([0.01**2]), np.array([50.0]), np.array([14.0]))
    assert large[0] <= 14.0 < small[0]
    assert np.isnan(days_to_detect(0.05, np.array([np.nan]), np.array([5.0]),
                                   np.array([3.0]))[0])
