"""Topic specs: name, key, value contract and cleanup policy of every Hivemind topic.

Names come from ``TopicSettings`` (one place to rename them); everything else is fixed
by the design and lives here beside the contracts.
"""

from __future__ import annotations

from msgspec import Struct


class TopicSpec(Struct, frozen=True, kw_only=True):
    name: str
    key: str  # what the key holds
    value: str  # the contract of the value
    compacted: bool = False
    configs: dict[str, str] = {}
    # Partition count override (None: the settings' default).
    partitions: int | None = None


# Room for a record's key, headers and batch framing above the payload cap.
RECORD_OVERHEAD_BYTES = 65536


def record_limit(max_record_bytes: int) -> int:
    """The largest record on a topic that carries whole sessions, and the largest a
    Hivemind producer sends (``max.message.bytes`` / ``message.max.bytes``)."""
    return max_record_bytes + RECORD_OVERHEAD_BYTES


def topic_specs(topics, *, skills_delete_retention_ms: int | None = None,
                max_record_bytes: int | None = None) -> list[TopicSpec]:
    """All topics, from a ``runtime.settings.TopicSettings``.

    ``max_record_bytes`` (the sessionizer's record cap) raises ``max.message.bytes`` on the
    topics that carry whole sessions: a real Kafka's default (1 MB) is smaller.
    """
    retention = skills_delete_retention_ms or topics.skills_delete_retention_ms
    big = {"max.message.bytes": str(record_limit(max_record_bytes))} if max_record_bytes else {}
    return [
        TopicSpec(name=topics.turns, key="workspace_id", value="TurnBatch | TurnEvent", configs=big),
        TopicSpec(name=topics.sessions, key="workspace_id", value="Session", configs=big),
        TopicSpec(name=topics.candidates, key="workspace_id", value="Candidate", configs=big),
        TopicSpec(
            name=topics.skills, key="workspace_id/skill_name", value="Skill (null = retired)",
            compacted=True,
            configs={"cleanup.policy": "compact", "delete.retention.ms": str(retention)},
        ),
        TopicSpec(name=topics.dlq, key="source key", value="DeadLetter", configs=big),
        # Internal: the sessionizer's leader timer writes one tick per partition here; it
        # is co-partitioned with turns so the same worker sees a partition's turns and ticks.
        # Ticks are worthless after a sweep: keep an hour.
        TopicSpec(name=topics.ticks, key="partition", value="tick (ts_ms)",
                  configs={"retention.ms": str(3600 * 1000)}),
    ]
