"""`hivemind demo` end to end on the real broker, small: skills are learned from the
fleet's corrections, reach the agents through the skills topic with the switchback
holdout, the treated agents get better (in the simulator's truth and in the report's
estimate), the planted harmful skill is retired and leaves the agents' scope, and a run
whose agents never receive a skill shows no change."""

from __future__ import annotations

import json
import math

import pytest
from deltalake import DeltaTable

from hivemind_kafka.analytics.attribution import Verdict
from hivemind_kafka.analytics.headline import ChangeVerdict
from hivemind_kafka.cli.demo import run_demo
from hivemind_kafka.producers.sdk.simulated_fleet import WeeksPlan

pytestmark = pytest.mark.integration

WEEKS, SESSIONS = 4, 720


def lake_rows(settings, name: str) -> list[dict]:
    return DeltaTable(settings.lake.table_uri(name)).to_pyarrow_table().to_pylist()


def harmful_lessons(plan: WeeksPlan) -> set[str]:
    return {k for k, p in plan.plants.items() if p.success_shift < 0}


def test_fleet_learns_receives_improves_and_the_harmful_skill_is_retired(settings, tmp_path):
    plan = WeeksPlan(weeks=WEEKS, sessions_per_week=SESSIONS, seed=7)
    result = run_demo(settings, plan, root=tmp_path / "demo", lake=str(tmp_path / "lake"))
    s, sim, report = result.settings, result.sim, result.report
    assert result.counts.get("complete"), result.counts
    assert report is not None

    # Skills were learned from the human corrections: every workspace with a correction
    # signal has some, the one without has none, and each names its source sessions.
    skills = [r for r in lake_rows(s, "skills") if not r["retired"]]
    learned = {r["workspace_id"] for r in skills}
    signal = {ws for ws, _, has_signal in plan.workspaces if has_signal}
    assert learned == signal
    replayed = set(sim.session_ids)
    for row in skills:
        sources = json.loads(row["provenance"])["source_session_ids"]
        assert sources and set(sources) <= replayed

    # The agents synced them and recorded both cohorts of the switchback.
    assert sim.syncs > 0
    assert all(sim.received[ws] > 0 for ws in signal)
    cohorts = {r["cohort"] for r in lake_rows(s, "exposures")}
    assert {"present", "held_out"} <= cohorts

    # Helpful skills: better in the simulated truth, and the estimates point that way
    # (versions that lived long enough to have 30 sessions in each cohort; the codifier's
    # batching decides how many short-lived versions there are).
    truth = sim.true_effects()
    helpful = []
    for e in report.effects:
        lessons = sim.skill_lessons.get((e.workspace_id, e.skill_name), frozenset())
        true, n_present, n_held = truth.get((e.workspace_id, e.skill_name, e.version),
                                            (math.nan, 0, 0))
        if lessons and not lessons & harmful_lessons(plan) and min(n_present, n_held) >= 30 \
                and not math.isnan(e.effect.estimate):
            helpful.append((true, e.effect.estimate))
    assert len(helpful) >= 3
    assert all(true > 0 for true, _ in helpful)
    assert sum(est for _, est in helpful) / len(helpful) > 0
    assert sum(est > 0 for _, est in helpful) > len(helpful) / 2

    # The harmful skill: retired by the measure job, tombstoned, gone from the agents'
    # next read, and no helpful skill was retired.
    assert result.retired
    for ws, name, _ in result.retired:
        assert sim.skill_lessons[(ws, name)] & harmful_lessons(plan)
        assert name not in result.live_after[ws]
    tombstones = {(r["workspace_id"], r["name"]) for r in lake_rows(s, "skills") if r["retired"]}
    assert {(ws, name) for ws, name, _ in result.retired} <= tombstones
    assert not any(e.verdict == Verdict.HARMFUL and e.retired_at is None
                   and not sim.skill_lessons.get((e.workspace_id, e.skill_name), frozenset())
                   & harmful_lessons(plan) for e in report.effects)


def test_agents_that_never_receive_a_skill_show_no_detectable_change(settings, tmp_path):
    plan = WeeksPlan(weeks=WEEKS, sessions_per_week=SESSIONS, seed=7, skills=False)
    result = run_demo(settings, plan, root=tmp_path / "demo", lake=str(tmp_path / "lake"))
    sim, report = result.sim, result.report
    assert result.counts.get("complete"), result.counts
    assert report is not None
    assert sim.received.total() == 0 and not sim.exposures
    # Skills were still published (the codifier ran), but nobody had one.
    assert any(not r["retired"] for r in lake_rows(result.settings, "skills"))
    fleet = next(c for c in report.changes if c.workspace_id == "all" and c.metric == "success")
    assert fleet.verdict == ChangeVerdict.NO_DETECTABLE_CHANGE, fleet
    assert fleet.difference.low < 0 < fleet.difference.high
    assert not result.retired
