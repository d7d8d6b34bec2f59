"""Per-table buffers between the Kafka consumer and one Delta commit (pure logic, no I/O).

A :class:`TableBuffer` tracks, per assigned Kafka partition, the table's last written
offset (the Delta txn version) and the highest offset it has accepted since; a record at
or below that position is dropped (``sinks.delta_txn.is_already_written``), which is what
makes a replay after a crash, a seek or a second table on the same topic harmless.

Duplicate keys (e.g. ``event_id``) are dropped within a bounded window per partition:
the last ``window`` keys accepted on that partition (``TableSpec.dedup_window``). The
window lives in memory: it is cleared when the partition is revoked or reset and is empty
after a restart, so a duplicate further apart than the window, or straddling a restart,
is written twice. At-least-once producers resend within seconds, far inside the window.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any

from hivemind_kafka.sinks.delta_txn import is_already_written


class RecentKeys:
    """The last ``capacity`` keys seen, in arrival order (O(1) per key)."""

    __slots__ = ("_keys", "_order", "capacity")

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._order: deque[Hashable] = deque()
        self._keys: set[Hashable] = set()

    def seen_before(self, key: Hashable) -> bool:
        """True if ``key`` is in the window; otherwise remember it and return False."""
        if key in self._keys:
            return True
        if self.capacity <= 0:
            return False
        self._keys.add(key)
        self._order.append(key)
        if len(self._order) > self.capacity:
            self._keys.discard(self._order.popleft())
        return False

    def add_all_if_new(self, keys: list[Hashable]) -> bool:
        """Remember every key and return True if none was seen before and none repeats;
        otherwise change nothing and return False (the caller goes key by key).

        The fast path for the common case: one set check per record, not per key.
        """
        if len(keys) > self.capacity or not self._keys.isdisjoint(keys) \
                or len(set(keys)) != len(keys):
            return False
        self._keys.update(keys)
        self._order.extend(keys)
        for _ in range(len(self._order) - self.capacity):
            self._keys.discard(self._order.popleft())
        return True

    def __len__(self) -> int:
        return len(self._order)


@dataclass
class Batch:
    """What one Delta commit holds: rows plus the txn version of every partition in it."""

    rows: list[Any]
    last_written_offsets: dict[int, int]  # partition -> highest offset consumed
    # Per source record that gave rows, in the order of ``rows``: (partition, offset,
    # number of rows, the source passed to accept). Lets a failing batch be split by record.
    records: list[tuple[int, int, int, Any]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.last_written_offsets)


@dataclass
class _Partition:
    last_written: int | None  # the table's txn version for this partition
    position: int | None  # highest offset accepted (written or buffered)
    keys: RecentKeys
    rows: list[Any] = field(default_factory=list)
    spans: list[tuple[int, int, Any]] = field(default_factory=list)  # (offset, rows, source)
    pending_last: int | None = None  # highest offset buffered, not yet committed
    rewound: bool = False  # the log restarted below last_written: the next commit lowers it


class TableBuffer:
    """Rows waiting for one table's next commit, and the offsets they cover.

    Flush policy: :meth:`is_due` says yes at ``flush_rows`` buffered rows, or when the
    oldest uncommitted record is ``flush_seconds`` old (``now`` is injected), so records
    that produced no row still get their offsets committed.
    """

    def __init__(self, *, dedup_key: Callable[[Any], Hashable | None] | None = None,
                 dedup_window: int = 0) -> None:
        self._dedup_key = dedup_key
        self._window = dedup_window
        self._partitions: dict[int, _Partition] = {}
        self._rows = 0
        self._oldest: float | None = None

    # -- assignment ------------------------------------------------------------------

    def assign(self, partition: int, last_written_offset: int | None) -> None:
        """Own ``partition`` from the table's txn version; forgets anything buffered."""
        self.revoke(partition)
        self._partitions[partition] = _Partition(
            last_written=last_written_offset, position=last_written_offset,
            keys=RecentKeys(self._window),
        )

    def revoke(self, partition: int) -> None:
        """Drop the partition, its buffered rows and its duplicate window."""
        part = self._partitions.pop(partition, None)
        if part is not None:
            self._rows -= len(part.rows)
        if not any(p.rows or p.pending_last is not None for p in self._partitions.values()):
            self._oldest = None

    def reset(self, partition: int, last_written_offset: int | None) -> None:
        """After a commit conflict: restart the partition from the table's version."""
        self.assign(partition, last_written_offset)

    def partitions(self) -> list[int]:
        return sorted(self._partitions)

    def owns(self, partition: int) -> bool:
        return partition in self._partitions

    def last_written_offset(self, partition: int) -> int | None:
        return self._partitions[partition].last_written

    def position(self, partition: int) -> int | None:
        return self._partitions[partition].position

    def rewind(self, partition: int, offset: int) -> None:
        """The partition's log went backwards (recreated or truncated on the same
        cluster) and now delivers ``offset``: accept records from there on, and let the
        next commit record the new log's (lower) offset as the txn version. Rows the new
        log repeats are dropped by the table's unique keys, not by offsets."""
        part = self._partitions[partition]
        part.position = offset - 1 if offset > 0 else None
        part.rewound = True

    # -- records ---------------------------------------------------------------------

    def is_already_accepted(self, partition: int, offset: int) -> bool:
        """True for records of unowned partitions or at/below the partition's position."""
        part = self._partitions.get(partition)
        return part is None or is_already_written(offset, part.position)

    def accept(self, partition: int, offset: int, rows: Iterable[Any], now: float,
               source: Any = None) -> int:
        """Buffer a record's rows; returns how many were dropped as duplicates.

        The caller checks :meth:`is_already_accepted` first; a record with no rows (an
        undecodable one, say) is still accepted so its offset is committed. ``source``
        (the record) is kept with its rows until the commit, for :mod:`sinks.isolate`.
        """
        part = self._partitions[partition]
        dropped = 0
        key_of = self._dedup_key
        before = len(part.rows)
        if key_of is None:
            part.rows.extend(rows)
        else:
            rows = list(rows)
            keys = list(map(key_of, rows))
            if None not in keys and part.keys.add_all_if_new(keys):
                part.rows.extend(rows)
            else:
                for row, key in zip(rows, keys, strict=True):
                    if key is not None and part.keys.seen_before(key):
                        dropped += 1
                    else:
                        part.rows.append(row)
        added = len(part.rows) - before
        if added:
            part.spans.append((offset, added, source))
        self._rows += added
        part.position = offset
        part.pending_last = offset
        if self._oldest is None:
            self._oldest = now
        return dropped

    # -- flushing --------------------------------------------------------------------

    @property
    def buffered_rows(self) -> int:
        return self._rows

    def is_due(self, now: float, *, flush_rows: int, flush_seconds: float) -> bool:
        if self._oldest is None:
            return False
        return self._rows >= flush_rows or now - self._oldest >= flush_seconds

    def take(self) -> Batch:
        """Everything buffered, as one batch; the buffer keeps the positions."""
        rows: list[Any] = []
        versions: dict[int, int] = {}
        records: list[tuple[int, int, int, Any]] = []
        for partition, part in self._partitions.items():
            if part.pending_last is None:
                continue
            rows.extend(part.rows)
            records.extend((partition, o, n, src) for o, n, src in part.spans)
            versions[partition] = part.pending_last
            part.rows = []
            part.spans = []
            part.pending_last = None
        self._rows = 0
        self._oldest = None
        return Batch(rows=rows, last_written_offsets=versions, records=records)

    def committed(self, batch: Batch) -> None:
        """The batch is in the table: its versions are now the last written offsets."""
        for partition, version in batch.last_written_offsets.items():
            part = self._partitions.get(partition)
            if part is not None and (part.last_written is None or version > part.last_written
                                     or part.rewound):
                part.last_written = version
                part.rewound = False
