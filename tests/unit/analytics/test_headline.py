"""The verticals' headline metrics from the sessions and outcomes tables: edit acceptance
(coding), deflection (support), reply and meeting rates (SDR), per workspace per period,
with late outcomes joined up to the horizon and the rest counted, never silently lost."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

from hivemind_kafka.analytics.headline import Metric, headline_metrics, period_start
from hivemind_kafka.analytics.stats import wilson
from hivemind_kafka.schemas.outcomes import DEFAULT_OUTCOME_HORIZON_S
from hivemind_kafka.schemas.sessions import Session
from hivemind_kafka.sinks.tables import SESSIONS_SCHEMA

MONDAY = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # a Monday
DAY = timedelta(days=1)


def sessions_table(rows: list[dict]) -> pa.Table:
    """Rows with the sessions table's columns (defaults for the rest)."""
    full = []
    for r in rows:
        start = r.get("started_at", MONDAY)
        full.append({
            "session_uid": f"{r['session_id']}/{r.get('generation', 0)}",
            "workspace_id": r.get("workspace_id", "acme"), "session_id": r["session_id"],
            "generation": r.get("generation", 0), "agent_id": r.get("agent_id", "agent-1"),
            "agent_kind": r.get("agent_kind", "coding"), "project": "p", "started_at": start,
            "ended_at": r.get("ended_at", start + timedelta(minutes=20)),
            "closed_at": start + timedelta(minutes=21), "close_reason": "session_end",
            "event_count": 5, "counts": [("prompt", 1)], "tools_used": ["Edit"],
            "edits_accepted": r.get("accepted"), "edits_rejected": r.get("rejected"),
            "edits_proposed": None, "ended_date": start.date(),
        })
    names = [f.name for f in SESSIONS_SCHEMA]
    return pa.Table.from_pylist([{n: row.get(n) for n in names} for row in full],
                                schema=SESSIONS_SCHEMA)


def outcomes_table(rows: list[tuple]) -> pa.Table:
    """(session_id, label, ts[, outcome_id[, workspace]]) rows."""
    data = []
    for i, row in enumerate(rows):
        sid, label, ts = row[:3]
        data.append({"outcome_id": row[3] if len(row) > 3 else f"o{i}",
                     "workspace_id": row[4] if len(row) > 4 else "acme", "session_id": sid,
                     "label": label, "result": "unknown", "source": "signal", "ts": ts})
    return pa.Table.from_pylist(data)


def test_edit_acceptance_is_accepted_over_decided_edits_and_skips_v1_rows():
    report = headline_metrics(sessions_table([
        {"session_id": "s1", "accepted": 3, "rejected": 1},
        {"session_id": "s2", "accepted": 1, "rejected": 1, "agent_id": "agent-2"},
        {"session_id": "s3", "accepted": 0, "rejected": 0},  # no decided edit
        {"session_id": "s4"},  # written before Session v2: no counts
    ]))
    headline = report.get("acme", Metric.EDIT_ACCEPTANCE)
    assert headline is not None and [p.trials for p in headline.points] == [6]
    point = headline.points[0]
    assert (point.successes, point.trials, point.sessions) == (4, 6, 2)
    assert point.design_effect >= 1.0
    assert point.rate.estimate == pytest.approx(4 / 6)
    plain = wilson(4, 6)
    assert point.rate.low <= plain.low + 1e-12 and point.rate.high >= plain.high - 1e-12


def test_clustered_edits_widen_the_interval():
    # One session accepts everything, one rejects everything: edits are not independent.
    clustered = headline_metrics(sessions_table([
        {"session_id": "a", "accepted": 20, "rejected": 0},
        {"session_id": "b", "accepted": 0, "rejected": 20}])).headlines[0].total
    mixed = headline_metrics(sessions_table([
        {"session_id": "a", "accepted": 10, "rejected": 10},
        {"session_id": "b", "accepted": 10, "rejected": 10}])).headlines[0].total
    assert clustered.rate.estimate == mixed.rate.estimate == 0.5
    assert clustered.design_effect > mixed.design_effect
    assert clustered.rate.high - clustered.rate.low > mixed.rate.high - mixed.rate.low


def test_periods_bucket_by_session_start_and_total_pools_them():
    report = headline_metrics(sessions_table([
        {"session_id": "w1", "accepted": 1, "rejected": 1, "started_at": MONDAY + 2 * DAY},
        {"session_id": "w2", "accepted": 3, "rejected": 0, "started_at": MONDAY + 8 * DAY},
    ]), period="week")
    [headline] = report.headlines
    assert [p.period_start for p in headline.points] == [MONDAY.replace(hour=0),
                                                         MONDAY.replace(hour=0) + 7 * DAY]
    assert (headline.total.successes, headline.total.trials) == (4, 5)
    daily = headline_metrics(sessions_table([
        {"session_id": "w1", "accepted": 1, "rejected": 1, "started_at": MONDAY + 2 * DAY}]),
        period="day")
    assert daily.headlines[0].points[0].period_start == (MONDAY + 2 * DAY).replace(hour=0)


def test_deflection_counts_resolved_without_a_human_and_any_handoff_is_not_deflected():
    sessions = sessions_table([
        {"session_id": f"t{i}", "agent_kind": "support", "agent_id": f"bot-{i % 2}"}
        for i in range(5)])
    outcomes = outcomes_table([
        ("t0", "resolved", MONDAY), ("t1", "deflected", MONDAY),
        ("t2", "escalated", MONDAY), ("t2", "resolved", MONDAY + DAY),  # a human solved it
        ("t3", "Handed Off", MONDAY),
        # t4: no resolution yet: not in the denominator
    ])
    point = headline_metrics(sessions, outcomes).get("acme", Metric.DEFLECTION).total
    assert (point.successes, point.trials, point.sessions) == (2, 4, 4)


def test_reply_and_meeting_rates_leave_bounced_outreach_out():
    sessions = sessions_table([{"session_id": f"o{i}", "agent_kind": "sdr"} for i in range(5)])
    outcomes = outcomes_table([
        ("o0", "replied", MONDAY), ("o1", "replied", MONDAY), ("o1", "meeting_booked", MONDAY),
        ("o2", "no_reply", MONDAY), ("o3", "bounced", MONDAY)])
    report = headline_metrics(sessions, outcomes)
    reply = report.get("acme", Metric.REPLY).total
    meeting = report.get("acme", Metric.MEETING).total
    assert (reply.successes, reply.trials) == (2, 3)
    assert (meeting.successes, meeting.trials) == (1, 3)
    assert [h.metric for h in report.for_workspace("acme")] == [Metric.REPLY, Metric.MEETING]


def test_late_outcomes_join_up_to_the_horizon_and_the_rest_are_counted():
    end = MONDAY + timedelta(minutes=20)
    horizon = timedelta(seconds=DEFAULT_OUTCOME_HORIZON_S)
    sessions = sessions_table([{"session_id": s, "agent_kind": "sdr"} for s in ("a", "b")])
    outcomes = outcomes_table([
        ("a", "replied", end + horizon),  # exactly at the horizon: within
        ("b", "replied", end + horizon + timedelta(seconds=1)),  # one second late: left out
        ("ghost", "replied", MONDAY),  # no such session
    ])
    report = headline_metrics(sessions, outcomes)
    assert report.get("acme", Metric.REPLY).total.trials == 1
    assert (report.outcomes_beyond_horizon, report.outcomes_unmatched) == (1, 1)


def test_a_reopened_session_counts_once_and_its_horizon_runs_from_its_last_end():
    late = MONDAY + 20 * DAY
    sessions = sessions_table([
        {"session_id": "r", "agent_kind": "support"},
        {"session_id": "r", "generation": 1, "agent_kind": "support",
         "started_at": MONDAY + 10 * DAY}])
    point = headline_metrics(sessions, outcomes_table([("r", "resolved", late)])) \
        .get("acme", Metric.DEFLECTION).total
    assert (point.trials, point.sessions) == (1, 1)
    assert point.period_start == period_start(MONDAY, "week")


def test_duplicate_outcome_ids_count_once_and_workspaces_stay_apart():
    sessions = sessions_table([{"session_id": "x", "agent_kind": "support"},
                               {"session_id": "x", "agent_kind": "support",
                                "workspace_id": "globex"}])
    outcomes = outcomes_table([("x", "resolved", MONDAY, "same"),
                               ("x", "resolved", MONDAY, "same"),
                               ("x", "escalated", MONDAY, "g1", "globex")])
    report = headline_metrics(sessions, outcomes)
    assert report.get("acme", Metric.DEFLECTION).total.successes == 1
    assert report.get("globex", Metric.DEFLECTION).total.successes == 0
    only = headline_metrics(sessions, outcomes, workspace="globex")
    assert {h.workspace_id for h in only.headlines} == {"globex"}


def test_no_data_gives_no_headline_rather_than_a_made_up_rate():
    report = headline_metrics(sessions_table([{"session_id": "quiet", "agent_kind": "sdr"}]))
    assert report.headlines == []


def test_errors_name_the_missing_columns_and_the_valid_periods():
    bare = pa.table({"workspace_id": ["a"], "session_id": ["s"]})
    with pytest.raises(ValueError, match="agent_kind"):
        headline_metrics(bare)
    with pytest.raises(ValueError, match="day, week"):
        headline_metrics(sessions_table([{"session_id": "s"}]), period="month")


def test_contract_fields_the_headline_reads_exist_on_the_session():
    fields = set(Session.__struct_fields__)
    assert {"edits_accepted", "edits_rejected", "agent_kind", "generation"} <= fields
