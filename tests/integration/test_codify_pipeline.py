"""End to end with the real workers: turns -> sessionizer -> candidates -> codifier ->
skills topic -> Delta ``skills``; plus the daily token budget holding candidates back.

The workers run as child processes (``hivemind worker ...`` under the supervisor, as
``hivemind up`` runs them) on the embedded broker and a temporary lake; assertions are on
the data in the skills topic and the Delta table.
"""

from __future__ import annotations

import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from hivemind_kafka.runtime.kafka import consumer_config, group_id_for, producer_config
from hivemind_kafka.runtime.settings import Secret, to_env
from hivemind_kafka.runtime.supervisor import Supervisor, child_env
from hivemind_kafka.schemas.events import encode_batch, turn_key
from hivemind_kafka.sinks.delta_writer import read_table
from hivemind_kafka.sinks.skills_publisher import list_skills
from hivemind_kafka.streams.codifier.app import GROUP_ID, CodifierJob
from hivemind_kafka.streams.codifier.llm import AnthropicCodifier
from hivemind_kafka.streams.codifier.logic import CodifySummary
from tests.integration.test_codify import StartedJob, produce_candidates, wait_for
from tests.support.anthropic_stub import AnthropicStub, keep
from tests.unit.streams.codifier.builders import (
    bash,
    candidate,
    prompt,
    recovery_session,
    response,
    session,
)

pytestmark = pytest.mark.integration


def _skills_rows(settings):
    try:
        return read_table(settings, "skills").to_pylist()
    except Exception:
        return []


def test_corrected_sessions_become_skills_in_topic_and_delta(settings, tmp_path):
    settings = settings.replace(
        sessionizer={"idle_gap_s": 3, "arrival_grace_s": 1, "tick_interval_s": 0.5},
        lake={"flush_seconds": 0.5},
    )
    sessions = [
        recovery_session("ws-a", session_id="a1"),
        recovery_session("ws-a", session_id="a2", error="pytest: not found on PATH"),
        session([prompt("add a migration for the orders table"),
                 bash("alembic revision -m orders", "Generating versions/1_orders.py"),
                 prompt("no, use --autogenerate instead"),
                 bash("alembic revision --autogenerate -m orders", "Generating ok")],
                workspace="ws-b", session_id="b1", project="billing"),
        session([prompt("hello"), response("hi there")], workspace="ws-b", session_id="b2"),
    ]
    sup = Supervisor(env=child_env(to_env(settings)), log_dir=tmp_path / "logs",
                     components=["sessionizer", "sink", "codifier"])
    sup.start()
    try:
        producer = Producer(producer_config(settings))
        for s in sessions:
            producer.produce(settings.topics.turns, key=turn_key(s.workspace_id),
                             value=encode_batch(s.events))
        assert producer.flush(10) == 0

        def landed():
            sup.poll()
            live = list_skills(settings)
            rows = _skills_rows(settings)
            return len({s.workspace_id for s in live}) == 2 and len(rows) >= len(live) and live

        live = wait_for(landed, 180, "skills of both workspaces in the topic and in Delta")
    finally:
        sup.stop(grace_s=20)
    by_ws: dict[str, list] = {}
    for s in live:
        by_ws.setdefault(s.workspace_id, []).append(s)
    # the two pytest recoveries are one lesson: one skill in ws-a (grouped or merged)
    assert [s.name for s in by_ws["ws-a"]] == ["fix-bash-pytest"]
    assert "python -m pytest tests/" in by_ws["ws-a"][0].body
    (b,) = by_ws["ws-b"]
    assert "alembic revision --autogenerate -m orders" in b.body
    assert b.provenance.source_session_ids == ["b1"]  # the trivial session b2 is no candidate
    rows = _skills_rows(settings)
    versions = {(r["workspace_id"], r["name"], r["version"]) for r in rows if not r["retired"]}
    assert {(s.workspace_id, s.name, s.version) for s in live} <= versions


def committed_offsets(settings) -> dict[int, int]:
    c = Consumer(consumer_config(settings, group_id_for(settings, GROUP_ID)))
    try:
        topic = settings.topics.candidates
        parts = c.list_topics(topic, timeout=10).topics[topic].partitions
        got = c.committed([TopicPartition(topic, p) for p in parts], timeout=10)
        return {tp.partition: tp.offset for tp in got}
    finally:
        c.close()


def test_spent_daily_budget_holds_candidates_without_committing_them(settings):
    body = "Run the tests with:\n\n```\npython -m pytest tests/\n```\n"
    with AnthropicStub() as stub:
        stub.script(keep("run-pytest-via-python", "Use when pytest is not found.", body,
                         input_tokens=900, output_tokens=300))
        s = settings.replace(kafka={"partitions": 1}, codifier={
            "api_key": Secret("k"), "base_url": stub.base_url, "max_retries": 0,
            "daily_token_budget": 1000})
        first = candidate(recovery_session("ws-a", session_id="x1"))
        second = candidate(session([prompt("lint"), bash("ruff src", "ruff: not found", error=True),
                                    bash("python -m ruff check src", "All checks passed!")],
                                   workspace="ws-a", session_id="x2"))
        produce_candidates(s, [first])
        job = StartedJob(CodifierJob(s, summary=CodifySummary(),
                                     codifier=AnthropicCodifier(s.codifier)))
        try:
            wait_for(lambda: list_skills(s), 60, "the first skill")
            produce_candidates(s, [second])
            wait_for(lambda: len(job.job.waiting) == 1, 30, "the second candidate to wait")
            time.sleep(2)  # a few more batches: still waiting, still one model call
            assert len(stub.requests) == 1
        finally:
            job.stop()
    assert [sk.name for sk in list_skills(s)] == ["run-pytest-via-python"]
    # the waiting candidate's offset is not committed: a restart reads it again
    offsets = [o for o in committed_offsets(s).values() if o >= 0]
    assert offsets == [1]
