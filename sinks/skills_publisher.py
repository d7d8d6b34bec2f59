"""Publishing skills to the compacted skills topic, and reading it back.

Guarantee: :meth:`SkillsPublisher.publish` returns only after the broker's delivery
report confirms the record (``runtime.kafka.produce_confirmed``: idempotent producer,
``acks=all``); otherwise it raises :class:`runtime.errors.DeliveryNotConfirmed` and the
caller must treat the skill as *not* published. Keys are
``schemas.skills.skill_key(workspace, name)`` with the murmur2 partitioner set explicitly
(``runtime.kafka.producer_config``), so a Java or Go client puts a workspace's skill on
the same partition. A retirement is a tombstone (null value) on the same key; the Delta
sink turns it into a retirement row.

Reading: :func:`skill_log` is the topic's whole state at the moment of the call
(``runtime.kafka.read_to_end``), decoded, in log order: the codifier rebuilds its library
from it at every start (``Library.from_log``: what makes a restart publish nothing
twice); :func:`read_skill_log` keeps the latest value per key (``None``: retired), which
``hivemind skills list/show/retire`` read. Records whose key is not
``<workspace>/<name>`` in UTF-8 or whose value is not a Skill are skipped and logged by
coordinates (the sink dead-letters them).
"""

from __future__ import annotations

import logging
from datetime import datetime

from hivemind_kafka.runtime.errors import BrokerUnavailable
from hivemind_kafka.runtime.kafka import produce_confirmed, producer_config, read_to_end
from hivemind_kafka.runtime.settings import Settings
from hivemind_kafka.schemas.skills import (
    PublishedSkill,
    Skill,
    SkillLogEntry,
    decode_skill_log,
    encode_skill,
    skill_key,
)

log = logging.getLogger(__name__)


class SkillsPublisher:
    """Publishes skill versions and tombstones, one confirmed record at a time."""

    def __init__(self, settings: Settings, *, producer=None) -> None:
        from confluent_kafka import Producer

        self.topic = settings.topics.skills
        self._producer = producer or Producer(producer_config(settings, **{"linger.ms": 5}))

    def publish(self, skill: Skill, *, timeout_s: float = 30.0) -> None:
        """Produce ``skill`` and wait for its delivery report (raises DeliveryNotConfirmed)."""
        # The record's timestamp is the skill's creation time: readers date the version
        # by it (the sink's published_at, the sync), and under a simulated clock
        # (runtime.clock) that is event time, not the wall clock of the publish.
        created_ms = int(skill.provenance.created_at.timestamp() * 1000)
        self._produce(skill_key(skill.workspace_id, skill.name), encode_skill(skill),
                      [("hivemind.content_hash", skill.content_hash().encode())], timeout_s,
                      timestamp_ms=created_ms)

    def retire(self, workspace_id: str, name: str, *, reason: str = "",
               timeout_s: float = 30.0, at: datetime | None = None) -> None:
        """Tombstone the skill (the reason travels as a header; compaction keeps the key).
        ``at``: the retirement time the record carries (default: the producer's now; a
        simulated clock passes its own, runtime.clock)."""
        headers = [("hivemind.retire_reason", reason[:500].encode())] if reason else []
        self._produce(skill_key(workspace_id, name), None, headers, timeout_s,
                      timestamp_ms=int(at.timestamp() * 1000) if at is not None else 0)

    def _produce(self, key: bytes, value: bytes | None, headers: list[tuple[str, bytes]],
                 timeout_s: float, timestamp_ms: int = 0) -> None:
        partition, offset = produce_confirmed(self._producer, self.topic, key=key, value=value,
                                              headers=headers, timeout_s=timeout_s,
                                              timestamp_ms=timestamp_ms)
        log.info("published key=%s partition=%s[%d] offset=%d", key.decode(), self.topic,
                 partition, offset)

    def close(self, timeout_s: float = 10.0) -> None:
        self._producer.flush(timeout_s)

    def __enter__(self) -> SkillsPublisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def skill_log(settings: Settings, *, timeout_s: float = 30.0) -> list[SkillLogEntry]:
    """Every record of the skills topic up to its end, decoded, in log order:
    ``((workspace, name), PublishedSkill)`` or ``((workspace, name), None)`` for a
    tombstone (``schemas.skills.decode_skill_log``: hostile records are left out and
    counted). Raises BrokerUnavailable when the topic cannot be read to its end in time."""
    topic = settings.topics.skills
    read = read_to_end(settings, topic, group_id="hivemind-skills-reader", timeout_s=timeout_s)
    if not read.complete:
        raise BrokerUnavailable(f"reading {topic} to its end timed out after {timeout_s:g}s")
    decoded = decode_skill_log((r.key, r.value, r.timestamp_ms) for r in read.records)
    if decoded.bad_keys or decoded.undecodable:
        log.warning("%s: skipped %d records whose key is not <workspace>/<name> in UTF-8 "
                    "and %d whose value is not a skill", topic, decoded.bad_keys,
                    decoded.undecodable)
    return decoded.entries


def read_skill_log(settings: Settings, *, timeout_s: float = 30.0
                   ) -> dict[tuple[str, str], PublishedSkill | None]:
    """Latest value per (workspace, name); ``None`` = retired."""
    return dict(skill_log(settings, timeout_s=timeout_s))


def list_skills(settings: Settings, workspace_id: str | None = None) -> list[Skill]:
    """Live skills (latest versions), optionally of one workspace, sorted by name."""
    state = read_skill_log(settings)
    return sorted((p.skill for (ws, _), p in state.items()
                   if p is not None and workspace_id in (None, ws)),
                  key=lambda s: (s.workspace_id, s.name))


def retire_skill(settings: Settings, workspace_id: str, name: str, *, reason: str = "") -> bool:
    """Tombstone a live skill; False when it is not live (nothing is produced)."""
    state = read_skill_log(settings)
    if state.get((workspace_id, name)) is None:
        return False
    with SkillsPublisher(settings) as publisher:
        publisher.retire(workspace_id, name, reason=reason)
    return True
