"""Poison inputs the contract itself refuses: workspace ids that cannot name a lake
directory, unknown schema versions, absurd timestamps, non-UTF-8 skill keys.

Written before the checks in schemas/ (issue 12): each case decoded silently before.
"""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest

from hivemind_kafka.schemas.events import (
    WORKSPACE_ID_MAX_BYTES,
    decode_turn_record,
    encode_event,
    workspace_id_problem,
)
from hivemind_kafka.schemas.skills import SkillKeyInvalid, parse_skill_key


def event_json(**over) -> bytes:
    base = {"event_id": "e1", "workspace_id": "acme", "session_id": "s", "agent_id": "a",
            "agent_kind": "coding", "project": "p", "seq": 0,
            "ts": "2026-12-07T05:00:00Z", "kind": "prompt", "text": "hi"}
    base.update(over)
    return msgspec.json.encode(base)


@pytest.mark.parametrize("ws", [
    "中" * 28,  # 84 bytes: percent-encoded 252 + "workspace_id=" > 255
    "x" * 243,
    "x" * (WORKSPACE_ID_MAX_BYTES + 1),
    "\U0001F600" * 21,
    " acme", "acme ", "ac\nme", "ac\x00me", "ac\u2028me", "",
])
def test_workspace_id_that_cannot_name_a_lake_directory_is_a_contract_violation(ws):
    with pytest.raises(msgspec.ValidationError):
        decode_turn_record(event_json(workspace_id=ws))
    assert workspace_id_problem(ws) is not None


@pytest.mark.parametrize("ws", ["acme", "中" * 26, "x" * WORKSPACE_ID_MAX_BYTES, "a b/c:%é",
                                "\U0001F600" * 20, "..", "team/eu"])
def test_workspace_id_at_the_bound_decodes(ws):
    assert decode_turn_record(event_json(workspace_id=ws))[0].workspace_id == ws


def test_batch_with_oversized_workspace_is_a_contract_violation():
    raw = msgspec.json.encode({"workspace_id": "中" * 28, "session_id": "s",
                               "events": [msgspec.json.decode(event_json(workspace_id="中" * 28))]})
    with pytest.raises(msgspec.ValidationError):
        decode_turn_record(raw)


@pytest.mark.parametrize("version", [0, 3, 999, -1])
def test_unknown_schema_version_is_a_contract_violation(version):
    with pytest.raises(msgspec.ValidationError, match="schema_version"):
        decode_turn_record(event_json(schema_version=version))


@pytest.mark.parametrize("version", [1, 2])
def test_known_schema_versions_decode(version):
    assert decode_turn_record(event_json(schema_version=version))[0].schema_version == version


@pytest.mark.parametrize("ts", ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z",
                                "1999-12-31T23:59:59Z", "2100-01-01T00:00:00Z"])
def test_absurd_timestamp_is_a_contract_violation(ts):
    with pytest.raises(msgspec.ValidationError, match="accepted range"):
        decode_turn_record(event_json(ts=ts))


@pytest.mark.parametrize("ts", ["2000-01-01T00:00:00Z", "2099-12-31T23:59:59Z"])
def test_timestamp_at_the_range_edges_decodes(ts):
    event = decode_turn_record(event_json(ts=ts))[0]
    assert event.ts.tzinfo is not None
    assert decode_turn_record(encode_event(event))[0] == event


def test_session_with_absurd_end_or_bad_workspace_is_refused():
    from hivemind_kafka.schemas.sessions import decode_session, encode
    from tests.integration.test_sink import a_session  # a valid session builder

    good = msgspec.json.decode(encode(a_session("acme", "s1")))
    for over in ({"ended_at": "9999-01-01T00:00:00Z"}, {"workspace_id": "中" * 28},
                 {"schema_version": 999}):
        with pytest.raises(msgspec.ValidationError):
            decode_session(msgspec.json.encode({**good, **over}))
    assert decode_session(msgspec.json.encode(good)).workspace_id == "acme"


@pytest.mark.parametrize("key", [b"acme/\xff\xfe", b"\xff", b"no-slash"])
def test_bad_skill_key_raises_a_value_error_not_a_crash(key):
    with pytest.raises(SkillKeyInvalid):
        parse_skill_key(key)
    assert issubclass(SkillKeyInvalid, ValueError)


def test_direct_construction_with_year_one_raises():
    from hivemind_kafka.schemas.events import AgentKind, EventKind, TurnEvent

    with pytest.raises(ValueError):
        TurnEvent(event_id="e", workspace_id="w", session_id="s", agent_id="a",
                  agent_kind=AgentKind.CODING, project="p", seq=0,
                  ts=datetime(1, 1, 1, tzinfo=UTC), kind=EventKind.PROMPT)


def test_install_refuses_a_workspace_id_that_cannot_name_a_lake_directory(tmp_path, monkeypatch,
                                                                          capsys):
    from hivemind_kafka.cli.main import main

    monkeypatch.setenv("HIVEMIND_HOME", str(tmp_path / "home"))
    target = tmp_path / "settings.json"
    code = main(["install", "--settings-file", str(target), "--workspace", "中" * 28])
    assert code == 2
    assert "1 to 80 bytes" in capsys.readouterr().err
    assert not target.exists()  # nothing installed
