"""The skills publisher dates its records: a skill by its created_at (what the sink's
published_at and the sync read), a tombstone by the retirement time it is given."""

from __future__ import annotations

from datetime import UTC, datetime

from hivemind_kafka.runtime.settings import Settings
from hivemind_kafka.schemas.skills import Decision, Skill, SkillProvenance
from hivemind_kafka.sinks.skills_publisher import SkillsPublisher

CREATED = datetime(2026, 11, 13, 17, 30, tzinfo=UTC)  # weeks before the test runs


class RecordingProducer:
    """The confluent Producer calls the publisher makes; delivers every record at once."""

    def __init__(self) -> None:
        self.records: list[dict] = []
        self._pending: list = []

    def produce(self, topic, key=None, value=None, headers=None, timestamp=0, on_delivery=None):
        self.records.append({"key": key, "value": value, "timestamp": timestamp})
        self._pending.append(on_delivery)

    def poll(self, timeout=0):
        for report in self._pending:
            report(None, _Msg())
        self._pending = []
        return 0

    def flush(self, timeout=0):
        return 0


class _Msg:
    def partition(self):
        return 0

    def offset(self):
        return 0


def skill() -> Skill:
    return Skill(workspace_id="acme", name="fix-tests", description="how to fix tests",
                 body="run python -m pytest", version=1,
                 provenance=SkillProvenance(source_session_ids=["s1"], codifier="offline",
                                            decision=Decision.KEEP, created_at=CREATED))


def test_a_skill_record_carries_its_creation_time_not_the_wall_clock():
    producer = RecordingProducer()
    SkillsPublisher(Settings(), producer=producer).publish(skill())
    assert producer.records[0]["timestamp"] == int(CREATED.timestamp() * 1000)


def test_a_tombstone_carries_the_given_retirement_time_else_the_producers_now():
    producer = RecordingProducer()
    publisher = SkillsPublisher(Settings(), producer=producer)
    publisher.retire("acme", "fix-tests", reason="harmful", at=CREATED)
    publisher.retire("acme", "fix-tests", reason="harmful")
    assert [r["value"] for r in producer.records] == [None, None]
    assert producer.records[0]["timestamp"] == int(CREATED.timestamp() * 1000)
    assert producer.records[1]["timestamp"] == 0  # librdkafka: 0 means "now"
