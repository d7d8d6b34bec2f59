"""A lake outlives the embedded broker: a fresh broker's offsets must not be skipped."""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime

import pytest
from confluent_kafka import Producer

from hivemind_kafka.runtime import broker as embedded
from hivemind_kafka.runtime.kafka import ensure_topics, producer_config
from hivemind_kafka.schemas.events import AgentKind, EventKind, TurnEvent, encode_batch, turn_key
from hivemind_kafka.sinks.delta_writer import read_table, run_sink
from tests.conftest import make_settings

pytestmark = pytest.mark.integration


def make_event(*, session_id: str, seq: int, workspace_id: str) -> TurnEvent:
    return TurnEvent(event_id=os.urandom(8).hex(), workspace_id=workspace_id, session_id=session_id,
                     agent_id="a", agent_kind=AgentKind.CODING, project="p", seq=seq,
                     ts=datetime.now(UTC), kind=EventKind.PROMPT, text="hi")


def _run_once(settings, events):
    ensure_topics(settings)
    p = Producer(producer_config(settings))
    p.produce(settings.topics.turns, key=turn_key("ws"), value=encode_batch(events))
    assert p.flush(10) == 0
    stop = threading.Event()
    t = threading.Thread(target=run_sink, args=(settings,), kwargs={"stop": stop, "tables": ["events"]})
    t.start()
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            ids = set(read_table(settings, "events").column("event_id").to_pylist())
            if {e.event_id for e in events} <= ids:
                return ids
            time.sleep(0.3)
        raise AssertionError("events did not land")
    finally:
        stop.set()
        t.join(30)


def test_restarted_embedded_broker_with_old_lake_loses_nothing(tmp_path):
    first = [make_event(session_id="s1", seq=i, workspace_id="ws") for i in range(3)]
    second = [make_event(session_id="s2", seq=i, workspace_id="ws") for i in range(3)]
    for events in (first, second):
        b = embedded.start(log_path=tmp_path / "tansu.log")
        try:
            settings = make_settings(b.bootstrap, tmp_path, partitions=1)
            # Same lake and topic names for both incarnations of the broker.
            settings = settings.replace(topics={"turns": "turns"}, lake={"uri": str(tmp_path / "lake")})
            ids = _run_once(settings, events)
        finally:
            embedded.stop(b)
    assert {e.event_id for e in first + second} <= ids
