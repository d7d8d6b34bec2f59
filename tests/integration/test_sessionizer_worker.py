"""The sessionizer worker over the real embedded broker, run as `python -m hivemind_kafka.streams.sessionizer`.

Properties: scripted sessions come out exactly once per expected session_uid with exact
event counts; bad records land in the DLQ with their reason while later records still
become sessions; a SIGKILLed worker restarted from its changelog loses no session.
"""

from __future__ import annotations

import itertools
import signal
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from hivemind_kafka.runtime.broker import free_port
from hivemind_kafka.runtime.kafka import consumer_config, producer_config
from hivemind_kafka.runtime.settings import Settings, to_env
from hivemind_kafka.runtime.supervisor import child_env
from hivemind_kafka.schemas.dead_letters import decode_dead_letter
from hivemind_kafka.schemas.events import (
    AgentKind,
    EventKind,
    TurnEvent,
    encode_batch,
    encode_event,
    turn_key,
)
from hivemind_kafka.schemas.sessions import decode_candidate, decode_session, session_uid
from hivemind_kafka.streams.sessionizer.app import default_app_id
from hivemind_kafka.streams.sessionizer.logic import candidate_id

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
_ids = itertools.count()
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)


def ev(ws: str, sid: str, seq: int, kind: EventKind, **fields) -> TurnEvent:
    return TurnEvent(event_id=f"{ws}/{sid}/{seq}/{next(_ids)}", workspace_id=ws, session_id=sid,
                     agent_id="agent-1", agent_kind=AgentKind.CODING, project="proj", seq=seq,
                     ts=T0 + timedelta(seconds=seq), kind=kind, **fields)


def conversation(ws: str, sid: str, n: int, *, end: EventKind | None = EventKind.SESSION_END,
                 start_seq: int = 0) -> list[TurnEvent]:
    """n events: prompt, then tool_call/tool_result/response, then ``end`` if given."""
    kinds = [EventKind.PROMPT] + [EventKind.RESPONSE] * (n - 1)
    events = [ev(ws, sid, start_seq + i, k, text="hello") for i, k in enumerate(kinds)]
    if end is not None:
        events[-1] = ev(ws, sid, start_seq + n - 1, end, reason="done")
    return events


def settings_env(settings: Settings) -> dict[str, str]:
    return child_env(to_env(settings), PYTHONPATH=str(ROOT))


class Worker:
    """One `python -m hivemind_kafka.streams.sessionizer` subprocess, always killed at the end."""

    def __init__(self, settings: Settings, log_path: Path, worker_id: str = "1") -> None:
        self.settings, self.log_path, self.worker_id = settings, log_path, worker_id
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        out = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child
        self.proc = subprocess.Popen(
            # The default app id follows the (test-unique) turns topic: no shared group.
            [sys.executable, "-m", "hivemind_kafka.streams.sessionizer", "--worker-id", self.worker_id],
            env=settings_env(self.settings), cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        out.close()

    def kill(self, sig: int = signal.SIGKILL) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(timeout=10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


@pytest.fixture
def worker_factory(tmp_path):
    workers: list[Worker] = []

    def make(settings: Settings, worker_id: str = "1") -> Worker:
        w = Worker(settings, tmp_path / f"worker{len(workers)}.log", worker_id)
        workers.append(w)
        return w

    yield make
    for w in workers:
        w.kill()


def assert_committed_to_end(settings: Settings, group: str, worker: Worker) -> None:
    probe = Consumer(consumer_config(settings, group))  # never subscribes: does not join
    try:
        parts = probe.list_topics(settings.topics.turns, timeout=10).topics[
            settings.topics.turns].partitions
        tps = [TopicPartition(settings.topics.turns, p) for p in parts]
        ends = {tp.partition: probe.get_watermark_offsets(tp, timeout=10)[1] for tp in tps}
        ends = {p: end for p, end in ends.items() if end > 0}  # empty ones never commit
        deadline = time.monotonic() + 30
        while True:
            committed = {tp.partition: tp.offset for tp in probe.committed(tps, timeout=10)
                         if tp.partition in ends}
            if committed == ends:
                return
            assert time.monotonic() < deadline, f"committed {committed} != ends {ends}"
            assert worker.proc.poll() is None, worker.log()
            time.sleep(0.5)
    finally:
        probe.close()


def produce(settings: Settings, records: list[tuple[bytes, bytes]]) -> None:
    producer = Producer(producer_config(settings))
    for key, value in records:
        producer.produce(settings.topics.turns, key=key, value=value)
        producer.poll(0)
    assert producer.flush(30) == 0


def batch(events: list[TurnEvent]) -> tuple[bytes, bytes]:
    return turn_key(events[0].workspace_id), encode_batch(events)


class Reader:
    """Reads a topic from the beginning, accumulating values."""

    def __init__(self, settings: Settings, topic: str) -> None:
        self.consumer = Consumer(consumer_config(settings, f"reader-{topic}-{next(_ids)}"))
        self.consumer.subscribe([topic])
        self.messages: list = []

    def poll_until(self, done, *, timeout_s: float, what: str, worker: Worker) -> None:
        deadline = time.monotonic() + timeout_s
        while not done():
            assert time.monotonic() < deadline, f"timed out waiting for {what}\n{worker.log()}"
            assert worker.proc.poll() is None, f"worker exited\n{worker.log()}"
            for msg in self.consumer.consume(500, timeout=0.5):
                if msg.error() is None:
                    self.messages.append(msg)

    def close(self) -> None:
        self.consumer.close()


def test_scripted_sessions_emit_exactly_the_expected_uids_and_counts(settings, worker_factory):
    settings = settings.replace(sessionizer={"idle_gap_s": 2, "arrival_grace_s": 1,
                                             "tick_interval_s": 0.5})
    records, expected = [], {}
    # Closed by session_end, split over two records, with a stop (a turn's end) inside.
    a = conversation("ws-a", "s1", 12)
    a[4] = ev("ws-a", "s1", 4, EventKind.STOP, reason="end_turn")
    records += [batch(a[:5]), batch(a[5:])]
    expected[session_uid("ws-a", "s1", 0)] = 12
    # session_end then a trailing stop record: absorbed, one session.
    b = conversation("ws-a", "s2", 4)
    records += [batch(b), batch([ev("ws-a", "s2", 4, EventKind.STOP)])]
    expected[session_uid("ws-a", "s2", 0)] = 4
    # Out of order records, closed by session_end; one record replayed (duplicates).
    c = conversation("ws-b", "s3", 9, end=EventKind.SESSION_END)
    records += [batch(c[3:6]), batch(c[:3]), batch(c[3:6]), batch(c[6:])]
    expected[session_uid("ws-b", "s3", 0)] = 9
    # Events after the close re-open the session as generation 1 (closed by its own end);
    # newer than the closed generation's end, they continue it rather than arrive late.
    d = conversation("ws-b", "s4", 3)
    late = conversation("ws-b", "s4", 2, start_seq=10)
    records += [batch(d), batch(late)]
    expected[session_uid("ws-b", "s4", 0)] = 3
    expected[session_uid("ws-b", "s4", 1)] = 2
    # No session_end: closed by idleness.
    e = conversation("ws-c", "s5", 3, end=None)
    records.append(batch(e))
    expected[session_uid("ws-c", "s5", 0)] = 3
    # A session with a failed and then working tool call: a codification candidate.
    f = [ev("ws-c", "s6", 0, EventKind.PROMPT, text="run the tests"),
         ev("ws-c", "s6", 1, EventKind.TOOL_CALL, tool_name="Bash", tool_use_id="u1",
            tool_input='{"command": "pytest"}'),
         ev("ws-c", "s6", 2, EventKind.TOOL_RESULT, tool_name="Bash", tool_use_id="u1",
            tool_output="exit code 1", is_error=True),
         ev("ws-c", "s6", 3, EventKind.TOOL_CALL, tool_name="Bash", tool_use_id="u2",
            tool_input='{"command": "pytest"}'),
         ev("ws-c", "s6", 4, EventKind.TOOL_RESULT, tool_name="Bash", tool_use_id="u2",
            tool_output="5 passed", is_error=False),
         ev("ws-c", "s6", 5, EventKind.OUTCOME, outcome="tests_passed"),
         ev("ws-c", "s6", 6, EventKind.SESSION_END)]
    records.append(batch(f))
    expected[session_uid("ws-c", "s6", 0)] = 7
    produce(settings, records)

    worker = worker_factory(settings)
    worker.start()
    sessions = Reader(settings, settings.topics.sessions)
    candidates = Reader(settings, settings.topics.candidates)
    try:
        def uids() -> list[str]:
            return [decode_session(m.value()).session_uid for m in sessions.messages]

        sessions.poll_until(lambda: set(expected) <= set(uids()), timeout_s=90,
                            what="all expected sessions", worker=worker)
        # A sentinel per workspace, produced last: once each is out, every close its
        # workspace's records could cause has been emitted before it (same partition).
        sentinels = {}
        for ws in ("ws-a", "ws-b", "ws-c"):
            s = conversation(ws, "sentinel", 2)
            produce(settings, [batch(s)])
            sentinels[session_uid(ws, "sentinel", 0)] = 2
        sessions.poll_until(lambda: set(sentinels) <= set(uids()), timeout_s=60,
                            what="sentinels", worker=worker)
        got = [decode_session(m.value()) for m in sessions.messages]
        assert sorted(s.session_uid for s in got) == sorted({**expected, **sentinels})
        for s in got:
            assert s.event_count == {**expected, **sentinels}[s.session_uid], s.session_id
            assert [e.seq for e in s.events] == sorted(e.seq for e in s.events)
        by_uid = {s.session_uid: s for s in got}
        assert by_uid[session_uid("ws-b", "s3", 0)].duplicate_event_count == 3
        assert by_uid[session_uid("ws-b", "s4", 1)].late_event_count == 0
        assert by_uid[session_uid("ws-c", "s5", 0)].close_reason == "idle"
        assert by_uid[session_uid("ws-a", "s2", 0)].close_reason == "session_end"
        assert by_uid[session_uid("ws-a", "s1", 0)].turn_count == 1

        cand_uid = session_uid("ws-c", "s6", 0)
        candidates.poll_until(lambda: any(
            decode_candidate(m.value()).candidate_id == candidate_id(cand_uid)
            for m in candidates.messages), timeout_s=30, what="the candidate", worker=worker)
        cands = [decode_candidate(m.value()) for m in candidates.messages]
        assert [c.sessions[0].session_uid for c in cands] == [cand_uid]
        # Manual acks still let the group's committed offsets reach the end of the input,
        # so a restart does not replay it all.
        assert_committed_to_end(settings, default_app_id(settings), worker)
    finally:
        sessions.close()
        candidates.close()
    assert worker.kill(signal.SIGTERM) == 0, worker.log()


def test_bad_records_land_in_the_dlq_with_their_reason_and_later_records_still_sessionize(
        settings, worker_factory):
    port = free_port()
    settings = settings.replace(sessionizer={"max_record_bytes": 3000},
                                metrics={"port": port})
    good_single = msgspec.json.decode(encode_event(ev("ws-d", "x", 0, EventKind.PROMPT)))
    missing = {k: v for k, v in good_single.items() if k != "seq"}
    wrong_type = {**good_single, "seq": "zero"}
    big = conversation("ws-d", "big", 20)
    big = [msgspec.structs.replace(e, text="y" * 200) for e in big]
    bad = {
        "undecodable": b'{"event_id": "e1", oops',
        "contract_violation": msgspec.json.encode(missing),
        "contract_violation/type": msgspec.json.encode(wrong_type),
        "oversized": encode_batch(big),
    }
    assert len(bad["oversized"]) > 3000
    good = conversation("ws-d", "after", 3)
    produce(settings, [(b"ws-d", raw) for raw in bad.values()] + [batch(good)])

    worker = worker_factory(settings)
    worker.start()
    sessions = Reader(settings, settings.topics.sessions)
    dead = Reader(settings, settings.topics.dlq)
    try:
        sessions.poll_until(lambda: len(sessions.messages) >= 1, timeout_s=90,
                            what="the good session", worker=worker)
        dead.poll_until(lambda: len(dead.messages) >= 4, timeout_s=30, what="4 dead letters",
                        worker=worker)
        [session] = [decode_session(m.value()) for m in sessions.messages]
        assert session.session_uid == session_uid("ws-d", "after", 0)
        letters = [decode_dead_letter(m.value()) for m in dead.messages]
        assert sorted((lt.reason.value, lt.raw) for lt in letters) == sorted(
            (name.split("/")[0], raw) for name, raw in bad.items())
        for m, letter in zip(dead.messages, letters, strict=True):
            headers = dict(m.headers())
            assert headers["hivemind.dlq.reason"] == letter.reason.value.encode()
            assert headers["hivemind.dlq.stage"] == b"sessionizer"
            assert letter.source_topic == settings.topics.turns and letter.key == b"ws-d"
        # The worker's own endpoint counts them by reason and says it is ready.
        base = f"http://127.0.0.1:{port}"
        with urllib.request.urlopen(f"{base}/readyz", timeout=5) as resp:
            assert resp.status == 200
        with urllib.request.urlopen(f"{base}/metrics", timeout=5) as resp:
            text = resp.read().decode()
        for reason, count in (("undecodable", 1), ("contract_violation", 2), ("oversized", 1)):
            assert (f'hivemind_dlq_records_total{{reason="{reason}",stage="sessionizer"}} '
                    f"{count}.0") in text
        assert 'hivemind_sessionizer_sessions_closed_total{reason="session_end"} 1.0' in text
    finally:
        sessions.close()
        dead.close()
    assert worker.kill(signal.SIGTERM) == 0, worker.log()


def test_sigkill_mid_stream_then_restart_loses_no_session(settings, worker_factory):
    # Small batches: the closes take many batches (each waits for its sends once the
    # pipeline is full), so the kill lands while some are emitted and others not.
    settings = settings.replace(sessionizer={"batch_max_records": 10})
    n_sessions, per_record = 600, 5
    expected: dict[str, int] = {}
    convs = []
    for i in range(n_sessions):
        ws, sid = f"ws-{i % 17}", f"s{i}"
        convs.append(conversation(ws, sid, 3 * per_record))
        expected[session_uid(ws, sid, 0)] = 3 * per_record
    # Interleaved: first records of every session, then the second, then the closing third,
    # so at the kill many sessions are open in the table and offsets are uncommitted.
    records = [batch(c[k * per_record:(k + 1) * per_record]) for k in range(3) for c in convs]
    produce(settings, records)

    worker = worker_factory(settings)
    worker.start()
    sessions = Reader(settings, settings.topics.sessions)
    try:
        sessions.poll_until(lambda: len(sessions.messages) >= 1, timeout_s=90,
                            what="the first session", worker=worker)
        worker.kill(signal.SIGKILL)
        emitted_before = len({decode_session(m.value()).session_uid for m in sessions.messages})
        assert emitted_before < n_sessions, "the kill did not land mid-stream"
        restarted = worker_factory(settings)
        restarted.start()

        def uids() -> set[str]:
            return {decode_session(m.value()).session_uid for m in sessions.messages}

        sessions.poll_until(lambda: set(expected) <= uids(), timeout_s=120,
                            what="every session after the restart", worker=restarted)
        got = [decode_session(m.value()) for m in sessions.messages]
        assert uids() == set(expected), "a replay must never open a new generation"
        assert all(s.event_count == expected[s.session_uid] for s in got)
    finally:
        sessions.close()
    # A fast first worker may have emitted every session before the kill landed (the
    # reader lags): the restarted one then has nothing to do and may still be starting,
    # before its SIGTERM handler exists. Stop it once it runs.
    deadline = time.monotonic() + 60
    while "assigned partitions" not in restarted.log() and time.monotonic() < deadline:
        assert restarted.proc.poll() is None, restarted.log()
        time.sleep(0.2)
    assert restarted.kill(signal.SIGTERM) == 0, restarted.log()


def test_survivor_takes_over_a_killed_workers_partitions_without_losing_a_session(
        settings, worker_factory):
    n_sessions, per_record = 240, 5
    expected: dict[str, int] = {}
    convs = []
    for i in range(n_sessions):
        ws, sid = f"ws-{i % 23}", f"r{i}"
        convs.append(conversation(ws, sid, 3 * per_record))
        expected[session_uid(ws, sid, 0)] = 3 * per_record
    first_two = [batch(c[k * per_record:(k + 1) * per_record]) for k in range(2) for c in convs]
    produce(settings, first_two)

    survivor, victim = worker_factory(settings, "1"), worker_factory(settings, "2")
    survivor.start()
    victim.start()
    sessions = Reader(settings, settings.topics.sessions)
    try:
        # Both members have joined once the victim logs its assignment.
        deadline = time.monotonic() + 60
        while "assigned partitions=[" not in victim.log().replace("assigned partitions=[]", ""):
            assert time.monotonic() < deadline, victim.log()
            assert victim.proc.poll() is None, victim.log()
            time.sleep(0.2)
        half = n_sessions // 2
        produce(settings, [batch(c[2 * per_record:]) for c in convs[:half]])
        sessions.poll_until(lambda: len(sessions.messages) >= 1, timeout_s=60,
                            what="the first session", worker=survivor)
        victim.kill(signal.SIGKILL)
        # These sessions are open in the victim's changelog at the kill, whatever its pace:
        # the survivor must recover them and close them.
        produce(settings, [batch(c[2 * per_record:]) for c in convs[half:]])

        def uids() -> set[str]:
            return {decode_session(m.value()).session_uid for m in sessions.messages}

        sessions.poll_until(lambda: set(expected) <= uids(), timeout_s=120,
                            what="every session after the takeover", worker=survivor)
        got = [decode_session(m.value()) for m in sessions.messages]
        assert uids() == set(expected)
        wrong = [(s.session_uid, s.event_count, expected[s.session_uid]) for s in got
                 if s.event_count != expected[s.session_uid]]
        assert not wrong, f"(uid, got, expected): {wrong}\n{survivor.log()[-4000:]}"
    finally:
        sessions.close()
    assert survivor.kill(signal.SIGTERM) == 0, survivor.log()
