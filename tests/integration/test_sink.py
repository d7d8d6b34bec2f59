"""The Delta sink over the real broker and a temporary lake: every row exactly once."""

from __future__ import annotations

import dataclasses
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from confluent_kafka import Consumer, Producer
from prometheus_client import REGISTRY

from hivemind_kafka.runtime.broker import free_port
from hivemind_kafka.runtime.kafka import consumer_config, producer_config
from hivemind_kafka.runtime.metrics import PORT_OFFSETS
from hivemind_kafka.schemas.dead_letters import decode_dead_letter
from hivemind_kafka.schemas.events import AgentKind, EventKind, TurnEvent, encode_batch, turn_key
from hivemind_kafka.schemas.sessions import CloseReason, Session, encode, session_uid
from hivemind_kafka.schemas.skills import Decision, Skill, SkillProvenance, encode_skill, skill_key
from hivemind_kafka.sinks.delta_writer import DeltaSink, read_table, run_sink
from hivemind_kafka.sinks.tables import table_spec

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def events_of(ws: str, session: str, start: int, n: int) -> list[TurnEvent]:
    return [
        TurnEvent(event_id=f"{ws}-{session}-{i}", workspace_id=ws, session_id=session,
                  agent_id="agent", agent_kind=AgentKind.CODING, project="proj", seq=i,
                  ts=T0 + timedelta(seconds=i), kind=EventKind.TOOL_CALL, tool_name="Bash")
        for i in range(start, start + n)
    ]


def a_session(ws: str, sid: str, generation: int = 0) -> Session:
    return Session(
        session_uid=session_uid(ws, sid, generation), workspace_id=ws, session_id=sid,
        generation=generation, agent_id="agent", agent_kind=AgentKind.CODING, project="proj",
        started_at=T0, ended_at=T0 + timedelta(minutes=5), closed_at=T0 + timedelta(minutes=35),
        close_reason=CloseReason.IDLE, event_count=1, counts={"tool_call": 1},
        tools_used=["Bash"], events=events_of(ws, sid, 0, 1),
    )


def a_skill(ws: str, name: str, version: int) -> Skill:
    return Skill(workspace_id=ws, name=name, description="how to fix flaky tests",
                 body=f"body v{version}", version=version,
                 provenance=SkillProvenance(source_session_ids=["s"], codifier="offline",
                                            decision=Decision.KEEP, created_at=T0))


def wait_for(condition, *, timeout: float = 60.0, interval: float = 0.2, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}")


def counts(settings, table: str, column: str) -> Counter:
    return Counter(read_table(settings, table)[column].to_pylist())


def http_get(port: int, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def dead_letters(settings, expected: int, timeout: float = 30.0) -> list:
    consumer = Consumer(consumer_config(settings, f"dlq-reader-{time.monotonic_ns()}"))
    consumer.subscribe([settings.topics.dlq])
    letters: list = []
    deadline = time.monotonic() + timeout
    try:
        while len(letters) < expected and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and not msg.error():
                letters.append(decode_dead_letter(msg.value()))
    finally:
        consumer.close()
    return letters


def produce(settings, records: list[tuple[str, bytes | None, bytes | None]]) -> None:
    producer = Producer(producer_config(settings))
    for topic, key, value in records:
        producer.produce(topic, key=key, value=value)
    assert producer.flush(30) == 0


def test_events_sessions_and_skills_land_exactly_once_with_bad_records_handled(settings):
    t = settings.topics
    lettered_before = metric("hivemind_sink_undecodable_records_total",
                             table="events", action="dead_lettered")
    batches = [events_of(ws, f"s{j}", 0, 10) for ws in ("ws-a", "ws-b", "ws-c") for j in range(5)]
    records = [(t.turns, turn_key(b[0].workspace_id), encode_batch(b)) for b in batches]
    records.append((t.turns, turn_key(batches[0][0].workspace_id), encode_batch(batches[0])))  # resent
    records.append((t.turns, b"ws-a", b"{not json"))  # the sessionizer and the sink dead-letter it
    sessions = [a_session("ws-a", f"s{j}") for j in range(4)]
    records += [(t.sessions, b"ws-a", encode(s)) for s in sessions]
    records.append((t.sessions, b"ws-a", encode(sessions[1])))  # replayed by the sessionizer
    records.append((t.sessions, b"ws-a", b'{"session_uid": "x"}'))  # contract violation
    records.append((t.skills, skill_key("ws-a", "fix-flaky"), encode_skill(a_skill("ws-a", "fix-flaky", 1))))
    records.append((t.skills, skill_key("ws-a", "fix-flaky"), None))  # retired
    produce(settings, records)

    port = free_port()
    settings = settings.replace(metrics={"port": port - PORT_OFFSETS["sink"]})
    stop = threading.Event()
    runner = threading.Thread(target=run_sink, args=(settings,),
                              kwargs={"stop": stop, "tables": ["events", "sessions", "skills"]})
    runner.start()
    try:
        wait_for(lambda: http_get(port, "/readyz") == 200, what="/readyz after assignment")
        wait_for(lambda: sum(counts(settings, "events", "event_id").values()) >= 150
                 and sum(counts(settings, "sessions", "session_uid").values()) >= 4
                 and read_table(settings, "skills").num_rows >= 2, what="all three tables")
    finally:
        stop.set()
        runner.join(30)
    assert not runner.is_alive()

    events = counts(settings, "events", "event_id")
    assert set(events) == {e.event_id for b in batches for e in b}
    assert set(events.values()) == {1}
    uids = counts(settings, "sessions", "session_uid")
    assert set(uids) == {s.session_uid for s in sessions}
    assert set(uids.values()) == {1}
    skills = sorted(read_table(settings, "skills").to_pylist(), key=lambda r: r["retired"])
    assert [(r["name"], r["retired"], r["version"]) for r in skills] == [
        ("fix-flaky", False, 1), ("fix-flaky", True, None)]
    assert metric("hivemind_sink_undecodable_records_total",
                  table="events", action="dead_lettered") == lettered_before + 1
    letters = dead_letters(settings, expected=2)
    assert sorted((d.stage, d.source_topic, d.reason.value) for d in letters) == sorted([
        ("sink", t.turns, "undecodable"), ("sink", t.sessions, "contract_violation")])


def _poll_until(sink: DeltaSink, condition, timeout: float = 60.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sink.poll_once(0.2)
        if condition():
            return
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def test_replayed_session_after_a_restart_is_stored_once(settings):
    """The recent-key window is empty after a restart: the table itself rejects the uid."""
    specs = [table_spec("sessions")]
    s1, s2 = a_session("ws-a", "one"), a_session("ws-a", "two")
    produce(settings, [(settings.topics.sessions, b"ws-a", encode(s1))])
    first = DeltaSink(settings, specs, group_id="sink-restart")
    first.start()
    _poll_until(first, lambda: read_table(settings, "sessions").num_rows == 1, what="first row")
    first.close()

    produce(settings, [(settings.topics.sessions, b"ws-a", encode(s1)),
                       (settings.topics.sessions, b"ws-a", encode(s2))])
    second = DeltaSink(settings, specs, group_id="sink-restart")
    second.start()
    try:
        _poll_until(second, lambda: s2.session_uid in counts(settings, "sessions", "session_uid"),
                    what="second session")
        assert metric("hivemind_sink_lag_records", table="sessions") == 0
    finally:
        second.close()
    assert counts(settings, "sessions", "session_uid") == {s1.session_uid: 1, s2.session_uid: 1}


def test_stale_writer_conflict_resets_to_the_table_version_without_duplicates(settings):
    """Two sinks both believe they own every partition (the second plays a zombie that
    missed its revocation): whichever commits second is refused, reloads and continues."""
    lazy = settings.replace(lake={"flush_rows": 10**9, "flush_seconds": 3600.0})
    events = table_spec("events")
    copy = dataclasses.replace(events, name="events_copy")  # a second table on the same topic
    first = [events_of("ws-a", "s1", 0, 50), events_of("ws-b", "s2", 0, 50)]
    produce(settings, [(settings.topics.turns, turn_key(b[0].workspace_id), encode_batch(b))
                       for b in first])
    conflicts_before = metric("hivemind_sink_conflicts_total")

    stale = DeltaSink(lazy, [events, copy], group_id="sink-stale")
    fresh = DeltaSink(lazy, [events], group_id="sink-fresh")
    stale.start()
    fresh.start()
    try:
        _poll_until(stale, lambda: stale.buffered_rows("events") == 100, what="stale buffered")
        _poll_until(fresh, lambda: fresh.buffered_rows("events") == 100, what="fresh buffered")
        fresh.flush_all()
        assert read_table(settings, "events").num_rows == 100

        stale.flush_all()  # events: conflict and reset; events_copy: commits
        assert metric("hivemind_sink_conflicts_total") == conflicts_before + 1
        assert read_table(settings, "events").num_rows == 100
        assert read_table(settings, "events_copy").num_rows == 100
        assert stale.last_written_offsets("events") == fresh.last_written_offsets("events")

        more = events_of("ws-a", "s3", 0, 30)
        produce(settings, [(settings.topics.turns, turn_key("ws-a"), encode_batch(more))])
        _poll_until(stale, lambda: stale.buffered_rows("events") == 30
                    and stale.buffered_rows("events_copy") == 30, what="stale re-read")
        stale.flush_all()
        _poll_until(fresh, lambda: fresh.buffered_rows("events") == 30, what="fresh new rows")
        fresh.flush_all()  # now the fresh one is behind: refused, reset
        assert metric("hivemind_sink_conflicts_total") == conflicts_before + 2
    finally:
        stale.close()
        fresh.close()

    expected = {e.event_id for b in [*first, more] for e in b}
    for table in ("events", "events_copy"):
        ids = counts(settings, table, "event_id")
        assert set(ids) == expected, table
        assert set(ids.values()) == {1}, table


def _set_group_offsets(settings, group_id: str, topic: str, offset: int) -> None:
    from confluent_kafka import TopicPartition

    from hivemind_kafka.runtime.kafka import partition_count

    consumer = Consumer(consumer_config(settings, group_id))
    try:
        consumer.commit(offsets=[TopicPartition(topic, p, offset)
                                 for p in range(partition_count(settings, topic))],
                        asynchronous=False)
    finally:
        consumer.close()


def test_kafka_committed_offsets_are_advisory_the_table_decides(settings):
    """Rewinding the group's offsets duplicates nothing; a deleted table is rebuilt from
    the topic's beginning although the group's offsets say everything was read."""
    import shutil

    specs = [table_spec("events")]
    group = "sink-advisory"
    t = settings.topics
    first = [events_of(f"ws-{i}", "s1", 0, 10) for i in range(5)]
    produce(settings, [(t.turns, turn_key(b[0].workspace_id), encode_batch(b)) for b in first])

    def run_until(n_rows: int) -> None:
        sink = DeltaSink(settings, specs, group_id=group)
        sink.start()
        try:
            _poll_until(sink, lambda: read_table(settings, "events").num_rows >= n_rows
                        and sink.buffered_rows("events") == 0, what=f"{n_rows} rows")
            sink.flush_all()
        finally:
            sink.close()

    run_until(50)
    _set_group_offsets(settings, group, t.turns, 0)  # rewound: Kafka says "read it all again"
    more = [events_of(f"ws-{i}", "s2", 0, 10) for i in range(2)]
    produce(settings, [(t.turns, turn_key(b[0].workspace_id), encode_batch(b)) for b in more])
    run_until(70)
    ids = counts(settings, "events", "event_id")
    assert len(ids) == 70 and set(ids.values()) == {1}

    shutil.rmtree(settings.lake.table_uri("events"))  # Kafka says "all read"; the table is empty
    run_until(70)
    ids = counts(settings, "events", "event_id")
    assert set(ids) == {e.event_id for b in [*first, *more] for e in b}
    assert set(ids.values()) == {1}


def test_two_instances_split_the_partitions_and_write_each_row_once(settings):
    """Two sinks in one group commit to the same tables at once (different app ids), and
    the second one's join rebalances the first mid-stream."""
    specs = [table_spec("events"), table_spec("sessions")]
    t = settings.topics
    batches = [events_of(f"ws-{i}", f"s{j}", 0, 10) for i in range(9) for j in range(20)]
    sessions = [a_session(f"ws-{i}", f"s{j}") for i in range(9) for j in range(5)]
    half = len(batches) // 2
    produce(settings, [(t.turns, turn_key(b[0].workspace_id), encode_batch(b))
                       for b in batches[:half]])
    stop = threading.Event()
    sinks = [DeltaSink(settings, specs, group_id="sink-pair") for _ in range(2)]
    threads = [threading.Thread(target=s.run, args=(stop,)) for s in sinks]
    threads[0].start()
    try:
        wait_for(lambda: read_table(settings, "events").num_rows > 0, what="first commits")
        threads[1].start()
        produce(settings, [(t.turns, turn_key(b[0].workspace_id), encode_batch(b))
                           for b in batches[half:]]
                + [(t.sessions, s.workspace_id.encode(), encode(s)) for s in sessions])
        wait_for(lambda: all(s.is_assigned for s in sinks), what="both assigned")
        wait_for(lambda: read_table(settings, "events").num_rows >= 10 * len(batches)
                 and read_table(settings, "sessions").num_rows >= len(sessions),
                 what="every row")
    finally:
        stop.set()
        for th in threads:
            th.join(30)
    ids = counts(settings, "events", "event_id")
    assert set(ids) == {e.event_id for b in batches for e in b}
    assert set(ids.values()) == {1}
    uids = counts(settings, "sessions", "session_uid")
    assert set(uids) == {s.session_uid for s in sessions} and set(uids.values()) == {1}
