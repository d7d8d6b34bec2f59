"""Cohorts, outcome joining (late, duplicated, signal vs detected), verdicts, windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

from analytics.attribution import (
    SessionResult,
    SkillWindow,
    Verdict,
    cohort_series,
    invoked_sessions,
    period_start,
    rate_series,
    session_results,
    skill_effects,
    skill_windows,
    verdict_counts,
)
from schemas.holdout import is_held_out
from schemas.outcomes import OutcomeResult

T0 = datetime(2026, 10, 5, 12, tzinfo=UTC)  # a Monday


def _sessions(rows):
    return pa.table({
        "workspace_id": [r[0] for r in rows], "session_id": [r[1] for r in rows],
        "agent_id": [r[2] for r in rows], "started_at": [r[3] for r in rows],
    })


def _outcomes(rows):
    return pa.table({
        "outcome_id": [r[0] for r in rows], "workspace_id": [r[1] for r in rows],
        "session_id": [r[2] for r in rows], "label": [r[3] for r in rows],
        "result": [r[4] for r in rows], "source": [r[5] for r in rows],
        "ts": [r[6] for r in rows],
    })


def test_an_outcome_arriving_days_after_the_session_is_joined():
    sessions = _sessions([("ws", "s1", "a1", T0)])
    late = _outcomes([("o1", "ws", "s1", "resolved", "success", "signal", T0 + timedelta(days=6))])
    assert session_results(sessions, None)[0].result == OutcomeResult.UNKNOWN
    assert session_results(sessions, late)[0].result == OutcomeResult.SUCCESS


def test_a_signal_outranks_a_detected_outcome_and_the_latest_signal_wins():
    sessions = _sessions([("ws", "s1", "a1", T0), ("ws", "s2", "a1", T0)])
    outcomes = _outcomes([
        ("d1", "ws", "s1", "tests_passed", "success", "detected", T0 + timedelta(hours=2)),
        ("o1", "ws", "s1", "reverted", "failure", "signal", T0 + timedelta(hours=1)),
        ("o2", "ws", "s2", "tests_failed", "failure", "signal", T0 + timedelta(hours=1)),
        ("o3", "ws", "s2", "merged", "success", "signal", T0 + timedelta(days=2)),
        ("o4", "ws", "s2", "whatever", "unknown", "signal", T0 + timedelta(days=3)),
    ])
    got = {r.session_id: r.result for r in session_results(sessions, outcomes)}
    assert got == {"s1": OutcomeResult.FAILURE, "s2": OutcomeResult.SUCCESS}


def test_a_redelivered_outcome_counts_once_and_a_reopened_session_once():
    sessions = _sessions([("ws", "s1", "a1", T0 + timedelta(hours=1)), ("ws", "s1", "a1", T0)])
    outcomes = _outcomes([("o1", "ws", "s1", "failed", "failure", "signal", T0)] * 2)
    results = session_results(sessions, outcomes)
    assert len(results) == 1
    assert results[0].started_at == T0


def test_the_same_session_id_in_two_workspaces_stays_two_sessions():
    sessions = _sessions([("ws1", "s1", "a1", T0), ("ws2", "s1", "a2", T0)])
    outcomes = _outcomes([("o1", "ws2", "s1", "resolved", "success", "signal", T0)])
    got = {(r.workspace_id, r.result) for r in session_results(sessions, outcomes)}
    assert got == {("ws1", OutcomeResult.UNKNOWN), ("ws2", OutcomeResult.SUCCESS)}


def test_label_without_result_column_is_mapped_by_the_table():
    sessions = _sessions([("ws", "s1", "a1", T0)])
    outcomes = pa.table({"workspace_id": ["ws"], "session_id": ["s1"],
                         "outcome": ["Meeting Booked"], "ts": [T0]})
    assert session_results(sessions, outcomes)[0].result == OutcomeResult.SUCCESS


def _fleet(skill: str, n_agents: int, sessions_per_agent: int, p_present: float,
           p_held: float, ws: str = "ws") -> list[SessionResult]:
    """Deterministic results: each agent's sessions succeed in its cohort's proportion."""
    out = []
    for a in range(n_agents):
        agent = f"agent-{a}"
        p = p_held if is_held_out(skill, agent) else p_present
        wins = round(p * sessions_per_agent)
        for s in range(sessions_per_agent):
            out.append(SessionResult(ws, f"{agent}-{s}", agent, T0 + timedelta(hours=s),
                                     OutcomeResult.SUCCESS if s < wins else OutcomeResult.FAILURE))
    return out


WINDOW = SkillWindow("ws", "use-ripgrep", 2, T0 - timedelta(days=1))


def test_cohorts_follow_the_holdout_assignment_and_the_effect_is_present_minus_held_out():
    results = _fleet("use-ripgrep", 400, 10, 0.7, 0.5)
    (effect,) = skill_effects(results, [WINDOW])
    held_agents = sum(is_held_out("use-ripgrep", f"agent-{a}") for a in range(400))
    assert effect.held_out.sessions == held_agents * 10
    assert effect.present.sessions == (400 - held_agents) * 10
    assert effect.effect.estimate == pytest.approx(0.2)
    assert effect.verdict == Verdict.EFFECTIVE
    assert effect.version == 2


def test_harmful_skill_gets_the_harmful_verdict():
    (effect,) = skill_effects(_fleet("use-ripgrep", 400, 10, 0.4, 0.6), [WINDOW])
    assert effect.verdict == Verdict.HARMFUL
    assert effect.effect.high < 0


def test_too_few_held_out_sessions_is_insufficient_data_not_a_verdict():
    (effect,) = skill_effects(_fleet("use-ripgrep", 100, 2, 0.9, 0.1), [WINDOW])
    assert effect.held_out.known < 30
    assert effect.verdict == Verdict.INSUFFICIENT_DATA


def test_losing_the_held_out_agents_data_is_a_sample_ratio_mismatch():
    results = [r for r in _fleet("use-ripgrep", 2000, 1, 0.7, 0.5)
               if not (is_held_out("use-ripgrep", r.agent_id) and r.agent_id.endswith(("1", "3", "5")))]
    (effect,) = skill_effects(results, [WINDOW])
    assert effect.srm.mismatch
    assert effect.verdict == Verdict.SAMPLE_RATIO_MISMATCH


def test_only_sessions_inside_the_live_window_count():
    results = _fleet("use-ripgrep", 200, 10, 0.7, 0.5)
    window = SkillWindow("ws", "use-ripgrep", 1, T0 + timedelta(hours=2), T0 + timedelta(hours=5))
    other_ws = SkillWindow("other", "use-ripgrep", 1, T0 - timedelta(days=1))
    inside, elsewhere = skill_effects(results, [window, other_ws])
    assert inside.present.sessions + inside.held_out.sessions == 200 * 3  # hours 2, 3, 4
    assert elsewhere.present.sessions + elsewhere.held_out.sessions == 0
    assert elsewhere.verdict == Verdict.INSUFFICIENT_DATA


def test_invoked_vs_not_is_computed_among_present_sessions_only():
    results = _fleet("use-ripgrep", 200, 4, 0.5, 0.5)
    invoked = {("ws", r.session_id, "use-ripgrep") for r in results if r.session_id.endswith("-0")}
    (effect,) = skill_effects(results, [WINDOW], invoked=invoked)
    assert effect.invoked.sessions + effect.not_invoked.sessions == effect.present.sessions
    assert effect.invoked.sessions == effect.present.sessions // 4
    # Session 0 of each agent is always a success in this fleet: a confounded "effect".
    assert effect.invoked_effect.estimate > 0.4


def test_skill_windows_open_on_publish_and_close_on_tombstone():
    skills = pa.table({
        "workspace_id": ["ws"] * 4, "name": ["a", "a", "a", "b"],
        "version": [1, 2, None, 1], "retired": [False, False, True, False],
        "published_at": [T0, T0 + timedelta(days=1), T0 + timedelta(days=3), T0],
    })
    windows = sorted(skill_windows(skills), key=lambda w: w.skill_name)
    assert windows[0] == SkillWindow("ws", "a", 2, T0, T0 + timedelta(days=3))
    assert windows[1] == SkillWindow("ws", "b", 1, T0, None)


def test_invoked_sessions_reads_the_exposures_table():
    exposures = pa.table({"workspace_id": ["ws", "ws"], "session_id": ["s1", "s2"],
                          "skill_name": ["a", "a"], "invoked": [True, False]})
    assert invoked_sessions(exposures) == {("ws", "s1", "a")}


def test_rate_series_buckets_by_utc_day_and_iso_week_without_smoothing():
    results = [SessionResult("ws", f"s{i}", "a", T0 + timedelta(days=i // 40),
                             OutcomeResult.SUCCESS if i % 40 < (10 if i < 40 else 30) else OutcomeResult.FAILURE)
               for i in range(80)] + [SessionResult("ws", "x", "a", T0 + timedelta(days=9), OutcomeResult.SUCCESS)]
    daily = rate_series(results, period="day")
    assert [(p.known, p.successes, p.sufficient) for p in daily] == [(40, 10, True), (40, 30, True), (1, 1, False)]
    weekly = rate_series(results, period="week")
    assert [p.period_start for p in weekly] == [period_start(T0, "day"), period_start(T0, "day") + timedelta(days=7)]
    with pytest.raises(ValueError, match="day"):
        period_start(T0, "month")


def test_cohort_series_splits_one_skill_by_cohort():
    points = cohort_series(_fleet("use-ripgrep", 200, 2, 1.0, 0.0), WINDOW)
    rates = {p.group: p.rate.estimate for p in points}
    assert rates == {"use-ripgrep/present": 1.0, "use-ripgrep/held_out": 0.0}


def test_verdict_counts_lists_every_verdict():
    (effect,) = skill_effects(_fleet("use-ripgrep", 400, 10, 0.7, 0.5), [WINDOW])
    counts = verdict_counts([effect])
    assert counts["effective"] == 1
    assert set(counts) == {v.value for v in Verdict}
