"""The holdout the sync applies and the report measures: stable, balanced, independent."""

from __future__ import annotations

import hashlib
import math

import pytest

from analytics.stats import srm_check
from schemas.holdout import holdout_bucket, is_held_out

AGENTS = [f"agent-{i}" for i in range(20_000)]


def test_assignment_follows_the_documented_formula():
    # Any change to the hash reshuffles the cohorts of every running experiment.
    for agent in AGENTS[:50]:
        digest = hashlib.sha256(f"fix-flaky-tests\x00{agent}".encode()).hexdigest()
        assert holdout_bucket("fix-flaky-tests", agent) == int(digest[:8], 16) / 2**32
    assert [is_held_out("fix-flaky-tests", a) for a in AGENTS[:200]] == \
        [holdout_bucket("fix-flaky-tests", a) < 0.10 for a in AGENTS[:200]]


@pytest.mark.parametrize("share", [0.05, 0.10, 0.25, 0.5])
def test_held_out_share_matches_the_configured_share(share):
    held = sum(is_held_out("use-ripgrep", a, share) for a in AGENTS)
    sd = math.sqrt(len(AGENTS) * share * (1 - share))
    assert abs(held - len(AGENTS) * share) < 4 * sd
    assert not srm_check(len(AGENTS) - held, held, share).mismatch


def test_cohorts_of_different_skills_are_independent():
    a = [is_held_out("skill-a", x) for x in AGENTS]
    b = [is_held_out("skill-b", x) for x in AGENTS]
    both = sum(x and y for x, y in zip(a, b, strict=True))
    expected = len(AGENTS) * 0.01
    assert abs(both - expected) < 4 * math.sqrt(expected)
    assert a != b


def test_a_larger_share_only_adds_agents_to_the_holdout():
    small = {x for x in AGENTS if is_held_out("skill-a", x, 0.05)}
    large = {x for x in AGENTS if is_held_out("skill-a", x, 0.10)}
    assert small < large


def test_share_outside_the_unit_interval_is_rejected():
    with pytest.raises(ValueError, match="share"):
        is_held_out("skill-a", "agent", 1.0)
