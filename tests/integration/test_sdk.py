"""The SDK over the real broker: batches per session, keyed by workspace, validated."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import Consumer, Producer

from hivemind_kafka.producers.sdk import DeliveryFailed, Fleet
from hivemind_kafka.runtime.errors import ContractViolation
from hivemind_kafka.runtime.kafka import consumer_config, producer_config
from hivemind_kafka.schemas.events import EventKind, decode_turn_record

pytestmark = pytest.mark.integration


def consume_all(settings, topic, expected, timeout_s=30.0):
    c = Consumer(consumer_config(settings, group_id=f"t-{time.monotonic_ns()}"))
    c.subscribe([topic])
    records = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(records) < expected and time.monotonic() < deadline:
            msg = c.poll(0.5)
            if msg is not None and msg.error() is None:
                records.append(msg)
    finally:
        c.close()
    return records


def test_session_is_sent_as_one_batch_record_keyed_by_workspace(settings):
    with Fleet.connect(settings, workspace_id="acme", agent_id="bot-1", agent_kind="support",
                       project="helpdesk") as fleet, fleet.session() as s:
        s.prompt("Where is my order?")
        call = s.tool_call("orders.lookup", {"order": 1})
        s.tool_result(call, "shipped")
        s.response("It shipped.")
        s.outcome("resolved")
    records = consume_all(settings, settings.topics.turns, 1)
    assert len(records) == 1
    assert records[0].key() == b"acme"
    events = decode_turn_record(records[0].value())
    assert [e.kind for e in events] == [
        EventKind.SESSION_START, EventKind.PROMPT, EventKind.TOOL_CALL, EventKind.TOOL_RESULT,
        EventKind.RESPONSE, EventKind.OUTCOME, EventKind.SESSION_END]
    assert [e.seq for e in events] == list(range(7))
    assert [e.turn for e in events] == [0, 1, 1, 1, 1, 1, 1]  # the prompt began turn 1
    assert events[3].tool_use_id == events[2].tool_use_id and events[3].tool_output == "shipped"


def test_long_session_is_split_at_batch_max_events_and_keeps_every_event(settings):
    settings = settings.replace(edge={"batch_max_events": 10})
    with Fleet.connect(settings, workspace_id="acme", agent_id="bot-1") as fleet, fleet.session() as s:
        for i in range(24):
            s.prompt(f"step {i}")
    records = consume_all(settings, settings.topics.turns, 3)
    events = [e for r in records for e in decode_turn_record(r.value())]
    assert len(records) == 3 and len(events) == 26
    assert sorted(e.seq for e in events) == list(range(26))


def test_invalid_event_is_rejected_before_anything_is_sent(settings):
    fleet = Fleet.connect(settings, workspace_id="acme", agent_id="bot-1")
    rec = fleet.open_session("s-1", start=False)
    with pytest.raises(ContractViolation, match="seq"):
        fleet._event("s-1", -1, EventKind.PROMPT, text="x")
    with pytest.raises(ValueError):
        fleet.open_session("s-2").record(EventKind("not-a-kind"))
    rec.stop()
    fleet.close()
    events = [e for r in consume_all(settings, settings.topics.turns, 1) for e in decode_turn_record(r.value())]
    assert [e.kind for e in events] == [EventKind.STOP]


def test_undeliverable_events_raise_on_flush(settings):
    from hivemind_kafka.runtime.broker import free_port

    dead = settings.replace(kafka={"bootstrap": f"127.0.0.1:{free_port()}"})
    producer = Producer(producer_config(dead, **{"message.timeout.ms": 1500}))
    fleet = Fleet(dead, workspace_id="acme", agent_id="bot-1", producer=producer)
    with fleet.session() as s:
        s.prompt("hello")
    with pytest.raises(DeliveryFailed) as info:
        fleet.close(timeout_s=10)
    assert sum(len(ids) for ids, _ in info.value.failed) == 3
