"""Pure logic of the forwarder: session batches and the acknowledgement watermark.

No Kafka, no files, ``now`` injected, so every edge is a unit test.

:class:`SessionBatcher` groups a session's events, in spool order, into one batch per
Kafka record. A batch is released when its session stops (``stop`` / ``session_end``
event), when it holds ``max_events`` events or about ``max_bytes`` bytes, or when its
first event has waited ``linger_s``. Events of different sessions never share a batch.

:class:`AckTracker` turns out-of-order completions (delivery reports, dead letters)
into the spool position that is safe to acknowledge: the end of the longest prefix of
read records that are *all* done. A record that is never confirmed holds the position
back forever, which is the point: the spool is only trimmed behind confirmed records.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

from hivemind_kafka.schemas.events import EventKind, TurnEvent

_CLOSING = frozenset({EventKind.STOP, EventKind.SESSION_END})


@dataclass
class Batch:
    """Events of one session, the spool tokens they came from, and their size."""

    workspace_id: str
    session_id: str
    events: list[TurnEvent] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)
    size: int = 0
    opened_at: float = 0.0
    attempts: int = 0  # how many times it was handed to the producer


class SessionBatcher:
    """Open batches by (workspace, session); see the module docstring for release rules."""

    def __init__(self, *, max_events: int, linger_s: float, max_bytes: int = 1 << 20) -> None:
        if max_events < 1:
            raise ValueError(f"max_events must be >= 1, got {max_events}")
        self.max_events = max_events
        self.linger_s = linger_s
        self.max_bytes = max_bytes
        self._open: dict[tuple[str, str], Batch] = {}

    def __len__(self) -> int:
        return len(self._open)

    def add(self, event: TurnEvent, token: int, size: int, now: float) -> list[Batch]:
        """Add one event; returns the batches this releases (0, 1 or 2)."""
        key = (event.workspace_id, event.session_id)
        released: list[Batch] = []
        batch = self._open.get(key)
        if batch is not None and batch.events and batch.size + size > self.max_bytes:
            released.append(self._open.pop(key))  # the new event would overflow it
            batch = None
        if batch is None:
            batch = Batch(event.workspace_id, event.session_id, opened_at=now)
            self._open[key] = batch
        batch.events.append(event)
        batch.tokens.append(token)
        batch.size += size
        if event.kind in _CLOSING or len(batch.events) >= self.max_events \
                or batch.size >= self.max_bytes:
            released.append(self._open.pop(key))
        return released

    def due(self, now: float) -> list[Batch]:
        """Batches whose first event has waited ``linger_s`` or longer, oldest first."""
        ready = [k for k, b in self._open.items() if now - b.opened_at >= self.linger_s]
        return [self._open.pop(k) for k in ready]

    def next_due_in(self, now: float) -> float | None:
        """Seconds until the next batch is due (0 if one is), None when none is open."""
        if not self._open:
            return None
        oldest = min(b.opened_at for b in self._open.values())
        return max(0.0, oldest + self.linger_s - now)

    def drain(self) -> list[Batch]:
        """Every open batch (shutdown)."""
        batches = list(self._open.values())
        self._open.clear()
        return batches


class AckTracker:
    """Positions of read records in read order; completions in any order.

    ``add(position)`` registers the next record read (``position`` is any hashable,
    ordered value, e.g. the spool cursor *after* that record) and returns its token.
    ``done(tokens)`` marks records finished. ``ackable()`` pops and returns the position
    after the longest finished prefix, or None when the first record is still pending.
    """

    def __init__(self) -> None:
        self._next = 0
        self._queue: deque[tuple[int, Any]] = deque()
        self._done: set[int] = set()

    def __len__(self) -> int:
        """Records read but not yet acknowledged."""
        return len(self._queue)

    def add(self, position: Hashable) -> int:
        token = self._next
        self._next += 1
        self._queue.append((token, position))
        return token

    def add_done(self, position: Hashable) -> None:
        """A position with nothing to confirm (e.g. past skipped corrupt lines)."""
        self._done.add(self.add(position))

    def done(self, tokens: list[int]) -> None:
        self._done.update(tokens)

    def ackable(self) -> Any | None:
        position = None
        while self._queue and self._queue[0][0] in self._done:
            token, position = self._queue.popleft()
            self._done.discard(token)
        return position
