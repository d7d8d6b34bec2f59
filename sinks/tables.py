"""The Delta tables the sink writes, as data: one :class:`TableSpec` per table in TABLES.

Migration: a contract that gains fields (TurnEvent v2: ``turn``, ``is_interrupt``;
Session v2: ``turn_count``, the edit counts, ``corrections``, ``carried_event_count``)
gains nullable columns here. A table created with the old schema keeps working: on open
the sink adds the missing nullable columns to it (:func:`missing_columns`,
``sinks.lake_table.LakeTable``), old rows read them as null, and new rows append.

A spec says which topic feeds the table (a ``TopicSettings`` attribute), the Arrow schema
(generated from the contract by ``schemas.arrow.arrow_schema``, plus partition columns),
how one Kafka record becomes rows, how rows become an Arrow table, the partition columns,
and how duplicates are recognised. To add a table, append a spec at the end of TABLES;
the sink, the metrics and ``read_table`` pick it up by name.

Row building is pure (no Kafka, no deltalake): ``rows`` raises ``msgspec.MsgspecError``
for a record that does not decode, and the sink dead-letters or skips it as
``dead_letter_undecodable`` says.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec
import pyarrow as pa
import pyarrow.compute as pc

from hivemind_kafka.schemas.arrow import arrow_schema, table_from_structs
from hivemind_kafka.schemas.events import (
    TurnEvent,
    decode_turn_record,
    turn_key,
    workspace_id_problem,
)
from hivemind_kafka.schemas.outcomes import (
    Exposure,
    Outcome,
    exposure_from_event,
    exposures_from_session_start,
    outcome_from_event,
)
from hivemind_kafka.schemas.sessions import Session, decode_session
from hivemind_kafka.schemas.skills import Skill, decode_skill, parse_skill_key, skill_key
from hivemind_kafka.sinks.outcomes import detect_outcomes


@dataclass(frozen=True, slots=True)
class SinkRecord:
    """One Kafka record as the row builders see it (``value`` None: a tombstone)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int
    # Decoded values shared by the tables fed from one record (decode once per record).
    cache: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class TableSpec:
    """How one Kafka topic becomes one Delta table.

    ``dedup_key`` (row -> key or None) drops repeats within the last ``dedup_window`` keys
    of a partition (see sinks.buffer). ``unique_key`` names a column that must hold each
    value once in the whole table: before appending, the sink drops rows whose key is
    already in the target partitions (``partition_by`` values of the batch), so every
    duplicate of it must carry the same partition values and the same Kafka key.
    """

    name: str
    topic: str  # attribute of runtime.settings.TopicSettings
    schema: pa.Schema
    rows: Callable[[SinkRecord], Sequence[Any]]
    to_arrow: Callable[[Sequence[Any]], pa.Table]
    partition_by: tuple[str, ...]
    dedup_key: Callable[[Any], Hashable | None] | None = None
    dedup_window: int = 0
    unique_key: str | None = None
    # A column every duplicate of a unique key repeats exactly (the event's own time): the
    # table check only reads rows within the batch's range of it (see LakeTable).
    unique_within: str | None = None
    # True: a record that does not decode goes to the DLQ (stage "sink"); False: it is
    # skipped and counted (the topic's upstream stage already dead-letters it).
    dead_letter_undecodable: bool = True


def _table_from_tuples(struct_type: type[msgspec.Struct], rows: Sequence[Any],
                       schema: pa.Schema) -> pa.Table:
    """Like ``table_from_structs`` but ~2x faster: ``astuple`` per row and one Arrow
    struct conversion in C++. Only for schemas holding every field of ``struct_type`` in
    order, each a plain Arrow type (checked once, by :func:`_is_tuple_compatible`)."""
    array = pa.array(list(map(msgspec.structs.astuple, rows)), type=pa.struct(list(schema)))
    return pa.Table.from_struct_array(array)


def _is_tuple_compatible(struct_type: type[msgspec.Struct], schema: pa.Schema) -> bool:
    names = [f.name for f in msgspec.structs.fields(struct_type)]
    plain = all(not (pa.types.is_map(f.type) or pa.types.is_nested(f.type)) for f in schema)
    return names == schema.names and plain


def first_per_key(data: pa.Table, key: str) -> pa.Table:
    """The first row of each ``key`` value, rows kept in arrival order."""
    if data.num_rows == 0 or pc.count_distinct(data[key]).as_py() == data.num_rows:
        return data  # the common case, at a third of the grouping's cost
    rows = pa.array(range(data.num_rows), type=pa.int64())
    firsts = (data.select([key]).append_column("__row", rows)
              .group_by(key, use_threads=False).aggregate([("__row", "min")]))
    keep = firsts["__row_min"].combine_chunks()
    return data.take(pc.take(keep, pc.array_sort_indices(keep)))


def without_keys(data: pa.Table, key: str, stored: set) -> pa.Table:
    """``data`` minus the rows whose ``key`` is in ``stored``."""
    if not stored:
        return data
    return data.filter(pc.invert(pc.is_in(data[key], value_set=pa.array(list(stored)))))


def _utc_date(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    """UTC calendar date of a timestamp[us, UTC] column."""
    return pc.cast(column, pa.date32())


def _with_date(base: pa.Table, schema: pa.Schema, source: str, date_column: str) -> pa.Table:
    table = base.append_column(schema.field(date_column), _utc_date(base[source]))
    return table.select(schema.names)


# -- events: every TurnEvent of hivemind.turns -----------------------------------------

EVENT_FIELDS = arrow_schema(TurnEvent)
EVENTS_SCHEMA = arrow_schema(TurnEvent, extra=[pa.field("ts_date", pa.date32(), nullable=False)])


def check_key(record: SinkRecord, expected: bytes) -> None:
    """A record's Kafka key must be what its value says (the workspace for turns and
    sessions, ``<workspace>/<name>`` for skills): a mismatched key puts a workspace on
    another workspace's partition and order. ``None`` (no key) is accepted."""
    if record.key is not None and record.key != expected:
        raise msgspec.ValidationError(
            f"record key ({len(record.key)} bytes) does not match the record's workspace "
            "(keys: hivemind.turns and hivemind.sessions <workspace>, hivemind.skills "
            "<workspace>/<name>)")


def event_rows(record: SinkRecord) -> list[TurnEvent]:
    events = record.cache.get("events")
    if events is None:
        if record.value is None:
            raise msgspec.ValidationError("tombstone on the turns topic")
        decoded = decode_turn_record(record.value)
        check_key(record, turn_key(decoded[0].workspace_id))
        events = record.cache["events"] = decoded
    return events


_EVENTS_AS_TUPLES = _is_tuple_compatible(TurnEvent, EVENT_FIELDS)


def events_to_arrow(rows: Sequence[TurnEvent]) -> pa.Table:
    if _EVENTS_AS_TUPLES:
        base = _table_from_tuples(TurnEvent, rows, EVENT_FIELDS)
    else:
        base = table_from_structs(TurnEvent, rows, EVENT_FIELDS)
    return _with_date(base, EVENTS_SCHEMA, "ts", "ts_date")


# -- sessions: every closed Session, without its events (those are in `events`) -------
# ``reemitted`` is not a column: a re-emission repeats a stored uid and is dropped.

_SESSION_EXCLUDED = ["events", "reemitted"]
SESSION_FIELDS = arrow_schema(Session, exclude=_SESSION_EXCLUDED)
SESSIONS_SCHEMA = arrow_schema(
    Session, exclude=_SESSION_EXCLUDED,
    extra=[pa.field("ended_date", pa.date32(), nullable=False)]
)


def session_rows(record: SinkRecord) -> list[Session]:
    sessions = record.cache.get("sessions")
    if sessions is None:
        if record.value is None:
            raise msgspec.ValidationError("tombstone on the sessions topic")
        session = decode_session(record.value)
        check_key(record, session.workspace_id.encode())
        sessions = record.cache["sessions"] = [session]
    return sessions


def sessions_to_arrow(rows: Sequence[Session]) -> pa.Table:
    base = table_from_structs(Session, rows, SESSION_FIELDS)
    return _with_date(base, SESSIONS_SCHEMA, "ended_at", "ended_date")


# -- skills: every version on the compacted skills topic; tombstones retire -------------

@dataclass(frozen=True, slots=True)
class SkillRow:
    """A skill version, or a retirement (``skill`` None) parsed from a tombstone's key."""

    workspace_id: str
    name: str
    skill: Skill | None
    published_at: datetime  # the Kafka record's timestamp

    @property
    def retired(self) -> bool:
        return self.skill is None


_SKILL_EXTRA = [
    pa.field("retired", pa.bool_(), nullable=False),
    pa.field("content_hash", pa.string()),
    pa.field("published_at", pa.timestamp("us", tz="UTC"), nullable=False),
    pa.field("created_date", pa.date32(), nullable=False),
]
_KEEP_REQUIRED = {"workspace_id", "name", "retired", "published_at", "created_date"}
# Retirement rows have no description/body/version/provenance: those columns are nullable.
SKILLS_SCHEMA = pa.schema([
    f if f.name in _KEEP_REQUIRED else f.with_nullable(True)
    for f in arrow_schema(Skill, extra=_SKILL_EXTRA)
])
_json = msgspec.json.Encoder()


def skill_rows(record: SinkRecord) -> list[SkillRow]:
    published_at = datetime.fromtimestamp(record.timestamp_ms / 1000, tz=UTC)
    if record.value is None:
        if not record.key:
            raise msgspec.ValidationError("tombstone without a key on the skills topic")
        try:
            workspace_id, name = parse_skill_key(record.key)
        except ValueError as exc:  # not UTF-8, no "/": a bad record, never a crash
            raise msgspec.ValidationError(str(exc)) from None
        if not workspace_id or not name or workspace_id_problem(workspace_id) is not None:
            raise msgspec.ValidationError("tombstone key is not <workspace>/<name> with a "
                                          "valid workspace id")
        return [SkillRow(workspace_id=workspace_id, name=name, skill=None,
                         published_at=published_at)]
    skill = decode_skill(record.value)
    check_key(record, skill_key(skill.workspace_id, skill.name))
    return [SkillRow(workspace_id=skill.workspace_id, name=skill.name, skill=skill,
                     published_at=published_at)]


def skill_dedup_key(row: SkillRow) -> Hashable | None:
    """A version re-sent by an at-least-once publisher; retirements are never deduplicated
    (retire, republish, retire again are three real rows)."""
    if row.skill is None:
        return None
    return (row.workspace_id, row.name, row.skill.version, row.skill.content_hash())


def skills_to_arrow(rows: Sequence[SkillRow]) -> pa.Table:
    columns: dict[str, list[Any]] = {
        "workspace_id": [r.workspace_id for r in rows],
        "name": [r.name for r in rows],
        "retired": [r.retired for r in rows],
        "content_hash": [None if r.skill is None else r.skill.content_hash() for r in rows],
        "published_at": [r.published_at for r in rows],
        "created_date": [
            (r.published_at if r.skill is None else r.skill.provenance.created_at)
            .astimezone(UTC).date()
            for r in rows
        ],
    }
    arrays = []
    for f in SKILLS_SCHEMA:
        if f.name in columns:
            values = columns[f.name]
        elif f.name == "provenance":
            values = [None if r.skill is None else _json.encode(r.skill.provenance).decode()
                      for r in rows]
        else:
            values = [None if r.skill is None else getattr(r.skill, f.name) for r in rows]
        arrays.append(pa.array(values, type=f.type))
    return pa.Table.from_arrays(arrays, schema=SKILLS_SCHEMA)


# -- outcomes and exposures (the measure side; see schemas/outcomes.py) ----------------
# outcomes: every `outcome` TurnEvent of hivemind.turns (any time after its session) as
# an Outcome with its label mapped to success/failure/unknown, plus outcomes detected
# from each closed session's tool calls (sinks.outcomes) on hivemind.sessions.
# exposures: every Claude Code `Skill` tool call on hivemind.turns as an invoked row, and
# one assignment row (cohort present/held_out, skill_version) per skill listed in a
# session_start event's extra "skills_in_scope" (exposure_id "<session>/<skill>/scope").

OUTCOME_FIELDS = arrow_schema(Outcome)
OUTCOMES_SCHEMA = arrow_schema(Outcome, extra=[pa.field("ts_date", pa.date32(), nullable=False)])
EXPOSURE_FIELDS = arrow_schema(Exposure)
EXPOSURES_SCHEMA = arrow_schema(Exposure, extra=[pa.field("ts_date", pa.date32(), nullable=False)])


def outcome_rows(record: SinkRecord) -> list[Outcome]:
    found = (outcome_from_event(e) for e in event_rows(record))
    return [o for o in found if o is not None]


def detected_outcome_rows(record: SinkRecord) -> list[Outcome]:
    return detect_outcomes(session_rows(record)[0].events)


def outcomes_to_arrow(rows: Sequence[Outcome]) -> pa.Table:
    return _with_date(table_from_structs(Outcome, rows, OUTCOME_FIELDS), OUTCOMES_SCHEMA,
                      "ts", "ts_date")


def exposure_rows(record: SinkRecord) -> list[Exposure]:
    rows: list[Exposure] = []
    for event in event_rows(record):
        invoked = exposure_from_event(event)
        if invoked is not None:
            rows.append(invoked)
        else:
            rows.extend(exposures_from_session_start(event))
    return rows


def exposures_to_arrow(rows: Sequence[Exposure]) -> pa.Table:
    return _with_date(table_from_structs(Exposure, rows, EXPOSURE_FIELDS), EXPOSURES_SCHEMA,
                      "ts", "ts_date")


TABLES: list[TableSpec] = [
    TableSpec(
        name="events", topic="turns", schema=EVENTS_SCHEMA,
        rows=event_rows, to_arrow=events_to_arrow,
        partition_by=("workspace_id", "ts_date"),
        # Window: the last 50,000 event_ids of each Kafka partition (25 s of a partition
        # at 2,000 events/s); forwarder and SDK retries resend within seconds. Beyond it
        # (an edge resending after a crash, a sink restart) the table check: a resent
        # event repeats its id, workspace and ts, so only that (workspace, date)
        # partition is read, and only its rows within the batch's ts range.
        dedup_key=lambda e: e.event_id, dedup_window=50_000,
        unique_key="event_id", unique_within="ts",
        # The sessionizer dead-letters bad turns records too (stage "sessionizer"); the
        # sink does as well (stage "sink") so that a sink running alone loses none. The
        # other tables on this topic skip and count (one letter per record per stage).
        dead_letter_undecodable=True,
    ),
    TableSpec(
        name="sessions", topic="sessions", schema=SESSIONS_SCHEMA,
        rows=session_rows, to_arrow=sessions_to_arrow,
        partition_by=("workspace_id", "ended_date"),
        dedup_key=lambda s: s.session_uid, dedup_window=50_000,
        # A replayed session has the same uid, workspace and ended_at (the last event's
        # time), so the unique check only looks in that (workspace, date) partition, at
        # rows ending within the batch's range.
        unique_key="session_uid", unique_within="ended_at",
    ),
    TableSpec(
        name="skills", topic="skills", schema=SKILLS_SCHEMA,
        rows=skill_rows, to_arrow=skills_to_arrow,
        partition_by=("workspace_id", "created_date"),
        dedup_key=skill_dedup_key, dedup_window=10_000,
    ),
    TableSpec(
        name="outcomes", topic="turns", schema=OUTCOMES_SCHEMA,
        rows=outcome_rows, to_arrow=outcomes_to_arrow,
        partition_by=("workspace_id", "ts_date"),
        # A re-sent outcome event keeps its event_id (= outcome_id) and ts: same partition.
        dedup_key=lambda o: o.outcome_id, dedup_window=50_000, unique_key="outcome_id",
        dead_letter_undecodable=False,
    ),
    TableSpec(
        name="detected_outcomes", topic="sessions", schema=OUTCOMES_SCHEMA,
        rows=detected_outcome_rows, to_arrow=outcomes_to_arrow,
        partition_by=("workspace_id", "ts_date"),
        # Detected ids derive from the result event's id, so a replayed session repeats them.
        dedup_key=lambda o: o.outcome_id, dedup_window=50_000, unique_key="outcome_id",
        dead_letter_undecodable=False,
    ),
    TableSpec(
        name="exposures", topic="turns", schema=EXPOSURES_SCHEMA,
        rows=exposure_rows, to_arrow=exposures_to_arrow,
        partition_by=("workspace_id", "ts_date"),
        dedup_key=lambda x: x.exposure_id, dedup_window=50_000, unique_key="exposure_id",
        dead_letter_undecodable=False,
    ),
]


def missing_columns(table_names: Sequence[str], schema: pa.Schema) -> list[pa.Field]:
    """The fields of ``schema`` a table with columns ``table_names`` lacks: the columns a
    migration adds. Raises ``ValueError`` if one of them is not nullable (an existing
    table cannot get a required column: that needs a new table)."""
    have = set(table_names)
    missing = [f for f in schema if f.name not in have]
    required = [f.name for f in missing if not f.nullable]
    if required:
        raise ValueError(f"cannot add required columns {required} to an existing table: "
                         "new contract fields must have defaults (nullable columns)")
    return missing


def table_spec(name: str, tables: Sequence[TableSpec] | None = None) -> TableSpec:
    """The spec called ``name``; the error lists the valid names."""
    for spec in TABLES if tables is None else tables:
        if spec.name == name:
            return spec
    valid = ", ".join(s.name for s in (TABLES if tables is None else tables))
    raise KeyError(f"no sink table named {name!r}: valid names are {valid}")
