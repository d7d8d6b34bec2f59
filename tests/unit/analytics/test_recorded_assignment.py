"""Recorded cohorts: a session's exposure rows with a cohort are its assignment; a
recorded cohort the holdout hash contradicts is counted as a mismatch, never re-labelled;
sessions with nothing recorded fall back to the hash, and the report says which is which."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa

from analytics.attribution import (
    SessionResult,
    SkillWindow,
    cohort_series,
    recorded_cohorts,
    skill_effects,
)
from analytics.lake import MeasureTables
from analytics.report import build_report, render_html, render_text
from schemas.holdout import is_held_out
from schemas.outcomes import OutcomeResult

T0 = datetime(2026, 10, 5, 12, tzinfo=UTC)
SKILL = "sk"
WINDOW = SkillWindow("ws", SKILL, 2, T0 - timedelta(days=1))
PRESENT = next(f"a{i}" for i in range(1000) if not is_held_out(SKILL, f"a{i}"))
HELD = next(f"a{i}" for i in range(1000) if is_held_out(SKILL, f"a{i}"))

# s1 recorded present (agrees), s2 recorded held_out by an agent the hash puts in present
# (mismatch), s3 nothing recorded (hash: held out), s4 recorded for another skill only.
SESSIONS = [("s1", PRESENT, "success"), ("s2", PRESENT, "failure"),
            ("s3", HELD, "failure"), ("s4", PRESENT, "success")]
EXPOSURES = [("s1", PRESENT, SKILL, "present", False), ("s2", PRESENT, SKILL, "held_out", False),
             ("s4", PRESENT, "other", "present", False), ("s1", PRESENT, SKILL, None, True)]


def _exposures() -> pa.Table:
    return pa.table({
        "workspace_id": ["ws"] * len(EXPOSURES), "session_id": [e[0] for e in EXPOSURES],
        "agent_id": [e[1] for e in EXPOSURES], "skill_name": [e[2] for e in EXPOSURES],
        "cohort": pa.array([e[3] for e in EXPOSURES], pa.string()),
        "invoked": [e[4] for e in EXPOSURES]})


def _results() -> list[SessionResult]:
    return [SessionResult("ws", sid, agent, T0, OutcomeResult(res)) for sid, agent, res in SESSIONS]


def test_recorded_cohorts_ignore_invoked_rows_without_a_cohort():
    assert recorded_cohorts(_exposures()) == {
        ("ws", "s1"): {SKILL: "present"}, ("ws", "s2"): {SKILL: "held_out"},
        ("ws", "s4"): {"other": "present"}}
    assert recorded_cohorts(None) == {}


def test_recorded_cohort_is_the_assignment_and_a_contradiction_is_counted_not_relabelled():
    (effect,) = skill_effects(_results(), [WINDOW], recorded=recorded_cohorts(_exposures()),
                              min_sample=1)
    assert (effect.present.sessions, effect.present.successes) == (2, 2)  # s1, s4
    assert (effect.held_out.sessions, effect.held_out.successes) == (2, 0)  # s2, s3
    assert (effect.recorded_sessions, effect.hash_sessions, effect.assignment_mismatches) == (
        2, 2, 1)


def test_without_recorded_cohorts_every_session_is_assigned_by_the_hash():
    (effect,) = skill_effects(_results(), [WINDOW], min_sample=1)
    assert (effect.present.sessions, effect.held_out.sessions) == (3, 1)
    assert (effect.recorded_sessions, effect.hash_sessions, effect.assignment_mismatches) == (
        0, 4, 0)


def test_cohort_series_follows_the_recorded_assignment():
    points = cohort_series(_results(), WINDOW, min_sample=1,
                           recorded=recorded_cohorts(_exposures()))
    assert {p.group: p.known for p in points} == {f"{SKILL}/present": 2, f"{SKILL}/held_out": 2}


def _tables(exposures: pa.Table | None) -> MeasureTables:
    sessions = pa.table({"workspace_id": ["ws"] * 4, "session_id": [s[0] for s in SESSIONS],
                         "agent_id": [s[1] for s in SESSIONS], "started_at": [T0] * 4})
    outcomes = pa.table({"outcome_id": [f"o-{s[0]}" for s in SESSIONS],
                         "workspace_id": ["ws"] * 4, "session_id": [s[0] for s in SESSIONS],
                         "label": [s[2] for s in SESSIONS], "result": [s[2] for s in SESSIONS],
                         "source": ["signal"] * 4, "ts": [T0 + timedelta(hours=1)] * 4})
    skills = pa.table({"workspace_id": ["ws"], "name": [SKILL], "version": [2],
                       "retired": [False], "published_at": [WINDOW.published_at]})
    return MeasureTables(sessions, outcomes, skills, exposures)


def test_report_shows_where_cohorts_came_from_and_lists_mismatches():
    report = build_report(_tables(_exposures()), now=T0, min_sample=1)
    assert (report.recorded_assignments, report.hash_assignments) == (2, 2)
    assert report.assignment_mismatches == {f"ws/{SKILL}": 1}
    text = render_text(report)
    assert ("cohorts: 2 session-skill pairs from recorded exposures (1 contradict the "
            "holdout hash), 2 from the holdout hash") in text
    assert f"ws/{SKILL}: 1 sessions" in text
    assert "Assignment mismatches" in render_html(report)


def test_report_says_when_cohorts_come_from_the_hash_alone():
    report = build_report(_tables(None), now=T0, min_sample=1)
    assert report.recorded_assignments == 0 and not report.assignment_mismatches
    assert "cohorts: assigned from the holdout hash (no exposure" in render_text(report)
    assert "Assignment mismatches" not in render_text(report)
