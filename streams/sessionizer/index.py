"""In-memory deadline index: which keys a tick of one partition has work for.

Guarantee: :meth:`DeadlineIndex.due` returns exactly the keys of that partition whose
deadline is strictly before ``now``, without decoding any state and without looking at
other partitions' keys; a sweep costs O(keys of the partition), never O(table).

The index is derived data: the adapter rebuilds it from the table after a rebalance
(recovery from the changelog) and updates it on every write, so losing it loses nothing.
"""

from __future__ import annotations

from datetime import datetime


class DeadlineIndex:
    def __init__(self) -> None:
        self._by_partition: dict[int, dict[bytes, float]] = {}
        self._partition_of: dict[bytes, int] = {}
        self._open: set[bytes] = set()

    def put(self, key: bytes, *, partition: int, deadline: datetime, is_open: bool) -> None:
        """Record (or move) ``key``: a tick of ``partition`` after ``deadline`` has work."""
        previous = self._partition_of.get(key)
        if previous is not None and previous != partition:
            self._by_partition[previous].pop(key, None)
        self._partition_of[key] = partition
        self._by_partition.setdefault(partition, {})[key] = deadline.timestamp()
        if is_open:
            self._open.add(key)
        else:
            self._open.discard(key)

    def remove(self, key: bytes) -> None:
        partition = self._partition_of.pop(key, None)
        if partition is not None:
            self._by_partition[partition].pop(key, None)
        self._open.discard(key)

    def due(self, partition: int, now: datetime) -> list[bytes]:
        """Keys of ``partition`` whose deadline is before ``now`` (equal is not due)."""
        cutoff = now.timestamp()
        keys = self._by_partition.get(partition)
        if not keys:
            return []
        return [key for key, deadline in keys.items() if deadline < cutoff]

    def clear(self) -> None:
        self._by_partition.clear()
        self._partition_of.clear()
        self._open.clear()

    def open_count(self) -> int:
        return len(self._open)

    def __len__(self) -> int:
        return len(self._partition_of)

    def __contains__(self, key: object) -> bool:
        return key in self._partition_of
