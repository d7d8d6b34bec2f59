"""The switchback holdout the sync applies and the report measures: documented, balanced,
re-drawn every period, independent across skills and periods."""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, datetime, timedelta

import pytest

from hivemind_kafka.analytics.stats import srm_check
from hivemind_kafka.runtime.errors import SettingsInvalid
from hivemind_kafka.runtime.settings import Settings
from hivemind_kafka.schemas.holdout import (
    HoldoutDesign,
    holdout_bucket,
    is_held_out,
    period_index,
)

AGENTS = [f"agent-{i}" for i in range(20_000)]
NOON = datetime(2026, 10, 7, 12, tzinfo=UTC)


def test_assignment_follows_the_documented_formula():
    # Any change to the hash reshuffles the cohorts of every running experiment.
    day = int(NOON.timestamp()) // 86_400
    for agent in AGENTS[:50]:
        digest = hashlib.sha256(f"fix-flaky-tests\x00{agent}\x00{day}".encode()).hexdigest()
        assert holdout_bucket("fix-flaky-tests", agent, day) == int(digest[:8], 16) / 2**32
        assert is_held_out("fix-flaky-tests", agent, 0.3, at=NOON) == \
            (int(digest[:8], 16) / 2**32 < 0.3)


def test_periods_are_utc_days_by_default_and_need_aware_times():
    midnight = datetime(2026, 10, 7, tzinfo=UTC)
    assert period_index(midnight) == period_index(midnight + timedelta(hours=23, minutes=59))
    assert period_index(midnight) + 1 == period_index(midnight + timedelta(days=1))
    assert period_index(midnight - timedelta(microseconds=1)) == period_index(midnight) - 1
    with pytest.raises(ValueError, match="aware"):
        period_index(datetime(2026, 10, 7))
    design = HoldoutDesign(share=0.5, period_s=6 * 3600)
    assert design.period_of(midnight + timedelta(hours=6)) == design.period_of(midnight) + 1
    assert design.period_start(design.period_of(NOON)) == midnight + timedelta(hours=12)


@pytest.mark.parametrize("share", [0.1, 0.25, 0.5])
def test_held_out_share_of_agents_in_a_period_matches_the_design(share):
    held = sum(is_held_out("use-ripgrep", a, share, at=NOON) for a in AGENTS)
    sd = math.sqrt(len(AGENTS) * share * (1 - share))
    assert abs(held - len(AGENTS) * share) < 4 * sd
    assert not srm_check(len(AGENTS) - held, held, share).mismatch


def test_every_agent_is_re_drawn_each_period_independently():
    design = HoldoutDesign(share=0.5)
    days = [NOON + timedelta(days=d) for d in range(200)]
    per_agent = [[design.is_held_out("use-ripgrep", a, t) for t in days] for a in AGENTS[:50]]
    # Each agent spends about half its days held out (not all or none, as per-agent would).
    assert all(60 <= sum(row) <= 140 for row in per_agent)
    # Consecutive days agree about half the time (independent draws), not always.
    same = sum(r[i] == r[i + 1] for r in per_agent for i in range(len(days) - 1))
    total = len(per_agent) * (len(days) - 1)
    assert abs(same / total - 0.5) < 4 * math.sqrt(0.25 / total)


def test_cohorts_of_different_skills_are_independent():
    a = [is_held_out("skill-a", x, 0.1, at=NOON) for x in AGENTS]
    b = [is_held_out("skill-b", x, 0.1, at=NOON) for x in AGENTS]
    both = sum(x and y for x, y in zip(a, b, strict=True))
    expected = len(AGENTS) * 0.01
    assert abs(both - expected) < 4 * math.sqrt(expected)
    assert a != b


def test_a_larger_share_only_adds_agent_periods_to_the_holdout():
    small = {x for x in AGENTS if is_held_out("skill-a", x, 0.25, at=NOON)}
    large = {x for x in AGENTS if is_held_out("skill-a", x, 0.5, at=NOON)}
    assert small < large


def test_one_period_assignment_is_what_the_design_says_at_any_time_inside_it():
    design = HoldoutDesign(share=0.5)
    period = design.at(NOON)
    later = NOON + timedelta(hours=11)  # same UTC day
    for agent in AGENTS[:200]:
        assert period.held_out("skill-a", agent) == design.is_held_out("skill-a", agent, later)


@pytest.mark.parametrize("share", [-0.1, 1.0, float("nan")])
def test_share_outside_the_unit_interval_is_rejected_naming_the_setting(share):
    with pytest.raises(ValueError, match="HIVEMIND_MEASURE_HOLDOUT_SHARE"):
        HoldoutDesign(share=share)
    with pytest.raises(ValueError, match="share"):
        is_held_out("skill-a", "agent", share, at=NOON)


def test_a_period_shorter_than_a_minute_is_rejected():
    with pytest.raises(ValueError, match="HIVEMIND_MEASURE_PERIOD_S"):
        HoldoutDesign(period_s=10)


def test_settings_give_each_workspace_its_design():
    settings = Settings.from_env({"HIVEMIND_MEASURE_HOLDOUT_SHARE": "0.4",
                                  "HIVEMIND_MEASURE_HOLDOUT_SHARES": "big=0.1, tiny=0.5",
                                  "HIVEMIND_MEASURE_PERIOD_S": "43200"})
    assert settings.measure.holdout_design("big") == HoldoutDesign(share=0.1, period_s=43200)
    assert settings.measure.holdout_design("other") == HoldoutDesign(share=0.4, period_s=43200)
    assert settings.measure.share_overrides() == {"big": 0.1, "tiny": 0.5}


@pytest.mark.parametrize(("var", "value"), [
    ("HIVEMIND_MEASURE_HOLDOUT_SHARES", "big=1.5"),
    ("HIVEMIND_MEASURE_HOLDOUT_SHARES", "big"),
    ("HIVEMIND_MEASURE_HOLDOUT_SHARE", "0"),
    ("HIVEMIND_MEASURE_MIN_CLUSTERS", "1"),
    ("HIVEMIND_MEASURE_FDR", "1.2"),
])
def test_bad_measure_settings_name_the_variable_and_the_fix(var, value):
    with pytest.raises(SettingsInvalid, match=var):
        Settings.from_env({var: value})
