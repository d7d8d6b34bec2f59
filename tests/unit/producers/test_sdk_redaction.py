"""SDK redaction: every free-text field passes the edge's detector before it is queued,
dicts value by value; a field opted out (per event or per Fleet) is sent as given."""

from __future__ import annotations

import json

import pytest

from hivemind_kafka.producers.sdk.fleet import REDACTED_FIELDS, Fleet
from hivemind_kafka.runtime.errors import ContractViolation
from hivemind_kafka.schemas.events import decode_turn_record
from tests.conftest import make_settings
from tests.unit.producers.test_sdk_scope import RecordingProducer

TOKEN = "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc" * 2
PASSWORD = "Harbor!Nimbus42"


def _fleet(tmp_path, **kw) -> tuple[Fleet, RecordingProducer]:
    producer = RecordingProducer()
    fleet = Fleet(make_settings("127.0.0.1:1", tmp_path), workspace_id="ws-a",
                  agent_id="support-1", agent_kind="support", producer=producer, **kw)
    return fleet, producer


def _sent(fleet: Fleet, producer: RecordingProducer) -> str:
    fleet.flush()
    fleet.close()
    events = [e for v in producer.values for e in decode_turn_record(v)]
    return "\n".join(json.dumps({k: getattr(e, k) for k in REDACTED_FIELDS}, default=str)
                     for e in events)


def test_every_free_text_field_is_redacted_before_sending(tmp_path):
    fleet, producer = _fleet(tmp_path)
    with fleet.session("s-1") as s:
        s.prompt(f"use key {TOKEN} for the refund")
        call = s.tool_call("billing.refund", {"api_key": TOKEN, "password": PASSWORD,
                                              "amount": 1200, "note": f"auth {TOKEN}"})
        s.tool_result(call, {"ok": True, "echo": {"password": PASSWORD}})
        s.response(f"Refunded with {TOKEN}.")
        s.stop(reason=f"done, token {TOKEN}")
    sent = _sent(fleet, producer)
    assert TOKEN not in sent and PASSWORD not in sent
    assert "[REDACTED:" in sent
    assert '\\"amount\\": 1200' in sent  # structure and ordinary values stay
    assert fleet.redactions >= 6


def test_a_field_opted_out_for_one_event_is_sent_as_given(tmp_path):
    fleet, producer = _fleet(tmp_path)
    with fleet.session("s-1") as s:
        call = s.tool_call("vault.read", {"path": "kv/app"})
        s.tool_result(call, f"value={TOKEN}", unredacted=("tool_output",))
        s.response(f"Read {TOKEN}")
    sent = _sent(fleet, producer)
    assert sent.count(TOKEN) == 1  # the opted-out output, not the response


def test_fields_opted_out_for_a_fleet_apply_to_every_event(tmp_path):
    fleet, producer = _fleet(tmp_path, unredacted_fields=("text",))
    with fleet.session("s-1") as s:
        s.prompt(f"key {TOKEN}")
        call = s.tool_call("x", {"k": TOKEN})
        s.tool_result(call, TOKEN)
    sent = _sent(fleet, producer)
    assert sent.count(TOKEN) == 1  # the prompt's text only


def test_an_unknown_field_name_is_refused_with_the_valid_choices(tmp_path):
    with pytest.raises(ContractViolation, match="tool_output"):
        _fleet(tmp_path, unredacted_fields=("output",))
    fleet, _ = _fleet(tmp_path)
    with fleet.session("s-1") as s, pytest.raises(ContractViolation, match="choose from"):
        s.prompt("hello", unredacted=("prompt",))
    fleet.close()
