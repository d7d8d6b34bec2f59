"""The codify job over the real broker: candidates -> codifier -> skills topic.

Asserted on the data: the records on the skills topic (every version, counted per key
and content hash), the candidates topic (parked re-queues) and the DLQ.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from hivemind_kafka.runtime.kafka import consumer_config, producer_config
from hivemind_kafka.runtime.settings import Secret
from hivemind_kafka.schemas.dead_letters import decode_dead_letter
from hivemind_kafka.schemas.sessions import encode
from hivemind_kafka.schemas.skills import decode_skill, parse_skill_key
from hivemind_kafka.sinks.skills_publisher import (
    list_skills,
    read_skill_log,
    retire_skill,
    skill_log,
)
from hivemind_kafka.streams.codifier.app import CodifierJob
from hivemind_kafka.streams.codifier.library import Library
from hivemind_kafka.streams.codifier.llm import AnthropicCodifier
from hivemind_kafka.streams.codifier.logic import CodifySummary
from tests.support.anthropic_stub import AnthropicStub, error, keep
from tests.support.polling import wait_until as wait_for
from tests.unit.streams.codifier.builders import (
    bash,
    candidate,
    prompt,
    recovery_session,
    session,
)

pytestmark = pytest.mark.integration


def all_records(settings, topic: str) -> list:
    """Every record of ``topic`` up to its high watermarks (key, value, headers)."""
    c = Consumer(consumer_config(settings, group_id=f"t-read-{time.time_ns()}"))
    try:
        md = c.list_topics(topic, timeout=10).topics[topic]
        ends, tps = {}, []
        for p in md.partitions:
            lo, hi = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            if hi > lo:
                ends[p] = hi
                tps.append(TopicPartition(topic, p, lo))
        out = []
        if tps:
            c.assign(tps)
            deadline = time.monotonic() + 20
            while ends and time.monotonic() < deadline:
                msg = c.poll(0.3)
                if msg is None or msg.error():
                    continue
                out.append((msg.key(), msg.value(), dict(msg.headers() or [])))
                if msg.offset() >= ends.get(msg.partition(), 0) - 1:
                    ends.pop(msg.partition(), None)
        return out
    finally:
        c.close()


def produce_candidates(settings, candidates, extra_raw: list[bytes] = ()) -> None:
    p = Producer(producer_config(settings))
    for c in candidates:
        p.produce(settings.topics.candidates, key=c.workspace_id.encode(), value=encode(c))
    for raw in extra_raw:
        p.produce(settings.topics.candidates, key=b"ws-a", value=raw)
    assert p.flush(10) == 0


class StartedJob:
    """A CodifierJob in a thread; ``stop()`` joins it."""

    def __init__(self, job: CodifierJob) -> None:
        self.job, self.stop_event = job, threading.Event()
        self.thread = threading.Thread(target=job.run, args=(self.stop_event,), daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(30)
        assert not self.thread.is_alive()


class CrashBeforeCommitJob(CodifierJob):
    """Publishes but never commits offsets: the worst case of a crash mid-stream."""

    def _commit(self) -> None:
        return


def distinct_candidates(workspace: str, n: int):
    tools = ["pytest", "ruff", "mypy", "alembic", "uvicorn", "celery", "black", "tox"]
    return [candidate(recovery_session(workspace, failed=f"{tool} check",
                                       error=f"bash: {tool}: command not found",
                                       worked=f"python -m {tool} check", ok_output="ok"))
            for tool in tools[:n]]


def test_candidates_become_skills_grouped_by_topic(settings):
    a1 = recovery_session("ws-a", session_id="a1")
    a2 = recovery_session("ws-a", session_id="a2", error="pytest: not found on PATH")
    corrected = session([prompt("add a migration for the orders table"),
                         bash("alembic revision -m orders", "Generating versions/1_orders.py"),
                         prompt("no, use --autogenerate instead"),
                         bash("alembic revision --autogenerate -m orders", "Generating ok")],
                        workspace="ws-b", session_id="b1", project="billing")
    cands = [candidate(a1), candidate(a2), candidate(corrected)]
    produce_candidates(settings, cands)
    summary = CodifySummary()
    job = StartedJob(CodifierJob(settings, summary=summary))
    try:
        skills = wait_for(lambda: (s := list_skills(settings)) and len(s) >= 2 and s,
                          60, "two skills")
    finally:
        job.stop()
    by_ws = {s.workspace_id: s for s in skills}
    assert set(by_ws) == {"ws-a", "ws-b"}
    a = by_ws["ws-a"]
    # a1 and a2 share the topic "recovery:Bash:pytest": one skill drafted from both
    assert a.version == 1 and sorted(a.provenance.source_session_ids) == ["a1", "a2"]
    assert sorted(a.provenance.candidate_ids) == sorted([cands[0].candidate_id,
                                                         cands[1].candidate_id])
    assert "python -m pytest tests/" in a.body
    b = by_ws["ws-b"]
    assert "alembic revision --autogenerate -m orders" in b.body
    assert summary.results["published"] == 2
    # the skill can be retired: a tombstone, and it is gone from the live list
    assert retire_skill(settings, "ws-b", b.name, reason="test")
    assert read_skill_log(settings)[("ws-b", b.name)] is None
    assert [s.workspace_id for s in list_skills(settings)] == ["ws-a"]


def test_restart_mid_stream_publishes_no_skill_twice(settings):
    cands = distinct_candidates("ws-a", 6)
    produce_candidates(settings, cands[:3])
    first = StartedJob(CrashBeforeCommitJob(settings, summary=CodifySummary()))
    try:
        wait_for(lambda: len(list_skills(settings)) >= 3, 60, "first three skills")
        produce_candidates(settings, cands[3:])
        wait_for(lambda: len(list_skills(settings)) >= 4, 60, "a fourth skill mid-stream")
    finally:
        first.stop()  # no offset was ever committed: everything is replayed
    second_summary = CodifySummary()
    second = StartedJob(CodifierJob(settings, summary=second_summary))
    try:
        wait_for(lambda: len(list_skills(settings)) >= 6, 60, "all six skills")
        wait_for(lambda: second_summary.results["duplicate"] + second_summary.results["published"]
                 >= 6, 60, "the replay to be processed")
    finally:
        second.stop()
    records = all_records(settings, settings.topics.skills)
    keys = Counter(k for k, v, _ in records if v is not None)
    assert len(keys) == 6 and set(keys.values()) == {1}, keys
    hashes = Counter(decode_skill(v).content_hash() for _, v, _ in records if v is not None)
    assert set(hashes.values()) == {1}
    assert {parse_skill_key(k)[0] for k in keys} == {"ws-a"}


def test_failed_model_call_parks_candidate_until_it_is_published(settings):
    with AnthropicStub() as stub:
        stub.script(error(500), error(529),
                    keep("run-pytest-via-python",
                         "Use when pytest is not found in shop-api.",
                         "Run the tests through the interpreter:\n\n```\npython -m pytest tests/\n```\n"))
        s = settings.replace(codifier={"api_key": Secret("k"), "base_url": stub.base_url,
                                       "max_retries": 0, "timeout_s": 5.0})
        cand = candidate(recovery_session("ws-a"))
        produce_candidates(s, [cand], extra_raw=[b"{not json"])
        summary = CodifySummary()
        job = StartedJob(CodifierJob(s, summary=summary, park_base_s=0.2,
                                     codifier=AnthropicCodifier(s.codifier)))
        try:
            skills = wait_for(lambda: list_skills(s), 60, "the skill after two parks")
        finally:
            job.stop()
    assert skills[0].name == "run-pytest-via-python" and skills[0].provenance.model
    assert summary.results["parked"] == 2 and summary.results["published"] == 1
    requeued = [h for _, _, h in all_records(s, s.topics.candidates) if "hivemind.attempt" in h]
    assert sorted(int(h["hivemind.attempt"]) for h in requeued) == [1, 2]
    assert all(h["hivemind.park_reason"] for h in requeued)
    letters = [decode_dead_letter(v) for _, v, _ in all_records(s, s.topics.dlq)]
    assert [(d.stage, d.reason.value) for d in letters] == [("codifier", "undecodable")]
    # the library rebuilt from the topic knows the candidate: a replay would be skipped
    assert Library.from_log(skill_log(s)).has_candidate(cand.candidate_id)


def test_partition_taken_over_from_another_worker_continues_its_versions(settings):
    """Worker B takes over a workspace whose skill worker A published after B started:
    B must re-read the library on assignment, so the next lesson of that workspace is
    version 2 of A's skill, not a second version 1."""
    a = StartedJob(CodifierJob(settings, summary=CodifySummary()))
    b = StartedJob(CodifierJob(settings, summary=CodifySummary()))
    try:
        wait_for(lambda: a.job.partitions and b.job.partitions, 60, "both workers assigned")
        first = candidate(recovery_session("ws-x", session_id="x1"))
        produce_candidates(settings, [first])
        wait_for(lambda: list_skills(settings), 60, "the first skill")
        owner, other = (a, b) if a.job.summary.results["published"] else (b, a)
        owner.stop()
        second = candidate(recovery_session("ws-x", session_id="x2",
                                            error="pytest: not found on PATH"))
        produce_candidates(settings, [second])
        skills = wait_for(lambda: (s := list_skills(settings)) and s[0].version == 2 and s,
                          60, "version 2 from the worker that took over")
    finally:
        for job in (a, b):
            if job.thread.is_alive():
                job.stop()
    assert other.job.summary.results["published"] == 1
    assert skills[0].provenance.decision.value == "MERGE"
    versions = Counter((k, decode_skill(v).version)
                       for k, v, _ in all_records(settings, settings.topics.skills) if v)
    assert set(versions.values()) == {1}


def test_candidate_failing_every_attempt_ends_in_the_dlq_with_its_bytes(settings):
    with AnthropicStub(default=error(500)) as stub:
        s = settings.replace(codifier={"api_key": Secret("k"), "base_url": stub.base_url,
                                       "max_retries": 0, "timeout_s": 5.0})
        cand = candidate(recovery_session("ws-a"))
        produce_candidates(s, [cand])
        summary = CodifySummary()
        job = StartedJob(CodifierJob(s, summary=summary, park_base_s=0.1, max_park_attempts=2,
                                     codifier=AnthropicCodifier(s.codifier)))
        try:
            wait_for(lambda: summary.results["dead_lettered"] == 1, 60, "the dead letter")
        finally:
            job.stop()
    assert summary.results["parked"] == 2 and len(stub.requests) == 3
    (letter,) = [decode_dead_letter(v) for _, v, _ in all_records(s, s.topics.dlq)]
    assert (letter.stage, letter.reason.value) == ("codifier", "processing_error")
    assert "failed 2 times" in letter.detail and letter.raw == encode(cand)
    assert list_skills(s) == []


def test_undecodable_candidate_too_big_to_dead_letter_whole_is_cut_and_the_stream_goes_on(settings):
    """A garbage record near the record limit: its dead letter (base64, a third larger)
    would not fit a producer record, so it carries a prefix of the bytes and says so; the
    next candidate still becomes a skill (the job neither crashes nor stalls)."""
    s = settings.replace(sessionizer={"max_record_bytes": 1024})  # producer limit ~65 KB
    garbage = b"\xff" + bytes(range(256)) * 234  # ~60 KB, not JSON
    cand = distinct_candidates("ws-a", 1)[0]
    produce_candidates(settings, [], extra_raw=[garbage])
    produce_candidates(settings, [cand])
    summary = CodifySummary()
    job = StartedJob(CodifierJob(s, summary=summary))
    try:
        wait_for(lambda: list_skills(s), 60, "the skill after the garbage record")
    finally:
        job.stop()
    (letter,) = [decode_dead_letter(v) for _, v, _ in all_records(s, s.topics.dlq)]
    assert (letter.stage, letter.reason.value) == ("codifier", "undecodable")
    assert "raw cut to its first" in letter.detail and garbage.startswith(letter.raw)
