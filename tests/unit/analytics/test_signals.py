"""Outcome signals as TurnEvents (the pure half of `hivemind signal`)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hivemind_kafka.analytics.signals import outcome_event
from hivemind_kafka.schemas.events import EventKind, decode_turn_record, encode_event
from hivemind_kafka.schemas.outcomes import OutcomeResult, outcome_from_event

NOW = datetime(2026, 11, 3, 8, 30, tzinfo=UTC)


def test_signal_is_an_outcome_event_that_decodes_and_maps_to_a_result():
    event = outcome_event(workspace_id="ws", session_id="s1", label="Meeting Booked", now=NOW)
    (decoded,) = decode_turn_record(encode_event(event))
    assert decoded.kind == EventKind.OUTCOME
    assert decoded.outcome == "meeting_booked"
    assert outcome_from_event(decoded).result == OutcomeResult.SUCCESS


def test_a_late_signal_orders_after_the_sessions_own_events():
    event = outcome_event(workspace_id="ws", session_id="s1", label="reverted", now=NOW)
    assert event.seq == int(NOW.timestamp() * 1000)
    assert event.ts == NOW


def test_two_signals_have_distinct_event_ids():
    a = outcome_event(workspace_id="ws", session_id="s1", label="merged", now=NOW)
    b = outcome_event(workspace_id="ws", session_id="s1", label="merged", now=NOW)
    assert a.event_id != b.event_id


def test_an_empty_label_is_refused_with_examples():
    with pytest.raises(ValueError, match="tests_passed"):
        outcome_event(workspace_id="ws", session_id="s1", label="  ")


def test_an_unknown_agent_kind_falls_back_to_other():
    event = outcome_event(workspace_id="ws", session_id="s1", label="x", agent_kind="robot")
    assert event.agent_kind.value == "other"
