"""SDK exposure: open_session(skills_in_scope=...) puts the skill versions a session
starts with into its session_start's extra, in the shape the exposures table reads."""

from __future__ import annotations

import json

import pytest

from hivemind_kafka.producers.sdk import Fleet
from hivemind_kafka.runtime.errors import ContractViolation
from hivemind_kafka.schemas.events import EventKind, decode_turn_record
from hivemind_kafka.schemas.outcomes import exposures_from_session_start
from tests.conftest import make_settings


class RecordingProducer:
    """A small in-memory stand-in for the producer interface the Fleet uses."""

    def __init__(self) -> None:
        self.values: list[bytes] = []

    def produce(self, topic, key=None, value=None, on_delivery=None):
        self.values.append(value)
        if on_delivery is not None:
            on_delivery(None, None)

    def poll(self, timeout=0):
        return 0

    def flush(self, timeout=None):
        return 0


@pytest.fixture
def fleet(tmp_path):
    producer = RecordingProducer()
    fleet = Fleet(make_settings("127.0.0.1:1", tmp_path), workspace_id="ws-a",
                  agent_id="support-1", agent_kind="support", producer=producer)
    yield fleet, producer
    fleet.close()


def _events(producer: RecordingProducer):
    return [e for v in producer.values for e in decode_turn_record(v)]


def test_open_session_records_skills_in_scope_on_the_session_start(fleet):
    fleet, producer = fleet
    rec = fleet.open_session("s-1", skills_in_scope=[
        ("refund-policy", 3, "present"),
        {"name": "escalation-tone", "version": 1, "cohort": "held_out"}])
    rec.stop()
    fleet.flush()
    start = _events(producer)[0]
    assert start.kind == EventKind.SESSION_START
    assert json.loads(start.extra)["skills_in_scope"] == [
        {"name": "refund-policy", "version": 3, "cohort": "present"},
        {"name": "escalation-tone", "version": 1, "cohort": "held_out"}]
    rows = exposures_from_session_start(start)
    assert [(r.exposure_id, r.skill_version, r.cohort, r.agent_id) for r in rows] == [
        ("s-1/refund-policy/scope", 3, "present", "support-1"),
        ("s-1/escalation-tone/scope", 1, "held_out", "support-1")]


def test_session_context_manager_passes_skills_in_scope(fleet):
    fleet, producer = fleet
    with fleet.session("s-2", skills_in_scope=[("refund-policy", 3, "present")]) as s:
        s.prompt("hi")
    fleet.flush()
    assert [r.skill_name for r in exposures_from_session_start(_events(producer)[0])] == [
        "refund-policy"]


def test_session_without_scope_has_no_extra(fleet):
    fleet, producer = fleet
    fleet.open_session("s-3").stop()
    fleet.flush()
    assert _events(producer)[0].extra is None


@pytest.mark.parametrize("bad", [
    [("refund-policy", 3, "treated")],
    [("", 3, "present")],
    [("refund-policy", "3", "present")],
    [("refund-policy", 3)],
    [{"name": "refund-policy"}],
])
def test_malformed_scope_is_rejected_before_anything_is_sent(fleet, bad):
    fleet, producer = fleet
    with pytest.raises(ContractViolation, match="present, held_out"):
        fleet.open_session("s-4", skills_in_scope=bad)
    fleet.flush()
    assert producer.values == []


def test_scope_without_a_session_start_is_refused(fleet):
    fleet, _ = fleet
    with pytest.raises(ContractViolation, match="start=True"):
        fleet.open_session("s-5", start=False, skills_in_scope=[("x", 1, "present")])
