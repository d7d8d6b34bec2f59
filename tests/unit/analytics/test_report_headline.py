"""The report opens with the headline: the fleet's and each workspace's success, first
period against the last, and each vertical's metric, with honest verdicts; an old
sessions table without the headline's columns still gets a report."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa

from hivemind_kafka.analytics.headline import ChangeVerdict
from hivemind_kafka.analytics.lake import MeasureTables
from hivemind_kafka.analytics.report import build_report, render_html, render_text

MONDAY = datetime(2026, 11, 9, 9, tzinfo=UTC)
TS = pa.timestamp("us", tz="UTC")


def tables(success_week1: float, success_week2: float, *, headline_columns: bool = True,
           n: int = 400) -> MeasureTables:
    rows, outcomes = [], []
    for i in range(n):
        week = i % 2
        start = MONDAY + timedelta(weeks=week, hours=i % 100)
        rows.append({"workspace_id": "acme", "session_id": f"s{i}", "generation": 0,
                     "agent_id": f"a{i % 8}", "agent_kind": "coding", "started_at": start,
                     "ended_at": start + timedelta(minutes=10),
                     "edits_accepted": 1, "edits_rejected": 1 if i % 3 == 0 else 0})
        rate = success_week2 if week else success_week1
        won = (i // 2) % 100 < rate * 100
        outcomes.append({"outcome_id": f"o{i}", "workspace_id": "acme", "session_id": f"s{i}",
                         "label": "tests_passed" if won else "tests_failed", "result": None,
                         "source": "signal", "ts": start + timedelta(minutes=11)})
    sessions = pa.Table.from_pylist(rows)
    if not headline_columns:
        sessions = sessions.drop_columns(["agent_kind", "ended_at", "edits_accepted",
                                          "edits_rejected", "generation"])
    return MeasureTables(sessions, pa.Table.from_pylist(outcomes), None, None)


def change(report, ws: str, metric: str):
    return next(c for c in report.changes if c.workspace_id == ws and c.metric == metric)


def test_flat_weeks_read_no_detectable_change_in_text_and_html():
    report = build_report(tables(0.6, 0.6), period="week", now=MONDAY + timedelta(weeks=3))
    fleet = change(report, "all", "success")
    assert fleet.verdict == ChangeVerdict.NO_DETECTABLE_CHANGE
    assert abs(fleet.difference.estimate) < 0.02
    assert change(report, "acme", "edit_acceptance").verdict == ChangeVerdict.NO_DETECTABLE_CHANGE
    text = render_text(report)
    assert text.index("Headline") < text.index("Skill effects")
    assert "all success" in text and "no detectable change" in text
    assert "no detectable change" in render_html(report)


def test_a_large_rise_reads_improved():
    report = build_report(tables(0.4, 0.8), period="week", now=MONDAY + timedelta(weeks=3))
    assert change(report, "all", "success").verdict == ChangeVerdict.IMPROVED
    assert change(report, "acme", "success").difference.low > 0


def test_old_sessions_table_still_reports_success_changes_without_a_headline():
    report = build_report(tables(0.6, 0.6, headline_columns=False), period="week",
                          now=MONDAY + timedelta(weeks=3))
    assert report.headline is None
    assert {c.metric for c in report.changes} == {"success"}


def test_a_single_period_has_nothing_to_compare():
    import pyarrow.compute as pc

    one_week = tables(0.6, 0.6, n=400)
    sessions = one_week.sessions.filter(pc.less(
        one_week.sessions["started_at"], pa.scalar(MONDAY + timedelta(days=1), TS)))
    report = build_report(MeasureTables(sessions, one_week.outcomes, None, None), period="week",
                          now=MONDAY + timedelta(weeks=3))
    assert report.changes == []  # a single week: nothing to compare
    assert "Headline" not in render_text(report)
