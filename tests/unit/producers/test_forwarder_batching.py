"""The forwarder's pure logic: session batches and the acknowledgement watermark."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hivemind_kafka.producers.agentd.batching import AckTracker, SessionBatcher
from hivemind_kafka.schemas.events import AgentKind, EventKind, TurnEvent

TS = datetime(2026, 11, 26, 7, 0, tzinfo=UTC)


def ev(session: str, seq: int, kind: EventKind = EventKind.PROMPT, ws: str = "ws") -> TurnEvent:
    return TurnEvent(event_id=f"{session}-{seq}", workspace_id=ws, session_id=session,
                     agent_id="a", agent_kind=AgentKind.CODING, project="/p", seq=seq,
                     ts=TS, kind=kind, text="x")


def test_events_of_two_sessions_never_share_a_batch():
    b = SessionBatcher(max_events=10, linger_s=1.0)
    for i in range(3):
        assert b.add(ev("s1", i), token=2 * i, size=10, now=0.0) == []
        assert b.add(ev("s2", i), token=2 * i + 1, size=10, now=0.0) == []
    batches = b.due(now=1.0)
    assert sorted((x.session_id, [e.seq for e in x.events], x.tokens) for x in batches) == [
        ("s1", [0, 1, 2], [0, 2, 4]), ("s2", [0, 1, 2], [1, 3, 5])]


def test_stop_releases_the_session_batch_immediately():
    b = SessionBatcher(max_events=10, linger_s=60.0)
    b.add(ev("s1", 0), 0, 10, 0.0)
    b.add(ev("s2", 0), 1, 10, 0.0)
    released = b.add(ev("s1", 1, EventKind.STOP), 2, 10, 0.0)
    assert [(x.session_id, len(x.events)) for x in released] == [("s1", 2)]
    assert len(b) == 1


def test_session_end_alone_is_a_batch_of_one():
    b = SessionBatcher(max_events=10, linger_s=60.0)
    released = b.add(ev("s1", 5, EventKind.SESSION_END), 0, 10, 0.0)
    assert [len(x.events) for x in released] == [1]


def test_batch_released_exactly_at_max_events():
    b = SessionBatcher(max_events=3, linger_s=60.0)
    assert b.add(ev("s", 0), 0, 1, 0.0) == []
    assert b.add(ev("s", 1), 1, 1, 0.0) == []
    released = b.add(ev("s", 2), 2, 1, 0.0)
    assert [len(x.events) for x in released] == [3] and len(b) == 0


def test_linger_exactly_elapsed_is_due_and_just_before_is_not():
    b = SessionBatcher(max_events=10, linger_s=0.25)
    b.add(ev("s", 0), 0, 1, now=10.0)
    assert b.due(now=10.24) == []
    assert b.next_due_in(now=10.125) == pytest.approx(0.125)
    assert len(b.due(now=10.25)) == 1
    assert b.next_due_in(now=10.5) is None


def test_byte_cap_releases_before_overflowing():
    b = SessionBatcher(max_events=100, linger_s=60.0, max_bytes=100)
    b.add(ev("s", 0), 0, 60, 0.0)
    released = b.add(ev("s", 1), 1, 60, 0.0)
    assert [x.tokens for x in released] == [[0]]
    assert [x.tokens for x in b.drain()] == [[1]]


def test_single_event_above_byte_cap_is_its_own_batch():
    b = SessionBatcher(max_events=100, linger_s=60.0, max_bytes=100)
    released = b.add(ev("s", 0), 0, 500, 0.0)
    assert [x.tokens for x in released] == [[0]]


def test_zero_max_events_is_refused():
    with pytest.raises(ValueError, match="max_events"):
        SessionBatcher(max_events=0, linger_s=1.0)


def test_ack_waits_for_the_first_pending_record():
    t = AckTracker()
    tokens = [t.add(pos) for pos in (10, 20, 30)]
    t.done([tokens[1], tokens[2]])
    assert t.ackable() is None and len(t) == 3
    t.done([tokens[0]])
    assert t.ackable() == 30 and len(t) == 0


def test_ack_advances_over_a_finished_prefix_only():
    t = AckTracker()
    a, b, c = (t.add(p) for p in (1, 2, 3))
    t.done([a, b])
    assert t.ackable() == 2
    assert t.ackable() is None
    t.done([c])
    assert t.ackable() == 3


def test_positions_without_records_do_not_hold_back_acks():
    t = AckTracker()
    a = t.add(1)
    t.add_done(2)  # e.g. skipped corrupt lines
    assert t.ackable() is None
    t.done([a])
    assert t.ackable() == 2
