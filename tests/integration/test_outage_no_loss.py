"""The forwarder across a broker outage: nothing lost while down, each event once after.

The test runs its own tansu on a fixed port, stops it, and starts a new one on the SAME
port (memory storage: the new broker is empty, as after a real broker replacement), so the
forwarder's producer reconnects to a broker that never heard of it.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from hivemind_kafka.producers.agentd.forwarder import Forwarder
from hivemind_kafka.producers.hook.spool import Spool, spool_dir
from hivemind_kafka.runtime import broker as embedded
from hivemind_kafka.runtime.kafka import ensure_topics
from hivemind_kafka.schemas.dead_letters import decode_dead_letter
from hivemind_kafka.schemas.events import decode_turn_record
from tests.conftest import make_settings
from tests.support.polling import wait_until
from tests.support.topic_reader import read_topic

pytestmark = pytest.mark.integration


def spool_session(spool: Spool, session: str, n: int, *, ws: str = "ws-test") -> list[str]:
    """Append a session of ``n`` events ending in stop, as capture does; returns ids."""
    ids = []
    for i in range(n):
        kind = "stop" if i == n - 1 else ("prompt" if i == 0 else "tool_call")
        event_id = f"{session}-{i}"
        spool.append({
            "event_id": event_id, "workspace_id": ws, "session_id": session,
            "agent_id": "agent-1", "agent_kind": "coding", "project": "/tmp/p",
            "ts": datetime.now(UTC).isoformat(), "kind": kind, "text": f"t{i}",
            "source": "claude-code-hook",
        }, seq_key=session)
        ids.append(event_id)
    return ids


def turns_event_ids(settings) -> list[str]:
    return [e.event_id for _k, v in read_topic(settings, settings.topics.turns)
            for e in decode_turn_record(v)]


@pytest.fixture
def own_broker(tmp_path):
    port = embedded.free_port()
    state = {"broker": embedded.start(log_path=tmp_path / "tansu-1.log", port=port)}
    yield port, state
    embedded.stop(state["broker"])


@pytest.mark.parametrize("message_timeout_ms", [2000, 120_000],
                         ids=["deliveries-time-out-and-are-retried",
                              "batches-wait-in-the-producer-across-the-restart"])
def test_broker_outage_loses_nothing_and_delivers_each_event_once(own_broker, tmp_path,
                                                                 message_timeout_ms):
    port, state = own_broker
    settings = make_settings(f"127.0.0.1:{port}", tmp_path, edge={"linger_ms": 50})
    ensure_topics(settings)
    spool = Spool(spool_dir(settings.edge.home_path()))
    forwarder = Forwarder(settings, message_timeout_ms=message_timeout_ms, retry_min_s=0.2,
                          retry_max_s=1.0, stats_interval_s=0.2)
    stop = threading.Event()
    thread = threading.Thread(target=forwarder.run, args=(stop,), daemon=True)
    thread.start()
    try:
        before = spool_session(spool, "s-before", 5)
        wait_until(lambda: spool.stats().records == 0, 30, "pre-outage events acknowledged")
        assert sorted(turns_event_ids(settings)) == sorted(before)

        embedded.stop(state["broker"])
        during = []
        for s in range(20):
            during += spool_session(spool, f"s-down-{s}", 10)
        if message_timeout_ms < 60_000:
            wait_until(lambda: forwarder.last_error is not None, 30,
                       "the forwarder to notice the outage")
        else:
            wait_until(lambda: len(forwarder.tracker) == len(during), 30,
                       "every outage event handed to the producer")
        assert spool.stats().records == len(during), "the spool holds every unsent event"

        state["broker"] = embedded.start(log_path=tmp_path / "tansu-2.log", port=port)
        ensure_topics(settings)  # the new broker is empty
        wait_until(lambda: spool.stats().records == 0, 60, "the backlog to drain")
    finally:
        stop.set()
        thread.join(15)
    assert not thread.is_alive()

    delivered = turns_event_ids(settings)
    assert sorted(delivered) == sorted(during), "each outage event exactly once"
    assert not set(before) & set(delivered), "acknowledged events were not re-sent"

    # Downstream: the Delta sink on the new broker holds each outage event once.
    from hivemind_kafka.sinks.delta_writer import read_table, run_sink

    stop_sink = threading.Event()
    sink = threading.Thread(target=run_sink, args=(settings,),
                            kwargs={"stop": stop_sink, "tables": ["events"]}, daemon=True)
    sink.start()
    try:
        wait_until(lambda: read_table(settings, "events").num_rows >= len(during), 60,
                   "the outage events in Delta")
    finally:
        stop_sink.set()
        sink.join(30)
    rows = read_table(settings, "events").column("event_id").to_pylist()
    assert sorted(rows) == sorted(during)


def test_contract_violation_goes_to_dlq_and_does_not_block(broker, tmp_path):
    settings = make_settings(broker.bootstrap, tmp_path, edge={"linger_ms": 50})
    ensure_topics(settings)
    spool = Spool(spool_dir(settings.edge.home_path()))
    good_1 = spool_session(spool, "s-1", 3)
    spool.append({"event_id": "bad-1", "workspace_id": "ws-test", "kind": "prompt"},
                 seq_key="s-bad")
    good_2 = spool_session(spool, "s-2", 3)
    forwarder = Forwarder(settings, stats_interval_s=0.2)
    stop = threading.Event()
    thread = threading.Thread(target=forwarder.run, args=(stop,), daemon=True)
    thread.start()
    try:
        wait_until(lambda: spool.stats().records == 0, 30, "all records acknowledged")
    finally:
        stop.set()
        thread.join(15)
    assert sorted(turns_event_ids(settings)) == sorted(good_1 + good_2)
    letters = [decode_dead_letter(v) for _k, v in read_topic(settings, settings.topics.dlq)]
    assert [(dl.stage, dl.reason.value) for dl in letters] == [("forwarder",
                                                               "contract_violation")]
    assert b'"bad-1"' in letters[0].raw and letters[0].key == b"ws-test"


def test_one_record_per_session_batch_keyed_by_workspace(broker, tmp_path):
    settings = make_settings(broker.bootstrap, tmp_path,
                             edge={"linger_ms": 60_000, "batch_max_events": 4})
    ensure_topics(settings)
    spool = Spool(spool_dir(settings.edge.home_path()))
    spool_session(spool, "s-a", 3)  # released by its stop
    spool_session(spool, "s-b", 9, ws="ws-other")  # 4 + 4 + 1 (stop)
    forwarder = Forwarder(settings, stats_interval_s=0.2)
    stop = threading.Event()
    thread = threading.Thread(target=forwarder.run, args=(stop,), daemon=True)
    thread.start()
    try:
        wait_until(lambda: spool.stats().records == 0, 30, "all records acknowledged")
    finally:
        stop.set()
        thread.join(15)
    records = read_topic(settings, settings.topics.turns)
    shapes = sorted((k, [e.seq for e in decode_turn_record(v)]) for k, v in records)
    assert shapes == [(b"ws-other", [0, 1, 2, 3]), (b"ws-other", [4, 5, 6, 7]),
                      (b"ws-other", [8]), (b"ws-test", [0, 1, 2])]


def test_sigterm_sends_lingering_batches_and_acknowledges_them(broker, tmp_path):
    settings = make_settings(broker.bootstrap, tmp_path, edge={"linger_ms": 600_000})
    ensure_topics(settings)
    spool = Spool(spool_dir(settings.edge.home_path()))
    forwarder = Forwarder(settings, stats_interval_s=0.2)
    stop = threading.Event()
    thread = threading.Thread(target=forwarder.run, args=(stop,), daemon=True)
    thread.start()
    ids = []
    for i in range(3):  # no stop event: the batch would linger for ten minutes
        spool.append({"event_id": f"open-{i}", "workspace_id": "ws-test", "session_id": "open",
                      "agent_id": "a", "agent_kind": "coding", "project": "p",
                      "ts": datetime.now(UTC).isoformat(), "kind": "prompt"}, seq_key="open")
        ids.append(f"open-{i}")
    wait_until(lambda: len(forwarder.batcher) == 1, 10, "the session batch to be open")
    stop.set()
    thread.join(15)
    assert not thread.is_alive()
    assert spool.stats().records == 0
    assert sorted(turns_event_ids(settings)) == ids


def test_sigkill_of_agentd_loses_nothing(broker, tmp_path):
    """Kill -9 agentd mid-drain, start it again: every event arrives (duplicates allowed
    only for records in flight at the kill: consumers dedup on event_id)."""
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    from hivemind_kafka.producers.agentd import launch as agentd

    settings = make_settings(broker.bootstrap, tmp_path, edge={"linger_ms": 50})
    ensure_topics(settings)
    home = settings.edge.home_path()
    spool = Spool(spool_dir(home))
    ids = []
    # Enough backlog (~3 s of draining here) that the kill lands mid-drain.
    for s in range(4000):
        ids += spool_session(spool, f"k{s}", 10)
    t = settings.topics
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path),
           "HIVEMIND_BOOTSTRAP": settings.kafka.bootstrap, "HIVEMIND_WORKSPACE_ID": "ws-test",
           "HIVEMIND_TOPICS_TURNS": t.turns, "HIVEMIND_TOPICS_DLQ": t.dlq,
           "HIVEMIND_TOPICS_SKILLS": t.skills, "HIVEMIND_KAFKA_PARTITIONS": "3"}
    root = Path(__file__).resolve().parents[2]
    argv = [sys.executable, "-m", "hivemind_kafka.producers.agentd.daemon", "--home", str(home)]
    first = subprocess.Popen(argv, cwd=root, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        total = len(ids)
        wait_until(lambda: spool.stats().records < total, 30, "the first acknowledgements",
                   interval_s=0.02)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        left = spool.stats().records
        assert left > 0 and agentd.running_pid(home) is None
        second = subprocess.Popen(argv, cwd=root, env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        try:
            wait_until(lambda: spool.stats().records == 0, 60, "the rest of the backlog")
        finally:
            second.send_signal(signal.SIGTERM)
            assert second.wait(20) == 0
    finally:
        if first.poll() is None:
            first.kill()
    delivered = turns_event_ids(settings)
    assert set(delivered) == set(ids), "no event lost"
    assert len(delivered) - len(ids) <= left, "duplicates only of records unacked at the kill"
