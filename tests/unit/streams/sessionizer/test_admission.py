"""Admission rules for decoded turns records (schemas.admission) and the processor's use of
them: a record that decodes but breaks one is dead-lettered with the rule as its detail,
and the records around it are processed as usual. Written before the rules."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest

from hivemind_kafka.schemas.admission import turn_record_problem
from hivemind_kafka.schemas.dead_letters import FailureReason, decode_dead_letter
from hivemind_kafka.schemas.events import EventKind, encode_batch, turn_key
from hivemind_kafka.schemas.sessions import session_uid
from tests.unit.streams.sessionizer.test_processor import (
    TURNS,
    Event,
    Message,
    Stream,
    ev,
    make,
    record,
)


def test_good_record_with_its_workspace_key_is_admitted():
    assert turn_record_problem([ev(0, ws="acme")], key=b"acme") is None


@pytest.mark.parametrize("key", [None, b"", b"other", b"acme ", b"\xff\xfe", b"acme" * 1000])
def test_key_other_than_the_workspace_is_refused(key):
    problem = turn_record_problem([ev(0, ws="acme")], key=key)
    assert problem is not None and "key" in problem


def test_processor_dead_letters_poison_and_keeps_the_stream():
    async def scenario():
        proc, _store, sessions, dead = make()
        sessions.auto_ack = dead.auto_ack = True
        stream = Stream()
        good = [ev(0, ws="w", sid="a"), ev(1, EventKind.SESSION_END, ws="w", sid="a")]
        mismatch = record(1, [ev(0, ws="w", sid="b")], key=b"x")
        # the contract refuses an unknown version at decode (a struct cannot even hold it)
        raw = json.loads(encode_batch([ev(0, ws="w", sid="c")]))
        for item in raw if isinstance(raw, list) else raw["events"]:
            item["schema_version"] = 999
        v999 = Event(Message(TURNS, 0, 2, json.dumps(raw).encode(), key=turn_key("w")))
        after = [ev(0, ws="w", sid="d"), ev(1, EventKind.SESSION_END, ws="w", sid="d")]
        await proc.handle_batch(stream, [record(0, good), mismatch, v999, record(3, after)],
                                more_buffered=False)
        assert sorted(sessions.uids()) == sorted([session_uid("w", "a", 0),
                                                  session_uid("w", "d", 0)])
        letters = [decode_dead_letter(v) for _, v, _ in dead.sent]
        assert [(lt.offset, lt.reason) for lt in letters] == [
            (1, FailureReason.CONTRACT_VIOLATION), (2, FailureReason.CONTRACT_VIOLATION)]
        assert sorted(stream.acked) == [0, 1, 2, 3]

    asyncio.run(scenario())


def _candidate(ws: str, session_ws: str):
    from datetime import timedelta

    from hivemind_kafka.schemas.sessions import Candidate, CandidateReason, CloseReason, Session

    t = datetime(2026, 1, 1, tzinfo=UTC)
    session = Session(session_uid="u", workspace_id=session_ws, session_id="s", agent_id="a",
                      agent_kind="coding", project="p", started_at=t,
                      ended_at=t + timedelta(seconds=1), close_reason=CloseReason.SESSION_END,
                      closed_at=t + timedelta(seconds=2), event_count=1, counts={},
                      tools_used=[])
    return Candidate(candidate_id="c", workspace_id=ws,
                     reasons=[CandidateReason.HUMAN_CORRECTION], sessions=[session],
                     created_at=t)


def test_candidate_keyed_by_its_workspace_is_admitted():
    from hivemind_kafka.schemas.admission import candidate_problem

    assert candidate_problem(_candidate("w", "w"), key=b"w") is None


@pytest.mark.parametrize(("ws", "session_ws", "key"), [
    ("w", "w", b"other"), ("w", "w", None), ("w", "w", b"\xff"), ("w", "other", b"w")])
def test_candidate_of_another_workspace_than_its_key_or_sessions_is_refused(ws, session_ws, key):
    from hivemind_kafka.schemas.admission import candidate_problem

    assert candidate_problem(_candidate(ws, session_ws), key=key) is not None
