"""Publishing skills to the compacted skills topic, and reading it back.

Guarantee: :meth:`SkillsPublisher.publish` returns only after the broker's delivery
report confirms the record (idempotent producer, ``acks=all``); otherwise it raises
:class:`SkillNotDelivered` and the caller must treat the skill as *not* published. Keys
are ``schemas.skills.skill_key(workspace, name)`` with the murmur2 partitioner set
explicitly (``runtime.kafka.producer_config``), so a Java or Go client puts a workspace's
skill on the same partition. A retirement is a tombstone (null value) on the same key;
the Delta sink turns it into a retirement row.

Reading: :func:`read_skill_log` assigns every partition from the beginning and reads to
the high watermark observed at start, so it returns the topic's complete state at that
moment (latest value per key, ``None`` for a tombstone). :func:`load_library` folds it
into a :class:`streams.codifier.library.Library`: the codifier's state is the topic
itself, rebuilt at every start, which is what makes a restart publish nothing twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

from runtime.errors import BrokerUnavailable, HivemindError
from runtime.kafka import consumer_config, producer_config
from runtime.settings import Settings
from schemas.skills import Skill, decode_skill, encode_skill, parse_skill_key, skill_key
from streams.codifier.library import Library

log = logging.getLogger(__name__)


class SkillNotDelivered(HivemindError):
    """The broker did not confirm a skill record; it is not published (retry it)."""


class SkillsPublisher:
    """Publishes skill versions and tombstones, one confirmed record at a time."""

    def __init__(self, settings: Settings, *, producer=None) -> None:
        from confluent_kafka import Producer

        self.topic = settings.topics.skills
        self._producer = producer or Producer(producer_config(settings, **{"linger.ms": 5}))

    def publish(self, skill: Skill, *, timeout_s: float = 30.0) -> None:
        """Produce ``skill`` and wait for its delivery report (raises SkillNotDelivered)."""
        self._produce(skill_key(skill.workspace_id, skill.name), encode_skill(skill),
                      [("hivemind.content_hash", skill.content_hash().encode())], timeout_s)

    def retire(self, workspace_id: str, name: str, *, reason: str = "",
               timeout_s: float = 30.0) -> None:
        """Tombstone the skill (the reason travels as a header; compaction keeps the key)."""
        headers = [("hivemind.retire_reason", reason[:500].encode())] if reason else []
        self._produce(skill_key(workspace_id, name), None, headers, timeout_s)

    def _produce(self, key: bytes, value: bytes | None, headers: list, timeout_s: float) -> None:
        outcome: list = []
        self._producer.produce(self.topic, key=key, value=value, headers=headers,
                               on_delivery=lambda err, msg: outcome.append((err, msg)))
        deadline = time.monotonic() + timeout_s
        while not outcome and time.monotonic() < deadline:
            self._producer.poll(min(0.5, max(0.0, deadline - time.monotonic())))
        if not outcome:
            raise SkillNotDelivered(
                f"no delivery report for {key.decode()} on {self.topic} within {timeout_s}s: "
                "is Kafka reachable? the skill was not published and will be retried")
        err, msg = outcome[0]
        if err is not None:
            raise SkillNotDelivered(f"{key.decode()} on {self.topic} failed: {err}")
        log.info("published key=%s partition=%s[%d] offset=%d", key.decode(), self.topic,
                 msg.partition(), msg.offset())

    def close(self, timeout_s: float = 10.0) -> None:
        self._producer.flush(timeout_s)

    def __enter__(self) -> SkillsPublisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def iter_skill_records(settings: Settings, *, timeout_s: float = 30.0
                       ) -> Iterator[tuple[bytes, bytes | None]]:
    """(key, value) of every record of the skills topic up to its high watermarks at start,
    in partition order. Raises BrokerUnavailable when the topic cannot be read in time."""
    from confluent_kafka import Consumer, KafkaException, TopicPartition

    topic = settings.topics.skills
    consumer = Consumer(consumer_config(settings, group_id="hivemind-skills-reader",
                                        **{"enable.partition.eof": False}))
    try:
        md = consumer.list_topics(topic, timeout=timeout_s)
        meta = md.topics.get(topic)
        if meta is None or meta.error is not None:
            raise BrokerUnavailable(f"skills topic {topic} is missing: run `hivemind topics`")
        ends: dict[int, int] = {}
        starts = []
        for p in sorted(meta.partitions):
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout_s)
            if high > low:
                ends[p] = high
                starts.append(TopicPartition(topic, p, low))
        if not starts:
            return
        consumer.assign(starts)
        deadline = time.monotonic() + timeout_s
        while ends:
            if time.monotonic() > deadline:
                raise BrokerUnavailable(f"reading {topic} to its high watermark timed out")
            msg = consumer.poll(0.2)
            if msg is not None:
                if msg.error():
                    raise BrokerUnavailable(f"reading {topic}: {msg.error()}")
                # Every record received is yielded, even past the watermark read at
                # start: tansu reports a partition's high watermark as its last *batch*'s
                # base offset + 1, so filtering on it would drop the rest of that batch.
                if msg.partition() in ends:
                    yield msg.key() or b"", msg.value()
            # By position, not by the last offset seen: compaction and control records
            # leave gaps, so the record at high - 1 may never arrive.
            for tp in consumer.position([TopicPartition(topic, p) for p in ends]):
                if tp.offset >= ends[tp.partition]:
                    del ends[tp.partition]
    except KafkaException as exc:
        raise BrokerUnavailable(f"cannot read {topic}: {exc}") from None
    finally:
        consumer.close()


def _parsed_key(key: bytes) -> tuple[str, str] | None:
    """The key's (workspace, name), or None (logged) for a key that is not one: a bad key
    on the compacted topic stays there, so it is skipped, never fatal."""
    try:
        return parse_skill_key(key)
    except ValueError as exc:
        log.warning("skill record with an invalid key ignored: %s", exc)
        return None


def read_skill_log(settings: Settings, *, timeout_s: float = 30.0
                   ) -> dict[tuple[str, str], Skill | None]:
    """Latest value per (workspace, name); ``None`` = retired. Undecodable values are
    logged by coordinates and ignored (the sink dead-letters them)."""
    state: dict[tuple[str, str], Skill | None] = {}
    for key, value in iter_skill_records(settings, timeout_s=timeout_s):
        parsed = _parsed_key(key)
        if parsed is None:
            continue
        ws, name = parsed
        if value is None:
            state[(ws, name)] = None
            continue
        try:
            state[(ws, name)] = decode_skill(value)
        except ValueError:
            log.warning("undecodable skill record key=%s: ignored", key[:200])
    return state


def load_library(settings: Settings, *, timeout_s: float = 30.0) -> Library:
    """The codifier's library, rebuilt from every record of the skills topic (in order,
    so versions and tombstones are replayed exactly as published)."""
    library = Library()
    for key, value in iter_skill_records(settings, timeout_s=timeout_s):
        parsed = _parsed_key(key)
        if parsed is None:
            continue
        ws, name = parsed
        if value is None:
            library.apply((ws, name), None)
            continue
        try:
            library.apply((ws, name), decode_skill(value))
        except ValueError:
            log.warning("undecodable skill record key=%s: ignored", key[:200])
    return library


def list_skills(settings: Settings, workspace_id: str | None = None) -> list[Skill]:
    """Live skills (latest versions), optionally of one workspace, sorted by name."""
    state = read_skill_log(settings)
    return sorted((s for (ws, _), s in state.items()
                   if s is not None and workspace_id in (None, ws)),
                  key=lambda s: (s.workspace_id, s.name))


def retire_skill(settings: Settings, workspace_id: str, name: str, *, reason: str = "") -> bool:
    """Tombstone a live skill; False when it is not live (nothing is produced)."""
    state = read_skill_log(settings)
    if state.get((workspace_id, name)) is None:
        return False
    with SkillsPublisher(settings) as publisher:
        publisher.retire(workspace_id, name, reason=reason)
    return True


def skill_md(skill: Skill) -> str:
    """The SKILL.md text of a skill (front matter + body), as agents load it."""
    desc = skill.description.replace("\n", " ")
    quoted = '"' + desc.replace("\\", "\\\\").replace('"', '\\"') + '"'
    prov = skill.provenance
    lines = ["---", f"name: {skill.name}", f"description: {quoted}", "metadata:",
             f"  hivemind-version: \"{skill.version}\"",
             f"  hivemind-codifier: \"{prov.codifier}{'/' + prov.model if prov.model else ''}\"",
             f"  hivemind-decision: \"{prov.decision.value}\"",
             f"  hivemind-sessions: \"{','.join(prov.source_session_ids)[:500]}\"",
             f"  hivemind-published: \"{prov.created_at.isoformat()}\"",
             "---", ""]
    return "\n".join(lines) + skill.body.rstrip() + "\n"
