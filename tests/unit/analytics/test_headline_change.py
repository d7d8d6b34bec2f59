"""First period against the last: honest about noise. A difference whose interval covers
0 is "no detectable change", whatever its sign."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from hivemind_kafka.analytics.headline import ChangeVerdict, change_between, newcombe_difference
from hivemind_kafka.analytics.stats import wilson

W1 = datetime(2026, 11, 9, tzinfo=UTC)
W4 = W1 + timedelta(weeks=3)


def change(a_s: int, a_n: int, b_s: int, b_n: int):
    return change_between("acme", "success", W1, wilson(a_s, a_n), a_n, W4, wilson(b_s, b_n), b_n)


def test_flat_rates_are_no_detectable_change():
    c = change(60, 100, 60, 100)
    assert c.verdict == ChangeVerdict.NO_DETECTABLE_CHANGE
    assert c.difference.estimate == 0 and c.difference.low < 0 < c.difference.high


def test_a_small_rise_on_small_samples_is_not_called_an_improvement():
    c = change(12, 20, 15, 20)  # +15pp on 20 sessions each
    assert c.difference.estimate > 0
    assert c.verdict == ChangeVerdict.NO_DETECTABLE_CHANGE


def test_a_large_rise_on_large_samples_is_improved_and_a_fall_is_worse():
    assert change(500, 1000, 700, 1000).verdict == ChangeVerdict.IMPROVED
    assert change(700, 1000, 500, 1000).verdict == ChangeVerdict.WORSE


def test_an_empty_period_is_insufficient_data():
    assert change(0, 0, 10, 20).verdict == ChangeVerdict.INSUFFICIENT_DATA
    assert change(10, 20, 0, 0).verdict == ChangeVerdict.INSUFFICIENT_DATA


def test_newcombe_stays_inside_minus_one_to_one_at_the_extremes():
    d = newcombe_difference(wilson(0, 50), wilson(50, 50))
    assert d.estimate == 1.0 and -1.0 <= d.low < 1.0 and d.high == 1.0
    d = newcombe_difference(wilson(50, 50), wilson(0, 50))
    assert d.estimate == -1.0 and d.low == -1.0 and d.high < 0


def test_newcombe_matches_the_published_example():
    # Newcombe (1998), Table II example (e): 56/70 vs 48/80 -> 0.2 [0.0524, 0.3339]
    d = newcombe_difference(wilson(48, 80), wilson(56, 70))
    assert math.isclose(d.estimate, 0.2, abs_tol=1e-9)
    assert math.isclose(d.low, 0.0524, abs_tol=5e-4)
    assert math.isclose(d.high, 0.3339, abs_tol=5e-4)


def test_unknown_rates_give_the_uninformative_interval():
    d = newcombe_difference(wilson(0, 0), wilson(5, 10))
    assert math.isnan(d.estimate) and (d.low, d.high) == (-1.0, 1.0)
