"""The outcome horizon applies to the attribution as it does to the headline: an outcome
later than the horizon after its session's last end is left out, equal is within, and a
session whose end is unknown keeps its outcomes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa

from hivemind_kafka.analytics.attribution import session_results
from hivemind_kafka.analytics.scope import ScopeFrame
from hivemind_kafka.schemas.outcomes import OutcomeResult

START = datetime(2026, 11, 9, 9, tzinfo=UTC)
END = START + timedelta(minutes=30)
HORIZON = 14 * 86_400


def sessions(ended: list[datetime | None], generations: int = 1) -> pa.Table:
    rows = []
    for i, end in enumerate(ended):
        for g in range(generations):
            rows.append({"workspace_id": "acme", "session_id": f"s{i}", "agent_id": "a1",
                         "started_at": START + timedelta(days=g),
                         "ended_at": None if end is None else end + timedelta(days=g)})
    return pa.Table.from_pylist(rows, schema=pa.schema([
        ("workspace_id", pa.string()), ("session_id", pa.string()), ("agent_id", pa.string()),
        ("started_at", pa.timestamp("us", tz="UTC")), ("ended_at", pa.timestamp("us", tz="UTC"))]))


def outcomes(rows: list[tuple[str, str, datetime | None]]) -> pa.Table:
    return pa.Table.from_pylist(
        [{"outcome_id": f"o{i}", "workspace_id": "acme", "session_id": sid, "label": label,
          "result": None, "source": "signal", "ts": ts} for i, (sid, label, ts) in enumerate(rows)],
        schema=pa.schema([("outcome_id", pa.string()), ("workspace_id", pa.string()),
                          ("session_id", pa.string()), ("label", pa.string()),
                          ("result", pa.string()), ("source", pa.string()),
                          ("ts", pa.timestamp("us", tz="UTC"))]))


def results(table_s, table_o, **kw) -> dict[str, OutcomeResult]:
    return {r.session_id: r.result for r in session_results(table_s, table_o, **kw)}


def frame_results(table_s, table_o, **kw) -> tuple[list[int], int]:
    frame = ScopeFrame.from_tables(table_s, table_o, [], **kw)
    return frame.results_as_of().tolist(), frame.outcomes_beyond_horizon


def test_outcome_exactly_at_the_horizon_is_joined_one_second_later_is_not():
    s = sessions([END, END])
    o = outcomes([("s0", "tests_passed", END + timedelta(seconds=HORIZON)),
                  ("s1", "tests_passed", END + timedelta(seconds=HORIZON + 1))])
    assert results(s, o) == {"s0": OutcomeResult.SUCCESS, "s1": OutcomeResult.UNKNOWN}
    assert frame_results(s, o) == ([1, -1], 1)


def test_a_late_failure_beyond_the_horizon_does_not_overturn_the_joined_success():
    s = sessions([END])
    o = outcomes([("s0", "tests_passed", END + timedelta(hours=1)),
                  ("s0", "reverted", END + timedelta(days=30))])
    assert results(s, o) == {"s0": OutcomeResult.SUCCESS}
    assert frame_results(s, o) == ([1], 1)


def test_horizon_counts_from_the_last_generation_end():
    # Re-opened the next day: 14 days after the *first* end is still within.
    s = sessions([END], generations=2)
    o = outcomes([("s0", "resolved", END + timedelta(days=14, hours=12))])
    assert results(s, o) == {"s0": OutcomeResult.SUCCESS}
    assert frame_results(s, o) == ([1], 0)


def test_session_without_an_end_keeps_every_outcome():
    s = sessions([None])
    o = outcomes([("s0", "resolved", END + timedelta(days=400))])
    assert results(s, o) == {"s0": OutcomeResult.SUCCESS}
    assert frame_results(s, o) == ([1], 0)


def test_outcome_without_a_time_is_kept():
    s = sessions([END])
    o = outcomes([("s0", "resolved", None)])
    assert results(s, o) == {"s0": OutcomeResult.SUCCESS}
    assert frame_results(s, o) == ([1], 0)


def test_a_shorter_horizon_is_honoured():
    s = sessions([END])
    o = outcomes([("s0", "resolved", END + timedelta(hours=2))])
    assert results(s, o, horizon_s=3600) == {"s0": OutcomeResult.UNKNOWN}
    assert frame_results(s, o, horizon_s=3600) == ([-1], 1)


def test_sessions_table_without_ended_at_keeps_the_old_behaviour():
    s = sessions([END]).drop_columns(["ended_at"])
    o = outcomes([("s0", "resolved", END + timedelta(days=100))])
    assert results(s, o) == {"s0": OutcomeResult.SUCCESS}
    assert frame_results(s, o) == ([1], 0)
