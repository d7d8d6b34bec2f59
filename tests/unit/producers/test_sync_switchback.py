"""The edge applies the switchback: a held-out period removes the agent's skill file and
records ``held_out``, the next present period restores it and records ``present``; the
SDK draws the same cohorts the report expects."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hivemind_kafka.producers.sdk import Fleet
from hivemind_kafka.producers.sync.skill_files import (
    SKILL_FILE,
    SyncState,
    apply_skills,
    skill_status,
)
from hivemind_kafka.producers.sync.skill_sync import skills_in_scope
from hivemind_kafka.schemas.holdout import HoldoutDesign
from tests.conftest import make_settings
from tests.unit.producers.test_sdk_scope import RecordingProducer
from tests.unit.producers.test_sync_files import WS, make_skill

DESIGN = HoldoutDesign(share=0.5)
DAY0 = datetime(2026, 11, 26, 9, tzinfo=UTC)
AGENT = "agent-7"


def _days(held: bool) -> list[datetime]:
    """Days (from DAY0 on) on which AGENT is held out of run-tests (or present)."""
    days = [DAY0 + timedelta(days=d) for d in range(60)]
    return [d for d in days if DESIGN.is_held_out("run-tests", AGENT, d) == held]


def test_a_held_out_period_removes_the_file_and_a_present_one_restores_it(tmp_path):
    state = SyncState(tmp_path / "state.json")
    skills_dir = tmp_path / "skills"
    path = skills_dir / "run-tests" / SKILL_FILE
    present, held = _days(False), _days(True)
    sequence = sorted([present[0], held[0], held[0] + timedelta(hours=3),
                       next(d for d in present if d > held[0])])
    seen = []
    for when in sequence:
        period = DESIGN.at(when)
        apply_skills({"run-tests": make_skill()}, skills_dir, state, workspace_id=WS,
                     agent_id=AGENT, complete=True, holdout=period, version="9.9.9")
        status = skill_status("run-tests", 1, skills_dir, state, agent_id=AGENT, holdout=period)
        seen.append((DESIGN.is_held_out("run-tests", AGENT, when), path.exists(), status))
    assert seen == [(h, not h, "held_out" if h else "present")
                    for h in (DESIGN.is_held_out("run-tests", AGENT, w) for w in sequence)]
    assert {s[0] for s in seen} == {True, False}  # both kinds of period were exercised


def test_the_scope_file_records_the_cohort_of_the_period_it_was_synced_in(tmp_path):
    state = SyncState(tmp_path / "state.json")
    skills_dir = tmp_path / "skills"
    for held in (False, True):
        period = DESIGN.at(_days(held)[0])
        apply_skills({"run-tests": make_skill()}, skills_dir, state, workspace_id=WS,
                     agent_id=AGENT, complete=True, holdout=period, version="9.9.9")
        scope = skills_in_scope({"run-tests": 1}, skills_dir, state, agent_id=AGENT,
                                holdout=period)
        assert scope == [{"name": "run-tests", "version": 1,
                          "cohort": "held_out" if held else "present"}]


def test_the_sdk_draws_the_cohorts_of_its_workspace_design(tmp_path):
    settings = make_settings("127.0.0.1:1", tmp_path).replace(
        measure={"holdout_share": 0.5, "holdout_shares": "ws-small=0.9"})
    for workspace, share in (("ws-a", 0.5), ("ws-small", 0.9)):
        fleet = Fleet(settings, workspace_id=workspace, agent_id=AGENT,
                      producer=RecordingProducer())
        try:
            design = HoldoutDesign(share=share)
            for day in range(20):
                when = DAY0 + timedelta(days=day)
                got = fleet.assign_skills([("run-tests", 3), ("use-rg", None)], at=when)
                assert got == [(name, version,
                                "held_out" if design.is_held_out(name, AGENT, when) else "present")
                               for name, version in (("run-tests", 3), ("use-rg", None))]
        finally:
            fleet.close()
