"""Recorded cohorts: a session's exposure rows with a cohort are its assignment; a
recorded cohort the switchback hash contradicts is counted as a mismatch, never
re-labelled; a session that recorded a scope without the skill (a user's file stood in
its place, or another version) is in neither cohort; sessions that recorded nothing
fall back to the hash, and the report says which is which."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa

from hivemind_kafka.analytics.attribution import (
    SessionResult,
    SkillWindow,
    cohort_series,
    recorded_cohorts,
    skill_effects,
)
from hivemind_kafka.analytics.lake import MeasureTables
from hivemind_kafka.analytics.report import build_report, render_html, render_text
from hivemind_kafka.schemas.holdout import HoldoutDesign
from hivemind_kafka.schemas.outcomes import OutcomeResult

T0 = datetime(2026, 10, 5, 12, tzinfo=UTC)
SKILL = "sk"
DESIGN = HoldoutDesign(share=0.5)
WINDOW = SkillWindow("ws", SKILL, 2, T0 - timedelta(days=1))
PRESENT = next(f"a{i}" for i in range(1000) if not DESIGN.is_held_out(SKILL, f"a{i}", T0))
HELD = next(f"a{i}" for i in range(1000) if DESIGN.is_held_out(SKILL, f"a{i}", T0))

# s1 recorded present (agrees), s2 recorded held_out by an agent the hash puts in present
# (mismatch), s3 nothing recorded (hash: held out), s4 recorded a scope with another skill
# only (neither cohort), s5 recorded this skill present at an older version (neither).
SESSIONS = [("s1", PRESENT, "success"), ("s2", PRESENT, "failure"),
            ("s3", HELD, "failure"), ("s4", PRESENT, "success"), ("s5", PRESENT, "success")]
EXPOSURES = [("s1", PRESENT, SKILL, "present", 2, False), ("s2", PRESENT, SKILL, "held_out", 2, False),
             ("s4", PRESENT, "other", "present", 1, False), ("s1", PRESENT, SKILL, None, None, True),
             ("s5", PRESENT, SKILL, "present", 1, False)]


def _exposures() -> pa.Table:
    return pa.table({
        "workspace_id": ["ws"] * len(EXPOSURES), "session_id": [e[0] for e in EXPOSURES],
        "agent_id": [e[1] for e in EXPOSURES], "skill_name": [e[2] for e in EXPOSURES],
        "cohort": pa.array([e[3] for e in EXPOSURES], pa.string()),
        "skill_version": pa.array([e[4] for e in EXPOSURES], pa.int64()),
        "invoked": [e[5] for e in EXPOSURES]})


def _results() -> list[SessionResult]:
    return [SessionResult("ws", sid, agent, T0, OutcomeResult(res)) for sid, agent, res in SESSIONS]


def test_recorded_cohorts_ignore_invoked_rows_without_a_cohort():
    assert recorded_cohorts(_exposures()) == {
        ("ws", "s1"): {SKILL: "present"}, ("ws", "s2"): {SKILL: "held_out"},
        ("ws", "s4"): {"other": "present"}, ("ws", "s5"): {SKILL: "present"}}
    assert recorded_cohorts(None) == {}


def _tables(exposures: pa.Table | None) -> MeasureTables:
    sessions = pa.table({"workspace_id": ["ws"] * len(SESSIONS),
                         "session_id": [s[0] for s in SESSIONS],
                         "agent_id": [s[1] for s in SESSIONS],
                         "started_at": pa.array([T0] * len(SESSIONS), pa.timestamp("us", tz="UTC"))})
    outcomes = pa.table({"outcome_id": [f"o-{s[0]}" for s in SESSIONS],
                         "workspace_id": ["ws"] * len(SESSIONS),
                         "session_id": [s[0] for s in SESSIONS],
                         "label": [s[2] for s in SESSIONS], "result": [s[2] for s in SESSIONS],
                         "source": ["signal"] * len(SESSIONS),
                         "ts": pa.array([T0 + timedelta(hours=1)] * len(SESSIONS),
                                        pa.timestamp("us", tz="UTC"))})
    skills = pa.table({"workspace_id": ["ws"], "name": [SKILL], "version": [2],
                       "retired": [False],
                       "published_at": pa.array([WINDOW.published_at], pa.timestamp("us", tz="UTC"))})
    return MeasureTables(sessions, outcomes, skills, exposures)


def test_recorded_cohort_is_the_assignment_and_a_contradiction_is_counted_not_relabelled():
    report = build_report(_tables(_exposures()), design=DESIGN, now=T0)
    (effect,) = report.effects
    assert (effect.present.sessions, effect.present.successes) == (1, 1)  # s1
    assert (effect.held_out.sessions, effect.held_out.successes) == (2, 0)  # s2, s3
    assert effect.excluded_sessions == 2  # s4, s5
    assert (effect.recorded_sessions, effect.hash_sessions, effect.assignment_mismatches) == (
        2, 1, 1)


def test_without_recorded_cohorts_every_session_is_assigned_by_the_hash():
    (effect,) = skill_effects(_results(), [WINDOW], design=DESIGN)
    assert (effect.present.sessions, effect.held_out.sessions) == (4, 1)
    assert (effect.recorded_sessions, effect.hash_sessions, effect.assignment_mismatches) == (
        0, 5, 0)


def test_cohort_series_follows_the_recorded_assignment():
    points = cohort_series(_results(), WINDOW, design=DESIGN,
                           recorded=recorded_cohorts(_exposures()))
    # s5's recorded scope holds this skill (older version): the descriptive series keeps
    # it; s4's scope does not hold the skill: left out.
    assert {p.group: p.known for p in points} == {f"{SKILL}/present": 2, f"{SKILL}/held_out": 2}


def test_report_shows_where_cohorts_came_from_and_lists_mismatches():
    report = build_report(_tables(_exposures()), design=DESIGN, now=T0)
    assert (report.recorded_assignments, report.hash_assignments) == (2, 1)
    assert report.assignment_mismatches == {f"ws/{SKILL}": 1}
    text = render_text(report)
    assert ("cohorts: 2 session-skill pairs from recorded exposures (1 contradict the "
            "switchback hash), 1 from the switchback hash") in text
    assert f"ws/{SKILL}: 1 sessions" in text
    assert "Assignment mismatches" in render_html(report)


def test_report_says_when_cohorts_come_from_the_hash_alone():
    report = build_report(_tables(None), design=DESIGN, now=T0)
    assert report.recorded_assignments == 0 and not report.assignment_mismatches
    assert "cohorts: assigned from the switchback hash (no exposure" in render_text(report)
    assert "Assignment mismatches" not in render_text(report)
