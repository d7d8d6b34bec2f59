"""Which Kafka offsets may be committed when records finish out of order (pure).

Guarantee: :meth:`OffsetTracker.committable` never returns an offset past a record that
is still pending, so a committed offset means every record before it has a durable
result. The returned value is the *next offset to read* (Kafka's commit convention:
last finished offset + 1), named so to keep the off-by-one in one place.
"""

from __future__ import annotations

from collections.abc import Iterable

TopicPartitionKey = tuple[str, int]


class OffsetTracker:
    def __init__(self) -> None:
        self._pending: dict[TopicPartitionKey, set[int]] = {}
        self._last_seen: dict[TopicPartitionKey, int] = {}
        self._committed: dict[TopicPartitionKey, int] = {}

    def add(self, tp: TopicPartitionKey, offset: int) -> None:
        self._pending.setdefault(tp, set()).add(offset)
        self._last_seen[tp] = max(self._last_seen.get(tp, -1), offset)

    def done(self, tp: TopicPartitionKey, offset: int) -> None:
        self._pending.get(tp, set()).discard(offset)

    def pending_count(self) -> int:
        return sum(len(v) for v in self._pending.values())

    def committable(self) -> dict[TopicPartitionKey, int]:
        """next_offset_to_read per partition that moved since the last call."""
        out = {}
        for tp, last_seen in self._last_seen.items():
            pending = self._pending.get(tp)
            next_offset_to_read = min(pending) if pending else last_seen + 1
            if next_offset_to_read > self._committed.get(tp, -1):
                out[tp] = next_offset_to_read
        return out

    def mark_committed(self, offsets: dict[TopicPartitionKey, int]) -> None:
        for tp, next_offset_to_read in offsets.items():
            self._committed[tp] = max(self._committed.get(tp, -1), next_offset_to_read)

    def drop(self, tps: Iterable[TopicPartitionKey]) -> None:
        """Forget partitions (revoked): their uncommitted records are re-read elsewhere."""
        for tp in tps:
            self._pending.pop(tp, None)
            self._last_seen.pop(tp, None)
            self._committed.pop(tp, None)

    def clear(self) -> None:
        """Forget every partition (the cluster was replaced: its offsets start again)."""
        self.drop(list({*self._pending, *self._last_seen, *self._committed}))
