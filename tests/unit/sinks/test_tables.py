"""Row building: Kafka records -> rows -> Arrow tables with the generated schemas."""

from datetime import UTC, date, datetime

import msgspec
import pytest

from hivemind_kafka.schemas.events import (
    AgentKind,
    EventKind,
    TurnEvent,
    encode_batch,
    encode_event,
)
from hivemind_kafka.schemas.sessions import CloseReason, Session, encode, session_uid
from hivemind_kafka.schemas.skills import Decision, Skill, SkillProvenance, encode_skill, skill_key
from hivemind_kafka.sinks.tables import (
    EVENTS_SCHEMA,
    SESSIONS_SCHEMA,
    SKILLS_SCHEMA,
    TABLES,
    SinkRecord,
    table_spec,
)

T0 = datetime(2026, 3, 1, 23, 59, 59, tzinfo=UTC)


def _event(i: int, ws: str = "ws-a", ts: datetime = T0) -> TurnEvent:
    return TurnEvent(event_id=f"e{i}", workspace_id=ws, session_id="s1", agent_id="a1",
                     agent_kind=AgentKind.CODING, project="p", seq=i, ts=ts,
                     kind=EventKind.TOOL_CALL, tool_name="Bash", tool_input='{"c": 1}')


def _record(value: bytes | None, key: bytes | None = b"ws-a", offset: int = 0) -> SinkRecord:
    return SinkRecord(topic="t", partition=0, offset=offset, key=key, value=value,
                      timestamp_ms=int(T0.timestamp() * 1000))


def _session(uid_gen: int = 0) -> Session:
    return Session(
        session_uid=session_uid("ws-a", "s1", uid_gen), workspace_id="ws-a", session_id="s1",
        generation=uid_gen, agent_id="a1", agent_kind=AgentKind.CODING, project="p",
        started_at=T0, ended_at=T0, closed_at=T0, close_reason=CloseReason.STOP,
        event_count=2, counts={"prompt": 1, "stop": 1}, tools_used=["Bash"],
        events=[_event(1), _event(2)],
    )


def _skill(version: int = 1, body: str = "do the thing") -> Skill:
    return Skill(workspace_id="ws-a", name="fix-tests", description="how to fix tests",
                 body=body, version=version,
                 provenance=SkillProvenance(source_session_ids=["s1"], codifier="offline",
                                            decision=Decision.KEEP, created_at=T0))


def test_batch_record_yields_every_event_with_its_utc_date():
    spec = table_spec("events")
    rows = spec.rows(_record(encode_batch([_event(1), _event(2)])))
    table = spec.to_arrow(rows)
    assert table.schema == EVENTS_SCHEMA
    assert table["event_id"].to_pylist() == ["e1", "e2"]
    assert table["ts_date"].to_pylist() == [date(2026, 3, 1)] * 2


def test_single_event_record_yields_one_row():
    spec = table_spec("events")
    assert [e.event_id for e in spec.rows(_record(encode_event(_event(7))))] == ["e7"]


def test_event_date_is_the_utc_date_not_the_local_one():
    from datetime import timedelta, timezone

    late_evening_west = datetime(2026, 3, 1, 20, 0, tzinfo=timezone(timedelta(hours=-5)))
    spec = table_spec("events")
    table = spec.to_arrow([_event(1, ts=late_evening_west)])
    assert table["ts_date"].to_pylist() == [date(2026, 3, 2)]


def test_undecodable_turn_raises_a_msgspec_error():
    with pytest.raises(msgspec.MsgspecError):
        table_spec("events").rows(_record(b"not json"))


def test_every_topic_dead_letters_once_through_its_first_table():
    # A sink running alone loses no poison record; a turns record is lettered once (by
    # events), the other tables on the topic skip it.
    assert table_spec("events").dead_letter_undecodable
    assert not table_spec("outcomes").dead_letter_undecodable
    assert not table_spec("exposures").dead_letter_undecodable
    assert table_spec("sessions").dead_letter_undecodable
    assert table_spec("skills").dead_letter_undecodable


def test_session_row_has_no_events_column_and_keeps_counts_as_a_map():
    spec = table_spec("sessions")
    table = spec.to_arrow(spec.rows(_record(encode(_session()))))
    assert table.schema == SESSIONS_SCHEMA
    assert "events" not in table.column_names
    assert dict(table["counts"][0].as_py()) == {"prompt": 1, "stop": 1}
    assert table["ended_date"].to_pylist() == [date(2026, 3, 1)]
    assert table["session_uid"].to_pylist() == [session_uid("ws-a", "s1", 0)]


def test_sessions_are_unique_on_session_uid():
    assert table_spec("sessions").unique_key == "session_uid"


def test_skill_version_row_carries_provenance_as_json_and_content_hash():
    spec = table_spec("skills")
    skill = _skill()
    table = spec.to_arrow(spec.rows(_record(encode_skill(skill), key=skill_key("ws-a", "fix-tests"))))
    assert table.schema == SKILLS_SCHEMA
    row = table.to_pylist()[0]
    assert row["retired"] is False
    assert row["version"] == 1
    assert row["content_hash"] == skill.content_hash()
    assert msgspec.json.decode(row["provenance"])["codifier"] == "offline"
    assert row["created_date"] == date(2026, 3, 1)


def test_tombstone_becomes_a_retirement_row_parsed_from_the_key():
    spec = table_spec("skills")
    table = spec.to_arrow(spec.rows(_record(None, key=skill_key("ws-b", "old-skill"))))
    row = table.to_pylist()[0]
    assert row["retired"] is True
    assert (row["workspace_id"], row["name"]) == ("ws-b", "old-skill")
    assert row["body"] is None and row["version"] is None
    assert row["published_at"] == T0
    assert row["created_date"] == date(2026, 3, 1)


def test_tombstone_without_key_is_a_contract_violation():
    with pytest.raises(msgspec.ValidationError):
        table_spec("skills").rows(_record(None, key=None))


def test_resent_skill_version_has_the_same_dedup_key_and_retirements_have_none():
    spec = table_spec("skills")
    key = skill_key("ws-a", "fix-tests")
    (a,) = spec.rows(_record(encode_skill(_skill()), key=key))
    (b,) = spec.rows(_record(encode_skill(_skill()), key=key, offset=1))
    (c,) = spec.rows(_record(encode_skill(_skill(version=2, body="new")), key=key))
    (r,) = spec.rows(_record(None, key=key))
    assert spec.dedup_key(a) == spec.dedup_key(b) != spec.dedup_key(c)
    assert spec.dedup_key(r) is None


def test_every_schema_holds_its_partition_columns():
    for spec in TABLES:
        assert set(spec.partition_by) <= set(spec.schema.names), spec.name


def test_unknown_table_name_lists_the_valid_ones():
    with pytest.raises(KeyError, match="events, sessions, skills"):
        table_spec("nope")


def test_first_per_key_keeps_the_first_row_of_each_key_in_arrival_order():
    import pyarrow as pa

    from hivemind_kafka.sinks.tables import first_per_key

    data = pa.table({"k": ["b", "a", "b", "c", "a"], "n": [1, 2, 3, 4, 5]})
    assert first_per_key(data, "k").to_pydict() == {"k": ["b", "a", "c"], "n": [1, 2, 4]}


def test_without_keys_drops_stored_keys_only():
    import pyarrow as pa

    from hivemind_kafka.sinks.tables import without_keys

    data = pa.table({"k": ["a", "b", "c"]})
    assert without_keys(data, "k", {"b", "z"})["k"].to_pylist() == ["a", "c"]
    assert without_keys(data, "k", set()) is data


# -- poison rows (issue 12): written before the checks --------------------------------

@pytest.mark.parametrize("key", [b"ws-b", b"ws-a ", b"\xff\xfe"])
def test_turns_record_whose_key_is_not_its_workspace_is_a_contract_violation(key):
    with pytest.raises(msgspec.ValidationError, match="does not match"):
        table_spec("events").rows(_record(encode_batch([_event(1)]), key=key))


def test_turns_record_without_a_key_is_accepted():
    assert len(table_spec("events").rows(_record(encode_event(_event(1)), key=None))) == 1


def test_session_whose_key_is_not_its_workspace_is_a_contract_violation():
    with pytest.raises(msgspec.ValidationError, match="does not match"):
        table_spec("sessions").rows(_record(encode(_session()), key=b"ws-z"))


@pytest.mark.parametrize("key", [b"acme/\xff\xfe", b"no-slash", b"/name", b"\xe4\xb8\xad" * 28 + b"/x"])
def test_skill_tombstone_with_a_bad_key_is_a_contract_violation_not_a_crash(key):
    with pytest.raises(msgspec.ValidationError):
        table_spec("skills").rows(_record(None, key=key))


def test_skill_value_under_another_skills_key_is_a_contract_violation():
    skill = Skill(workspace_id="ws-a", name="fix-flaky", description="d", body="b", version=1,
                  provenance=SkillProvenance(source_session_ids=["s"], codifier="offline",
                                             decision=Decision.KEEP, created_at=T0))
    with pytest.raises(msgspec.ValidationError, match="does not match"):
        table_spec("skills").rows(_record(encode_skill(skill), key=skill_key("ws-a", "other")))
    assert table_spec("skills").rows(_record(encode_skill(skill), key=skill_key("ws-a", "fix-flaky")))
