"""`hivemind report` picks its rate period from the data when --period is not given."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa

from analytics.report import AUTO_WEEK_AFTER, auto_period

T0 = datetime(2026, 11, 9, tzinfo=UTC)


def _sessions(*starts: datetime | None) -> pa.Table:
    return pa.table({"started_at": pa.array(list(starts), pa.timestamp("us", tz="UTC"))})


def test_no_sessions_or_no_table_reads_by_day():
    assert auto_period(None) == "day"
    assert auto_period(_sessions()) == "day"
    assert auto_period(_sessions(None, None)) == "day"


def test_a_few_days_read_by_day():
    assert auto_period(_sessions(T0, T0 + timedelta(days=6))) == "day"


def test_span_exactly_at_the_threshold_stays_daily_and_beyond_is_weekly():
    assert auto_period(_sessions(T0, T0 + AUTO_WEEK_AFTER)) == "day"
    assert auto_period(_sessions(T0, T0 + AUTO_WEEK_AFTER + timedelta(seconds=1))) == "week"


def test_the_demo_span_of_four_weeks_reads_by_week_whatever_the_row_order():
    late, early = T0 + timedelta(days=27, hours=23), T0 + timedelta(hours=1)
    assert auto_period(_sessions(late, None, early)) == "week"


def test_a_table_without_session_starts_reads_by_day():
    assert auto_period(pa.table({"x": [1]})) == "day"
