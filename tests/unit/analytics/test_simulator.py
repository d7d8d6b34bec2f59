"""The hostile fleet simulator: its fast tables equal the row builders' ones, and the
hostile features it claims are really in its data."""

from __future__ import annotations

import numpy as np
import pyarrow.compute as pc
import pytest

from hivemind_kafka.analytics.simulator import HARMFUL, HELPFUL, KINDS, NULL, FleetConfig, simulate
from hivemind_kafka.schemas.holdout import HoldoutDesign, period_index

SMALL = FleetConfig(workspaces=6, sessions=4000, seed=5)


@pytest.fixture(scope="module")
def fleet():
    return simulate(FleetConfig(workspaces=12, sessions=30_000, seed=8))


def test_the_fast_tables_equal_the_contracts_and_row_builders_tables():
    fast = simulate(SMALL, builder="arrow")
    slow = simulate(SMALL, builder="contracts")
    keys = {"sessions": "session_uid", "outcomes": "outcome_id", "exposures": "exposure_id"}
    for name, key in keys.items():
        a, b = getattr(fast, name), getattr(slow, name)
        assert a.schema.equals(b.schema), name
        assert a.sort_by(key).equals(b.sort_by(key)), name
    assert fast.skills.equals(slow.skills)
    assert fast.truth.equals(slow.truth)
    with pytest.raises(ValueError, match="builder"):
        simulate(SMALL, builder="pandas")


def test_fleets_are_the_sizes_of_their_kind(fleet):
    for info in fleet.workspaces:
        lo, hi = KINDS[info.kind][:2]
        assert lo <= info.agents <= hi
    assert {w.kind for w in fleet.workspaces} == set(KINDS)


def test_outcomes_are_missing_late_and_sometimes_delivered_twice(fleet):
    sessions = fleet.sessions.num_rows
    ids = fleet.outcomes.column("outcome_id")
    distinct = len(pc.unique(ids))
    assert 0.12 <= 1 - distinct / sessions <= 0.33  # 15-30 % per workspace, varying by agent
    assert 0.005 < (ids.length() - distinct) / distinct < 0.05
    started = dict(zip(fleet.sessions.column("session_id").to_pylist(),
                       fleet.sessions.column("started_at").to_pylist(), strict=True))
    delays = [(ts - started[sid]).total_seconds() / 86_400
              for sid, ts in zip(fleet.outcomes.column("session_id").to_pylist(),
                                 fleet.outcomes.column("ts").to_pylist(), strict=True)]
    late = np.mean(np.array(delays) > 1.0)
    assert 0.2 < late < 0.4


def test_activity_is_heavy_tailed_and_agents_come_and_go(fleet):
    agents = fleet.sessions.column("agent_id").to_numpy(zero_copy_only=False)
    _, counts = np.unique(agents, return_counts=True)
    top = np.sort(counts)[::-1][: max(1, counts.size // 10)]
    assert top.sum() / counts.sum() > 0.35
    days = fleet.sessions.column("started_at").cast("int64").to_numpy() // 86_400_000_000
    first = {}
    for agent, day in zip(agents, days, strict=True):
        first.setdefault(agent, day)
    assert len(set(first.values())) > 10  # agents start on many different days


def test_skills_are_staggered_versioned_several_in_scope_and_classed(fleet):
    published = fleet.skills.column("published_at").cast("int64").to_numpy()
    assert (published.max() - published.min()) / 86_400e6 > 30
    assert max(v for _, _, v in fleet.classes) >= 2
    per_session = fleet.truth.group_by("session_id").aggregate([("tau", "count")])
    assert np.mean(per_session.column("tau_count").to_numpy()) >= 2
    tau = fleet.truth.column("tau").to_numpy()
    klass = np.array([fleet.classes[k] for k in zip(
        fleet.truth.column("workspace_id").to_pylist(), fleet.truth.column("skill_name").to_pylist(),
        fleet.truth.column("version").to_pylist(), strict=True)])
    assert np.all(tau[klass == NULL] == 0)
    assert np.all(tau[klass == HELPFUL] > 0) and np.all(tau[klass == HARMFUL] < 0)
    assert np.ptp(tau[klass == HELPFUL]) > 0.05  # effects vary by workspace and agent


def test_recorded_cohorts_are_the_real_switchback_except_stale_and_legacy_machines(fleet):
    design = HoldoutDesign()
    ex = fleet.exposures.take(np.arange(0, fleet.exposures.num_rows, 7))  # a sample
    agree = [design.is_held_out(name, agent, ts) == (cohort == "held_out")
             for name, agent, ts, cohort in zip(
                 ex.column("skill_name").to_pylist(), ex.column("agent_id").to_pylist(),
                 ex.column("ts").to_pylist(), ex.column("cohort").to_pylist(), strict=True)]
    assert 0.95 < np.mean(agree) < 1.0  # stale machines record their previous period
    recorded = set(fleet.exposures.column("session_id").to_pylist())
    legacy = fleet.sessions.num_rows - len(recorded)
    assert 0 < legacy < 0.15 * fleet.sessions.num_rows  # old clients record nothing
    held = np.mean([c == "held_out" for c in ex.column("cohort").to_pylist()])
    assert abs(held - design.share) < 0.03
    periods = {period_index(ts) for ts in ex.column("ts").to_pylist()}
    assert len(periods) > 40  # the 56-day run
