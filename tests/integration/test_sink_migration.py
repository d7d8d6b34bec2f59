"""Contract v2 on a lake written by v1 (no Kafka): tables created with the old schema gain
the new nullable columns when the sink opens them, keep their old rows (read as null in
the new columns), and accept and read back the new rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from hivemind_kafka.analytics.lake import read_table
from hivemind_kafka.runtime.settings import Settings
from hivemind_kafka.schemas.events import AgentKind, EventKind, TurnEvent
from hivemind_kafka.schemas.sessions import CloseReason, Session, session_uid
from hivemind_kafka.sinks.lake_table import LakeTable
from hivemind_kafka.sinks.tables import (
    EVENTS_SCHEMA,
    SESSIONS_SCHEMA,
    events_to_arrow,
    missing_columns,
    sessions_to_arrow,
)

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
V2_SESSION_COLUMNS = ["turn_count", "edits_proposed", "edits_accepted", "edits_rejected",
                      "corrections", "carried_event_count"]
V2_EVENT_COLUMNS = ["turn", "is_interrupt"]


def v1_schema(schema: pa.Schema, new: list[str]) -> pa.Schema:
    return pa.schema([f for f in schema if f.name not in new])


def session(sid: str, **v2) -> Session:
    return Session(session_uid=session_uid("ws", sid, 0), workspace_id="ws", session_id=sid,
                   agent_id="a", agent_kind=AgentKind.CODING, project="p", started_at=T0,
                   ended_at=T0 + timedelta(minutes=5), closed_at=T0 + timedelta(minutes=6),
                   close_reason=CloseReason.SESSION_END, event_count=3, counts={"prompt": 1},
                   tools_used=["Edit"], **v2)


def event(i: int, **v2) -> TurnEvent:
    return TurnEvent(event_id=f"e{i}", workspace_id="ws", session_id="s", agent_id="a",
                     agent_kind=AgentKind.CODING, project="p", seq=i, ts=T0, kind=EventKind.PROMPT,
                     text="hi", **v2)


def test_sessions_table_written_with_the_v1_schema_accepts_and_reads_v2_rows(tmp_path):
    uri = str(tmp_path / "lake" / "sessions")
    old = v1_schema(SESSIONS_SCHEMA, V2_SESSION_COLUMNS)
    DeltaTable.create(uri, schema=old, partition_by=["workspace_id", "ended_date"])
    v1_rows = sessions_to_arrow([session("old")]).select(old.names).cast(old)
    write_deltalake(uri, v1_rows, mode="append", partition_by=["workspace_id", "ended_date"])

    table = LakeTable(uri, SESSIONS_SCHEMA, ["workspace_id", "ended_date"])  # migrates
    assert missing_columns(DeltaTable(uri).schema().to_arrow().names, SESSIONS_SCHEMA) == []
    table.append(sessions_to_arrow([session("new", turn_count=3, edits_proposed=4,
                                            edits_accepted=3, edits_rejected=1, corrections=1)]),
                 {"test-0": 0})

    settings = Settings().replace(lake={"uri": str(tmp_path / "lake")})
    rows = {r["session_id"]: r for r in read_table(settings, "sessions").to_pylist()}
    assert {c: rows["old"][c] for c in V2_SESSION_COLUMNS} == dict.fromkeys(V2_SESSION_COLUMNS)
    assert (rows["new"]["edits_accepted"], rows["new"]["edits_rejected"],
            rows["new"]["turn_count"]) == (3, 1, 3)
    # Opening it again changes nothing (the migration is idempotent).
    version = DeltaTable(uri).version()
    LakeTable(uri, SESSIONS_SCHEMA, ["workspace_id", "ended_date"])
    assert DeltaTable(uri).version() == version


def test_events_table_written_with_the_v1_schema_accepts_v2_events(tmp_path):
    uri = str(tmp_path / "events")
    old = v1_schema(EVENTS_SCHEMA, V2_EVENT_COLUMNS)
    DeltaTable.create(uri, schema=old, partition_by=["workspace_id", "ts_date"])
    write_deltalake(uri, events_to_arrow([event(0)]).select(old.names).cast(old), mode="append",
                    partition_by=["workspace_id", "ts_date"])
    table = LakeTable(uri, EVENTS_SCHEMA, ["workspace_id", "ts_date"])
    table.append(events_to_arrow([event(1, turn=2, is_interrupt=True)]), {"test-0": 0})
    rows = sorted(DeltaTable(uri).to_pyarrow_table().to_pylist(), key=lambda r: r["seq"])
    assert [(r["turn"], r["is_interrupt"]) for r in rows] == [(None, None), (2, True)]


def test_a_required_column_is_never_added_to_an_existing_table():
    schema = pa.schema([pa.field("a", pa.string(), nullable=False),
                        pa.field("b", pa.int64(), nullable=False)])
    with pytest.raises(ValueError, match="required columns"):
        missing_columns(["a"], schema)
