"""The attribution scored on the hostile fleet simulator, replaying the measure job's looks.

A 12-workspace fleet of 80k sessions (a smaller cousin of ``make eval``'s 40 workspaces):
the error targets hold with daily looks and with looks every six hours, power exists,
planted carry-over shrinks the estimates toward zero without retiring what is not
harmful, and the report read back from a Delta lake gives the replay's verdicts.
"""

from __future__ import annotations

import math

import pytest

from hivemind_kafka.analytics.eval import BUCKETS, _bucket_name, evaluate
from hivemind_kafka.analytics.simulator import FleetConfig

FLEET = FleetConfig(workspaces=12, sessions=80_000, seed=4)


@pytest.fixture(scope="module")
def figures() -> dict[str, float]:
    return evaluate(FLEET)


def _wrong_share_ok(f: dict[str, float]) -> bool:
    return math.isnan(f["wrong_retirement_share"]) or f["wrong_retirement_share"] <= 0.10


def test_non_harmful_skills_are_almost_never_retired_with_daily_looks(figures):
    assert figures["looks"] == FLEET.days
    assert figures["non_harmful_retired"] <= 0.02
    assert _wrong_share_ok(figures)
    assert figures["effective_but_not_helpful"] <= 0.10 or math.isnan(
        figures["effective_but_not_helpful"])


def test_intervals_cover_the_true_effect_in_every_held_out_bucket(figures):
    assert figures["coverage"] >= 0.93
    for bounds in BUCKETS:
        name = _bucket_name(bounds)
        if figures[f"n_held_{name}"] >= 10:
            assert figures[f"coverage_held_{name}"] >= 0.93, name


def test_helpful_and_harmful_skills_are_found(figures):
    assert figures["helpful_found"] > 0.1
    assert figures["harmful_retired"] > 0.1


def test_looking_four_times_a_day_does_not_retire_more_of_what_is_not_harmful():
    frequent = evaluate(FLEET, look_every_s=6 * 3600)
    assert frequent["looks"] == 4 * FLEET.days
    assert frequent["non_harmful_retired"] <= 0.02
    assert _wrong_share_ok(frequent)


def test_carry_over_shrinks_estimates_toward_zero_but_retires_nothing_that_is_not_harmful():
    none = evaluate(FleetConfig(workspaces=4, sessions=80_000, seed=6, carryover=0.0))
    strong = evaluate(FleetConfig(workspaces=4, sessions=80_000, seed=6, carryover=0.6))
    assert none["estimate_over_truth"] == pytest.approx(1.0, abs=0.15)
    assert strong["estimate_over_truth"] < none["estimate_over_truth"] - 0.2
    assert strong["non_harmful_retired"] == 0.0
    assert strong["harmful_retired"] <= none["harmful_retired"] + 0.1


def test_the_report_over_the_lake_gives_the_replayed_verdicts(tmp_path):
    # Through the Delta lake and back; the retirements' tombstones close their windows.
    small = evaluate(FleetConfig(workspaces=3, sessions=30_000, seed=2), lake=tmp_path)
    assert small["harmful_retired"] > 0
    assert small["lake_report_agrees"] == 1.0
