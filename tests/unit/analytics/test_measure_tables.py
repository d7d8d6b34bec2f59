"""The outcomes / detected_outcomes / exposures table specs appended to sinks.tables."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

from hivemind_kafka.schemas.events import (
    AgentKind,
    EventKind,
    TurnEvent,
    encode_batch,
    encode_event,
)
from hivemind_kafka.schemas.sessions import CloseReason, Session, encode
from hivemind_kafka.sinks.tables import SinkRecord, table_spec

T0 = datetime(2026, 11, 2, 23, 59, tzinfo=UTC)


def _event(i: int, kind: EventKind, **fields) -> TurnEvent:
    return TurnEvent(event_id=f"e{i}", workspace_id="ws", session_id="s1", agent_id="a1",
                     agent_kind=AgentKind.CODING, project="p", seq=i,
                     ts=T0 + timedelta(minutes=i), kind=kind, **fields)


def _record(value: bytes, topic: str = "turns") -> SinkRecord:
    return SinkRecord(topic=topic, partition=0, offset=7, key=b"ws", value=value, timestamp_ms=0)


def test_outcome_events_become_rows_with_mapped_result_and_date():
    events = [
        _event(1, EventKind.PROMPT, text="hi"),
        _event(2, EventKind.OUTCOME, outcome="Tests Passed"),
        _event(3, EventKind.OUTCOME, outcome="mystery"),
    ]
    spec = table_spec("outcomes")
    rows = spec.rows(_record(encode_batch(events)))
    table = spec.to_arrow(rows)
    assert table.schema == spec.schema
    assert table.column("outcome_id").to_pylist() == ["e2", "e3"]
    assert table.column("label").to_pylist() == ["tests_passed", "mystery"]
    assert table.column("result").to_pylist() == ["success", "unknown"]
    # 23:59 + 2 minutes is the next UTC day.
    assert table.column("ts_date").to_pylist() == [date(2026, 11, 3)] * 2


def test_skill_tool_calls_become_invoked_exposure_rows():
    events = [
        _event(1, EventKind.TOOL_CALL, tool_name="Skill", tool_use_id="t1",
               tool_input=json.dumps({"skill": "fix-flaky-tests"})),
        _event(2, EventKind.TOOL_CALL, tool_name="Bash", tool_use_id="t2",
               tool_input=json.dumps({"command": "ls"})),
    ]
    spec = table_spec("exposures")
    table = spec.to_arrow(spec.rows(_record(encode_event(events[0]))) +
                          spec.rows(_record(encode_event(events[1]))))
    assert table.column("skill_name").to_pylist() == ["fix-flaky-tests"]
    assert table.column("invoked").to_pylist() == [True]
    assert table.column("cohort").to_pylist() == [None]


def test_closed_sessions_yield_detected_outcomes_with_stable_ids():
    events = [
        _event(1, EventKind.TOOL_CALL, tool_name="Bash", tool_use_id="t1",
               tool_input=json.dumps({"command": "pytest -q"})),
        _event(2, EventKind.TOOL_RESULT, tool_name="Bash", tool_use_id="t1",
               tool_output="3 passed in 0.1s"),
    ]
    session = Session(session_uid="u1", workspace_id="ws", session_id="s1", agent_id="a1",
                      agent_kind=AgentKind.CODING, project="p", started_at=T0, ended_at=T0,
                      closed_at=T0, close_reason=CloseReason.STOP, event_count=2, counts={},
                      tools_used=["Bash"], events=events)
    spec = table_spec("detected_outcomes")
    first = spec.to_arrow(spec.rows(_record(encode(session), "sessions")))
    again = spec.to_arrow(spec.rows(_record(encode(session), "sessions")))
    assert first.column("label").to_pylist() == ["tests_passed"]
    assert first.column("source").to_pylist() == ["detected"]
    assert first.column("outcome_id").to_pylist() == again.column("outcome_id").to_pylist()


def test_skill_windows_read_the_sink_skills_table_shape():
    from hivemind_kafka.analytics.attribution import skill_windows
    from hivemind_kafka.schemas.skills import (
        Decision,
        Skill,
        SkillProvenance,
        encode_skill,
        skill_key,
    )

    def skill(version: int) -> bytes:
        return encode_skill(Skill(
            workspace_id="ws", name="use-rg", description="d", body="b", version=version,
            provenance=SkillProvenance(source_session_ids=["s"], codifier="offline",
                                       decision=Decision.KEEP, created_at=T0)))

    spec = table_spec("skills")
    ms = int(T0.timestamp() * 1000)
    records = [
        SinkRecord(topic="skills", partition=0, offset=0, key=skill_key("ws", "use-rg"),
                   value=skill(1), timestamp_ms=ms),
        SinkRecord(topic="skills", partition=0, offset=1, key=skill_key("ws", "use-rg"),
                   value=skill(2), timestamp_ms=ms + 3_600_000),
        SinkRecord(topic="skills", partition=0, offset=2, key=skill_key("ws", "use-rg"),
                   value=None, timestamp_ms=ms + 7_200_000),
    ]
    table = spec.to_arrow([row for r in records for row in spec.rows(r)])
    # Each version is measured on its own: v2 starts its own clock; the tombstone ends it.
    v1, v2 = skill_windows(table)
    assert (v1.version, v1.published_at, v1.retired_at, v1.superseded) == (
        1, T0, T0 + timedelta(hours=1), True)
    assert (v2.version, v2.published_at, v2.retired_at, v2.superseded) == (
        2, T0 + timedelta(hours=1), T0 + timedelta(hours=2), False)
    assert v1.content_hash is not None  # read from the sink's column
