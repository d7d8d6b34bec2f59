"""The deadline index the tick sweep relies on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hivemind_kafka.streams.sessionizer.index import DeadlineIndex

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_partition_sweep_only_touches_its_partition():
    index = DeadlineIndex()
    index.put(b"a", partition=0, deadline=T0, is_open=True)
    index.put(b"b", partition=1, deadline=T0, is_open=True)
    index.put(b"c", partition=0, deadline=T0 + timedelta(hours=1), is_open=True)
    later = T0 + timedelta(seconds=1)
    assert index.due(0, later) == [b"a"]
    assert index.due(1, later) == [b"b"]
    assert index.due(2, later) == []


def test_deadline_equal_to_now_is_not_due():
    index = DeadlineIndex()
    index.put(b"a", partition=0, deadline=T0, is_open=True)
    assert index.due(0, T0) == []


def test_moving_a_key_to_another_partition_leaves_no_trace_in_the_old_one():
    index = DeadlineIndex()
    index.put(b"a", partition=0, deadline=T0, is_open=True)
    index.put(b"a", partition=2, deadline=T0, is_open=False)
    later = T0 + timedelta(seconds=1)
    assert index.due(0, later) == [] and index.due(2, later) == [b"a"]
    assert len(index) == 1 and index.open_count() == 0


def test_removed_and_closed_keys_leave_the_open_count():
    index = DeadlineIndex()
    index.put(b"a", partition=0, deadline=T0, is_open=True)
    index.put(b"b", partition=0, deadline=T0, is_open=True)
    assert index.open_count() == 2
    index.put(b"a", partition=0, deadline=T0, is_open=False)
    index.remove(b"b")
    assert index.open_count() == 0 and len(index) == 1 and b"b" not in index
