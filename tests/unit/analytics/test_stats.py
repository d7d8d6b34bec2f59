"""Statistics against published values (Newcombe 1998a/b worked examples)."""

from __future__ import annotations

import math

import pytest

from hivemind_kafka.analytics.stats import (
    chi_square_sf,
    has_minimum_sample,
    newcombe_diff,
    sessions_needed,
    srm_check,
    wilson,
    z_value,
)

# Newcombe (1998a) Statistics in Medicine 17:857, Table II, method 3 (Wilson, no CC).
WILSON_PUBLISHED = [
    ((81, 263), (0.2553, 0.3662)),
    ((15, 148), (0.0624, 0.1605)),
    ((0, 20), (0.0000, 0.1611)),
    ((1, 29), (0.0061, 0.1718)),
]

# Newcombe (1998b) Statistics in Medicine 17:873, Table II, method 10 (hybrid score).
NEWCOMBE_PUBLISHED = [
    ((56, 70, 48, 80), (0.0524, 0.3339)),
    ((9, 10, 3, 10), (0.1705, 0.8090)),
    ((6, 7, 2, 7), (0.0582, 0.8062)),
    ((5, 56, 0, 29), (-0.0381, 0.1926)),
    ((0, 10, 0, 20), (-0.1611, 0.2775)),
    ((0, 10, 0, 10), (-0.2775, 0.2775)),
    ((10, 10, 0, 20), (0.6791, 1.0000)),
    ((10, 10, 0, 10), (0.6075, 1.0000)),
]


@pytest.mark.parametrize(("counts", "expected"), WILSON_PUBLISHED)
def test_wilson_matches_newcombe_1998a_table(counts, expected):
    ci = wilson(*counts)
    assert ci.low == pytest.approx(expected[0], abs=5e-5)
    assert ci.high == pytest.approx(expected[1], abs=5e-5)


@pytest.mark.parametrize(("counts", "expected"), NEWCOMBE_PUBLISHED)
def test_newcombe_difference_matches_newcombe_1998b_method_10(counts, expected):
    ci = newcombe_diff(*counts)
    s1, n1, s2, n2 = counts
    assert ci.estimate == pytest.approx(s1 / n1 - s2 / n2)
    assert ci.low == pytest.approx(expected[0], abs=5e-5)
    assert ci.high == pytest.approx(expected[1], abs=5e-5)


def test_worked_example_difference_is_point_two():
    ci = newcombe_diff(56, 70, 48, 80)
    assert ci.estimate == pytest.approx(0.2)
    assert ci.excludes_zero()


def test_wilson_stays_inside_unit_interval_at_the_extremes():
    for n in (1, 2, 5, 30, 1000):
        for s in (0, n):
            ci = wilson(s, n)
            assert 0.0 <= ci.low <= ci.estimate <= ci.high <= 1.0


def test_wilson_narrows_as_sample_grows():
    widths = [wilson(n // 2, n).high - wilson(n // 2, n).low for n in (10, 100, 1000, 10000)]
    assert widths == sorted(widths, reverse=True)


def test_empty_cohort_is_uninformative_not_an_error():
    assert math.isnan(wilson(0, 0).estimate)
    assert (wilson(0, 0).low, wilson(0, 0).high) == (0.0, 1.0)
    assert not newcombe_diff(0, 0, 5, 10).excludes_zero()


def test_impossible_counts_are_rejected_with_the_arguments_named():
    with pytest.raises(ValueError, match="successes"):
        wilson(5, 3)
    with pytest.raises(ValueError, match="confidence"):
        z_value(1.0)


def test_z_value_is_the_two_sided_normal_quantile():
    assert z_value(0.95) == pytest.approx(1.959964, abs=1e-6)
    assert z_value(0.99) == pytest.approx(2.575829, abs=1e-6)


@pytest.mark.parametrize(("x", "df", "p"), [
    (3.841459, 1, 0.05), (10.827566, 1, 0.001), (5.991465, 2, 0.05),
    (18.307038, 10, 0.05), (0.454936, 1, 0.5), (0.0, 3, 1.0),
])
def test_chi_square_tail_matches_tables(x, df, p):
    assert chi_square_sf(x, df) == pytest.approx(p, rel=1e-5)


def test_srm_passes_a_split_at_the_configured_share():
    r = srm_check(n_present=9000, n_held_out=1000, held_out_share=0.10)
    assert r.chi2 == pytest.approx(0.0)
    assert not r.mismatch


def test_srm_flags_a_held_out_cohort_that_lost_a_fifth_of_its_sessions():
    # 9000 vs 800 at share 0.10: chi2 = 39.2, p ~ 4e-10.
    r = srm_check(n_present=9000, n_held_out=800, held_out_share=0.10)
    assert r.chi2 == pytest.approx((800 - 980) ** 2 / 980 + (9000 - 8820) ** 2 / 8820)
    assert r.mismatch
    assert r.p_value < 1e-6


def test_srm_does_not_flag_ordinary_sampling_noise():
    # 1.5 standard deviations off: p ~ 0.13.
    sd = math.sqrt(10000 * 0.1 * 0.9)
    r = srm_check(n_present=10000 - 1000 - int(1.5 * sd), n_held_out=1000 + int(1.5 * sd),
                  held_out_share=0.10)
    assert not r.mismatch
    assert 0.05 < r.p_value < 0.3


def test_minimum_sample_rule_needs_every_cohort_at_thirty():
    assert has_minimum_sample(30, 30)
    assert not has_minimum_sample(1000, 29)
    assert has_minimum_sample(5, 5, minimum=5)


def test_sessions_needed_matches_the_textbook_formula():
    # Two-proportion z test, 0.5 vs 0.6, equal split: 385-388 per arm in most tables.
    per_arm = sessions_needed(0.1, 0.5, 0.5) / 2
    assert 380 <= per_arm <= 390
    # A 10 % holdout costs about 2.8x the sessions of a 50/50 split.
    assert sessions_needed(0.1, 0.5, 0.1) / sessions_needed(0.1, 0.5, 0.5) == pytest.approx(2.78, abs=0.1)


def test_design_effect_is_one_for_identical_agents_and_cluster_size_for_perfect_clustering():
    from hivemind_kafka.analytics.stats import design_effect

    assert design_effect([(5, 10)] * 40) == pytest.approx(1.0)
    # Half the agents always succeed, half never: every agent's 10 sessions count as one.
    assert design_effect([(10, 10)] * 20 + [(0, 10)] * 20) == pytest.approx(10.0)
    assert design_effect([(3, 7)]) == 1.0


def test_effective_counts_shrink_the_sample_and_widen_the_interval():
    from hivemind_kafka.analytics.stats import effective_counts

    s, n = effective_counts(300, 600, 2.0)
    assert (s, n) == (150.0, 300.0)
    narrow, wide = wilson(300, 600), wilson(s, n)
    assert wide.estimate == narrow.estimate
    assert wide.high - wide.low > narrow.high - narrow.low
    with pytest.raises(ValueError, match="design effect"):
        effective_counts(1, 2, 0.5)
