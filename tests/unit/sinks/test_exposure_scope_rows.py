"""Exposures table: a session_start carrying skills_in_scope yields one assignment row per
skill (cohort, version, deterministic id) besides the invoked rows of Skill tool calls."""

import json
from datetime import UTC, date, datetime

from hivemind_kafka.schemas.events import AgentKind, EventKind, TurnEvent, encode_batch
from hivemind_kafka.sinks.tables import EXPOSURES_SCHEMA, SinkRecord, table_spec

T0 = datetime(2026, 3, 1, 23, 59, 59, tzinfo=UTC)


def _event(seq: int, kind: EventKind, **kw) -> TurnEvent:
    return TurnEvent(event_id=f"e{seq}", workspace_id="ws-a", session_id="s1", agent_id="a1",
                     agent_kind=AgentKind.CODING, project="p", seq=seq, ts=T0, kind=kind, **kw)


def _start(extra: object) -> TurnEvent:
    text = extra if isinstance(extra, str) else json.dumps(extra)
    return _event(0, EventKind.SESSION_START, extra=text)


def _rows(*events: TurnEvent):
    record = SinkRecord(topic="t", partition=0, offset=0, key=b"ws-a",
                        value=encode_batch(list(events)), timestamp_ms=0)
    return table_spec("exposures").rows(record)


SCOPE = {"cwd": "/work/app", "source": "startup", "skills_in_scope": [
    {"name": "fix-flaky-tests", "version": 3, "cohort": "present"},
    {"name": "use-ripgrep", "version": 1, "cohort": "held_out"},
]}


def test_session_start_with_skills_in_scope_yields_one_assignment_row_per_skill():
    rows = _rows(_start(SCOPE))
    assert [(r.exposure_id, r.skill_name, r.skill_version, r.cohort, r.invoked) for r in rows] == [
        ("s1/fix-flaky-tests/scope", "fix-flaky-tests", 3, "present", False),
        ("s1/use-ripgrep/scope", "use-ripgrep", 1, "held_out", False),
    ]
    assert {(r.workspace_id, r.session_id, r.agent_id, r.ts) for r in rows} == {
        ("ws-a", "s1", "a1", T0)}


def test_scope_rows_and_invoked_rows_come_from_one_batch():
    call = _event(1, EventKind.TOOL_CALL, tool_name="Skill",
                  tool_input='{"skill": "fix-flaky-tests"}')
    rows = _rows(_start(SCOPE), call)
    assert sorted((r.skill_name, r.cohort or "", r.invoked) for r in rows) == [
        ("fix-flaky-tests", "", True), ("fix-flaky-tests", "present", False),
        ("use-ripgrep", "held_out", False)]
    table = table_spec("exposures").to_arrow(rows)
    assert table.schema == EXPOSURES_SCHEMA
    assert set(table.column("ts_date").to_pylist()) == {date(2026, 3, 1)}


def test_replayed_session_start_repeats_the_same_exposure_ids():
    spec = table_spec("exposures")
    first = [spec.dedup_key(r) for r in _rows(_start(SCOPE))]
    again = [spec.dedup_key(r) for r in _rows(_start(SCOPE))]
    assert first == again and len(set(first)) == 2 and spec.unique_key == "exposure_id"


def test_malformed_scope_entries_are_skipped_not_guessed():
    extra = {"skills_in_scope": [
        {"name": "ok", "version": 2, "cohort": "held_out"},
        {"name": "bad-cohort", "version": 1, "cohort": "maybe"},
        {"name": "", "version": 1, "cohort": "present"},
        {"name": "bad-version", "version": "1", "cohort": "present"},
        "not-an-object",
        {"name": "ok", "version": 9, "cohort": "present"},  # repeat: first one wins
    ]}
    assert [(r.skill_name, r.skill_version, r.cohort) for r in _rows(_start(extra))] == [
        ("ok", 2, "held_out")]


def test_session_start_without_scope_or_with_unreadable_extra_yields_no_rows():
    assert _rows(_start({"source": "startup"})) == []
    assert _rows(_start('{"skills_in_scope": [{"name": "x", "ver')) == []
    assert _rows(_start({"skills_in_scope": {"name": "x"}})) == []


def test_scope_in_a_non_start_event_is_ignored():
    prompt = _event(1, EventKind.PROMPT, text="hi", extra=json.dumps(SCOPE))
    assert _rows(prompt) == []
