"""Outcome joining (late, duplicated, signal vs detected), windows per version, cohorts
(recorded, excluded, hashed), and verdicts on agent-periods."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pytest

from hivemind_kafka.analytics.attribution import (
    ScopeFrame,
    SessionResult,
    SkillWindow,
    Verdict,
    cohort_series,
    estimate_effects,
    invoked_sessions,
    micros,
    period_start,
    rate_series,
    session_results,
    skill_effects,
    skill_windows,
    verdict_counts,
)
from hivemind_kafka.schemas.holdout import HoldoutDesign
from hivemind_kafka.schemas.outcomes import OutcomeResult

T0 = datetime(2026, 10, 5, 12, tzinfo=UTC)  # a Monday
DESIGN = HoldoutDesign(share=0.5)


def _sessions(rows):
    return pa.table({
        "workspace_id": [r[0] for r in rows], "session_id": [r[1] for r in rows],
        "agent_id": [r[2] for r in rows],
        "started_at": pa.array([r[3] for r in rows], pa.timestamp("us", tz="UTC")),
    })


def _outcomes(rows):
    return pa.table({
        "outcome_id": [r[0] for r in rows], "workspace_id": [r[1] for r in rows],
        "session_id": [r[2] for r in rows], "label": [r[3] for r in rows],
        "result": [r[4] for r in rows], "source": [r[5] for r in rows],
        "ts": pa.array([r[6] for r in rows], pa.timestamp("us", tz="UTC")),
    })


# ---------------------------------------------------------------- outcomes


def test_an_outcome_arriving_days_after_the_session_is_joined():
    sessions = _sessions([("ws", "s1", "a1", T0)])
    late = _outcomes([("o1", "ws", "s1", "resolved", "success", "signal", T0 + timedelta(days=6))])
    assert session_results(sessions, None)[0].result == OutcomeResult.UNKNOWN
    assert session_results(sessions, late)[0].result == OutcomeResult.SUCCESS


def test_a_late_outcome_counts_from_the_look_after_it_arrived():
    sessions = _sessions([("ws", "s1", "a1", T0)])
    late = _outcomes([("o1", "ws", "s1", "resolved", "success", "signal", T0 + timedelta(days=6))])
    frame = ScopeFrame.from_tables(sessions, late, [])
    assert frame.results_as_of(micros(T0 + timedelta(days=5))).tolist() == [-1]
    assert frame.results_as_of(micros(T0 + timedelta(days=6))).tolist() == [1]
    assert frame.results_as_of(None).tolist() == [1]


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
    frame = ScopeFrame.from_tables(sessions, outcomes, [])
    by_key = dict(zip(frame.session_keys.to_pylist(), frame.results_as_of().tolist(),
                      strict=True))
    assert by_key == {"ws\x00s1": 0, "ws\x00s2": 1}
    # Before the later signal on s2 arrived, its first signal stood.
    as_of = dict(zip(frame.session_keys.to_pylist(),
                     frame.results_as_of(micros(T0 + timedelta(days=1))).tolist(), strict=True))
    assert as_of == {"ws\x00s1": 0, "ws\x00s2": 0}


def test_a_redelivered_outcome_counts_once_and_a_reopened_session_once():
    sessions = _sessions([("ws", "s1", "a1", T0 + timedelta(hours=1)), ("ws", "s1", "a1", T0)])
    outcomes = _outcomes([("o1", "ws", "s1", "failed", "failure", "signal", T0)] * 2)
    results = session_results(sessions, outcomes)
    assert len(results) == 1
    assert results[0].started_at == T0
    frame = ScopeFrame.from_tables(sessions, outcomes, [])
    assert frame.sessions == 1
    assert frame.session_started.tolist() == [micros(T0)]
    assert frame.outcome_session.size == 1


def test_the_same_session_id_in_two_workspaces_stays_two_sessions():
    sessions = _sessions([("ws1", "s1", "a1", T0), ("ws2", "s1", "a2", T0)])
    outcomes = _outcomes([("o1", "ws2", "s1", "resolved", "success", "signal", T0)])
    got = {(r.workspace_id, r.result) for r in session_results(sessions, outcomes)}
    assert got == {("ws1", OutcomeResult.UNKNOWN), ("ws2", OutcomeResult.SUCCESS)}
    frame = ScopeFrame.from_tables(sessions, outcomes, [])
    assert sorted(frame.results_as_of().tolist()) == [-1, 1]


def test_label_without_result_column_is_mapped_by_the_table():
    sessions = _sessions([("ws", "s1", "a1", T0)])
    outcomes = pa.table({"workspace_id": ["ws"], "session_id": ["s1"],
                         "outcome": ["Meeting Booked"],
                         "ts": pa.array([T0], pa.timestamp("us", tz="UTC"))})
    assert session_results(sessions, outcomes)[0].result == OutcomeResult.SUCCESS
    assert ScopeFrame.from_tables(sessions, outcomes, []).results_as_of().tolist() == [1]


# ---------------------------------------------------------------- windows


def _skills(rows):
    return pa.table({
        "workspace_id": ["ws"] * len(rows), "name": [r[0] for r in rows],
        "version": [r[1] for r in rows], "content_hash": [r[2] for r in rows],
        "retired": [r[3] for r in rows],
        "published_at": pa.array([T0 + timedelta(days=r[4]) for r in rows],
                                 pa.timestamp("us", tz="UTC")),
    })


def test_every_version_has_its_own_window_and_a_text_change_restarts_the_clock():
    windows = skill_windows(_skills([
        ("a", 1, "h1", False, 0), ("a", 1, "h1", False, 1),  # a re-send: same window
        ("a", 2, "h2", False, 3), ("a", 2, "h3", False, 5),  # new version, then new text
        ("a", None, None, True, 8),  # retired
        ("a", 3, "h4", False, 10),  # republished after the retirement
    ]))
    got = [(w.version, w.content_hash, w.published_at, w.retired_at, w.superseded)
           for w in windows]
    day = timedelta(days=1)
    assert got == [
        (1, "h1", T0, T0 + 3 * day, True),
        (2, "h2", T0 + 3 * day, T0 + 5 * day, True),
        (2, "h3", T0 + 5 * day, T0 + 8 * day, False),
        (3, "h4", T0 + 10 * day, None, False),
    ]
    assert [w.live for w in windows] == [False, False, False, True]


# ---------------------------------------------------------------- cohorts and verdicts


def _fleet(skill: str, *, agents: int, days: int, per_day: int, p_present: float,
           p_held: float, ws: str = "ws", design: HoldoutDesign = DESIGN,
           seed: int = 0) -> list[SessionResult]:
    """Sessions every day for every agent; success drawn with the cohort's probability
    under the switchback design (agents also differ by +-10pp)."""
    rng = np.random.default_rng(seed)
    out = []
    for a in range(agents):
        agent = f"agent-{a}"
        skill_bias = rng.uniform(-0.1, 0.1)
        for d in range(days):
            for k in range(per_day):
                t = T0 + timedelta(days=d, minutes=10 * k)
                p = (p_held if design.is_held_out(skill, agent, t) else p_present) + skill_bias
                ok = rng.random() < p
                out.append(SessionResult(ws, f"{agent}-{d}-{k}", agent, t,
                                         OutcomeResult.SUCCESS if ok else OutcomeResult.FAILURE))
    return out


WINDOW = SkillWindow("ws", "use-ripgrep", 2, T0 - timedelta(days=1))


def test_cohorts_follow_the_switchback_and_each_agent_is_in_both():
    results = _fleet("use-ripgrep", agents=8, days=30, per_day=3, p_present=0.7, p_held=0.5)
    (effect,) = skill_effects(results, [WINDOW], design=DESIGN)
    held = sum(DESIGN.is_held_out("use-ripgrep", r.agent_id, r.started_at) for r in results)
    assert effect.held_out.sessions == held
    assert effect.present.sessions == len(results) - held
    assert effect.held_out.agents == effect.present.agents == 8
    assert effect.held_out.clusters + effect.present.clusters == 8 * 30
    assert effect.strata == 8  # every agent compared with itself
    assert effect.effect.low < 0.2 < effect.effect.high
    assert effect.verdict == Verdict.EFFECTIVE
    assert effect.version == 2


def test_a_harmful_skill_gets_the_harmful_verdict():
    results = _fleet("use-ripgrep", agents=8, days=30, per_day=3, p_present=0.4, p_held=0.6)
    (effect,) = skill_effects(results, [WINDOW], design=DESIGN)
    assert effect.verdict == Verdict.HARMFUL
    assert effect.effect.high < 0
    assert effect.e_harmful >= 40


def test_too_few_held_out_agent_periods_is_insufficient_data_whatever_the_sessions():
    # Three agents, six days, many sessions each: hundreds of sessions, few randomized units.
    results = _fleet("use-ripgrep", agents=3, days=6, per_day=60, p_present=0.9, p_held=0.1)
    (effect,) = skill_effects(results, [WINDOW], design=DESIGN)
    assert effect.held_out.known >= 60
    assert effect.held_out.clusters < 10
    assert effect.verdict == Verdict.INSUFFICIENT_DATA
    assert "agent-periods" in effect.reason


def test_losing_held_out_sessions_is_a_sample_ratio_mismatch():
    results = [r for r in _fleet("use-ripgrep", agents=40, days=20, per_day=1, p_present=0.7,
                                 p_held=0.5)
               if not (DESIGN.is_held_out("use-ripgrep", r.agent_id, r.started_at)
                       and r.agent_id.endswith(("1", "3", "5", "7")))]
    (effect,) = skill_effects(results, [WINDOW], design=DESIGN)
    assert effect.srm.mismatch
    assert effect.verdict == Verdict.SAMPLE_RATIO_MISMATCH


def test_an_assignment_that_never_switches_is_not_analysed_as_a_switchback():
    # Cohorts recorded per agent (an old client): agent-days are not independent units.
    per_agent = HoldoutDesign(share=0.5, period_s=3650 * 86_400)
    results = _fleet("use-ripgrep", agents=30, days=20, per_day=2, p_present=0.7,
                     p_held=0.5, design=per_agent)
    recorded = {("ws", r.session_id): {"use-ripgrep": "held_out" if per_agent.is_held_out(
        "use-ripgrep", r.agent_id, r.started_at) else "present"} for r in results}
    (effect,) = skill_effects(results, [WINDOW], recorded=recorded, design=DESIGN)
    assert effect.verdict == Verdict.SAMPLE_RATIO_MISMATCH
    assert "does not switch" in effect.reason


def test_only_sessions_inside_the_window_count():
    results = _fleet("use-ripgrep", agents=4, days=10, per_day=2, p_present=0.7, p_held=0.5)
    window = SkillWindow("ws", "use-ripgrep", 1, T0 + timedelta(days=2), T0 + timedelta(days=5))
    other_ws = SkillWindow("other", "use-ripgrep", 1, T0 - timedelta(days=1))
    inside, elsewhere = skill_effects(results, [window, other_ws], design=DESIGN)
    assert inside.present.sessions + inside.held_out.sessions == 4 * 3 * 2  # days 2, 3, 4
    assert elsewhere.present.sessions + elsewhere.held_out.sessions == 0
    assert elsewhere.verdict == Verdict.INSUFFICIENT_DATA


def test_many_null_skills_keep_a_borderline_one_from_a_verdict():
    # One harmful skill among eleven null ones in the same workspace, with evidence
    # (an e-value between 40 and 120) enough for a verdict alone but not for e-BH over
    # twelve skills at 10 %, which asks the strongest for 12 / 0.1 = 120.
    names = [f"skill-{i}" for i in range(12)]
    rng = np.random.default_rng(1)
    results = []
    for a in range(20):
        agent = f"agent-{a}"
        for d in range(40):
            for k in range(4):
                t = T0 + timedelta(days=d, minutes=5 * k)
                p = 0.5 - (0.09 if not DESIGN.is_held_out(names[0], agent, t) else 0.0)
                ok = rng.random() < p
                results.append(SessionResult("ws", f"{agent}-{d}-{k}", agent, t,
                                             OutcomeResult.SUCCESS if ok else OutcomeResult.FAILURE))
    windows = [SkillWindow("ws", n, 1, T0 - timedelta(days=1)) for n in names]
    alone = skill_effects(results, windows[:1], design=DESIGN)[0]
    together = skill_effects(results, windows, design=DESIGN)
    assert 40 <= alone.e_harmful < 120
    assert alone.effect.high < 0 and alone.verdict == Verdict.HARMFUL
    assert together[0].e_harmful == pytest.approx(alone.e_harmful)
    assert together[0].fdr_family == 12
    assert together[0].verdict == Verdict.NO_DETECTABLE_EFFECT
    assert "false-discovery" in together[0].reason
    assert all(e.verdict == Verdict.NO_DETECTABLE_EFFECT for e in together[1:])


def test_invoked_vs_not_is_computed_among_present_sessions_only():
    results = _fleet("use-ripgrep", agents=6, days=20, per_day=4, p_present=0.5, p_held=0.5)
    invoked = {("ws", r.session_id, "use-ripgrep") for r in results
               if r.session_id.endswith("-0")}
    (effect,) = skill_effects(results, [WINDOW], invoked=invoked, design=DESIGN)
    assert effect.invoked.sessions + effect.not_invoked.sessions == effect.present.sessions
    present_first = sum(1 for r in results if r.session_id.endswith("-0")
                        and not DESIGN.is_held_out("use-ripgrep", r.agent_id, r.started_at))
    assert effect.invoked.sessions == present_first


def test_invoked_sessions_reads_the_exposures_table():
    exposures = pa.table({"workspace_id": ["ws", "ws"], "session_id": ["s1", "s2"],
                          "skill_name": ["a", "a"], "invoked": [True, False]})
    assert invoked_sessions(exposures) == {("ws", "s1", "a")}


def test_a_look_as_of_a_time_sees_only_what_had_happened_by_then():
    results = _fleet("use-ripgrep", agents=8, days=30, per_day=3, p_present=0.7, p_held=0.5)
    early = skill_effects(results, [WINDOW], design=DESIGN, until=T0 + timedelta(days=3))[0]
    late = skill_effects(results, [WINDOW], design=DESIGN)[0]
    assert early.present.sessions + early.held_out.sessions == 8 * 3 * 3
    assert early.effect.high - early.effect.low > late.effect.high - late.effect.low


def test_a_closed_window_is_not_estimated_past_its_end():
    results = _fleet("use-ripgrep", agents=8, days=30, per_day=3, p_present=0.7, p_held=0.5)
    sessions = pa.table({
        "workspace_id": [r.workspace_id for r in results],
        "session_id": [r.session_id for r in results],
        "agent_id": [r.agent_id for r in results],
        "started_at": pa.array([r.started_at for r in results], pa.timestamp("us", tz="UTC")),
        "outcome": [r.result.value for r in results]})
    frame = ScopeFrame.from_tables(sessions, None, [WINDOW], design=DESIGN)
    ends = np.array([micros(T0 + timedelta(days=10))])
    (closed,) = estimate_effects(frame, ends=ends)
    assert closed.present.sessions + closed.held_out.sessions == 8 * 10 * 3
    assert closed.retired_at == T0 + timedelta(days=10)


# ---------------------------------------------------------------- rates over time


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


def test_cohort_series_splits_one_skill_by_its_switchback_cohort():
    results = _fleet("use-ripgrep", agents=6, days=10, per_day=2, p_present=1.2, p_held=-0.2)
    points = cohort_series(results, WINDOW, design=DESIGN)
    rates = {p.group: p.rate.estimate for p in points}
    assert rates == {"use-ripgrep/present": 1.0, "use-ripgrep/held_out": 0.0}


def test_verdict_counts_lists_every_verdict():
    results = _fleet("use-ripgrep", agents=8, days=30, per_day=3, p_present=0.7, p_held=0.5)
    counts = verdict_counts(skill_effects(results, [WINDOW], design=DESIGN))
    assert counts["effective"] == 1
    assert set(counts) == {v.value for v in Verdict}
