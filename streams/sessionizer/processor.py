"""The per-worker adapter between Faust and the pure state machine.

Guarantee: at-least-once with stable ids, and a state write never overtakes the delivery
of what it records. For every input record, in partition order, the processor (1) decodes
it once, (2) runs :mod:`streams.sessionizer.logic`, (3) sends the closed sessions and
candidates (or the dead letter), and only once the broker has acknowledged all of them
(4) writes the new state to the changelogged table and (5) acks the record, so its offset
may be committed. A crash anywhere replays the record into the state before it: the same
``session_uid`` is emitted again (consumers deduplicate on it), never lost.

Steps (4)-(5) are pipelined instead of awaited: each record joins its partition's FIFO,
and the FIFO's head is written and acked as soon as its sends are acknowledged (checked on
every record and tick of that partition; a tick, an empty input buffer, or a FIFO longer
than ``MAX_PENDING`` waits for them). Later records of the same key read the newest state from an overlay, so
the pipeline changes nothing but latency. The table is written while a record *of the same
partition* is current, as Faust's changelog requires.

Errors: bad input is dead-lettered (see :mod:`streams.dlq`) and the worker keeps going; a
processing error in the logic dead-letters the record the same way; a producer error
crashes the worker, which restarts from the committed offsets.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import msgspec

from runtime.settings import Settings
from schemas.dead_letters import DeadLetter
from schemas.events import TurnEvent, decode_turn_record
from schemas.sessions import Session, encode
from streams import dlq
from streams.sessionizer import logic
from streams.sessionizer import metrics as m
from streams.sessionizer.index import DeadlineIndex

log = logging.getLogger(__name__)

STAGE = "sessionizer"
MAX_PENDING = 256  # records per partition awaiting their sends' acknowledgement


def producer_record_limit(settings: Settings) -> int:
    """The largest record this worker's producer sends (as runtime.kafka's producers)."""
    return settings.sessionizer.max_record_bytes + 65536


@dataclass
class _Pending:
    """One processed record whose state write and ack wait for its sends."""

    event: Any
    key: bytes | None = None  # None: nothing to write
    new: bytes | None = None  # the encoded state to write; None deletes the key
    sends: list[asyncio.Future] = field(default_factory=list)

    def is_delivered(self) -> bool:
        return all(f.done() for f in self.sends)


class Sessionizer:
    """Per-worker state: table, output topics, pending FIFOs, overlay, deadline index."""

    def __init__(self, *, table: Any, sessions: Any, candidates: Any, dead_letters: Any,
                 settings: Settings, clock: Callable[[], datetime],
                 assigned_partitions: Callable[[], set[int]]) -> None:
        self.table, self.settings, self.clock = table, settings, clock
        self.sessions, self.candidates, self.dead_letters = sessions, candidates, dead_letters
        self.assigned_partitions = assigned_partitions
        self.conf = settings.sessionizer
        self.ticks_topic = settings.topics.ticks
        self.index = DeadlineIndex()
        self.assigned: set[int] = set()
        # No idle close on a partition before this time: its backlog may still be unread.
        self.sweep_not_before: dict[int, datetime] = {}
        self.pending: dict[int, deque[_Pending]] = {}
        # Newest encoded state of keys whose table write is still pending (None = deleted),
        # with how many pending writes each key has.
        self.overlay: dict[bytes, bytes | None] = {}
        self.overlay_refs: dict[bytes, int] = {}
        # Bumped by every rebalance: work suspended across one is abandoned, not written
        # (its records were not acked, so they are delivered again).
        self.generation = 0

    # -- rebalance ---------------------------------------------------------------------

    def on_assigned(self) -> None:
        """Drop the pipeline (its records were not acked: they are delivered again), rebuild
        the deadline index from the recovered table (O(table), once per rebalance) and hold
        idle closes on newly assigned partitions for the arrival grace."""
        self.generation += 1
        self.pending.clear()
        self.overlay.clear()
        self.overlay_refs.clear()
        actives = self.assigned_partitions()
        now = self.clock()
        for p in actives - self.assigned:
            self.sweep_not_before[p] = now + timedelta(seconds=self.conf.arrival_grace_s)
        self.assigned = actives
        self.index.clear()
        bad = 0
        for key, raw in list(self.table.data.items()):
            try:
                state = logic.decode_state(raw)
            except msgspec.DecodeError:
                bad += 1
                continue
            if state.partition in actives:
                self._index(key, state)
        m.OPEN_SESSIONS.set(self.index.open_count())
        log.info("assigned partitions=%s keys=%d open=%d undecodable_states=%d",
                 sorted(actives), len(self.index), self.index.open_count(), bad)

    # -- records -----------------------------------------------------------------------

    async def handle(self, stream: Any, event: Any, *, more_buffered: bool = True) -> None:
        """Process one event of the (no-ack) stream; it is acked once its state is written.

        ``more_buffered`` False (the input buffer is empty) waits for this record's sends
        and writes at once: pipelining only pays under a backlog, and an idle worker then
        holds nothing unwritten."""
        message = event.message
        generation = self.generation
        if message.topic == self.ticks_topic:
            m.RECORDS.labels(outcome="tick").inc()
            await self._drain(stream, message.partition, wait=True)
            await self.sweep(message.partition, self.clock(), generation)
            if generation == self.generation:
                await stream.ack(event)
            return
        entry = await self._process(event, generation)
        if entry is None or generation != self.generation:
            return
        queue = self.pending.setdefault(message.partition, deque())
        queue.append(entry)
        await self._drain(stream, message.partition,
                          wait=not more_buffered or len(queue) > MAX_PENDING)

    async def _process(self, event: Any, generation: int) -> _Pending | None:
        """The record's pending entry (sends started, state in the overlay), or None when
        a rebalance happened meanwhile."""
        message = event.message
        decoded = dlq.decode_or_dead_letter(
            message.value, decode_turn_record, stage=STAGE, topic=message.topic,
            partition=message.partition, offset=message.offset, key=message.key,
            max_bytes=self.conf.max_record_bytes)
        if isinstance(decoded, DeadLetter):
            return _Pending(event, sends=[await self._send_dead_letter(decoded)])
        events: list[TurnEvent] = decoded
        key = logic.state_key(events[0].workspace_id, events[0].session_id)
        old = self.overlay[key] if key in self.overlay else self.table.get(key)
        tally = logic.Tally()
        try:
            state = logic.decode_state(old) if old is not None else None
            new, emitted = logic.on_events(state, events, partition=message.partition,
                                           now=self.clock(), settings=self.conf, tally=tally)
        except Exception as exc:  # a bug or a corrupt state: keep the worker going
            log.exception("processing error partition=%s[%d] offset=%d stage=%s",
                          message.topic, message.partition, message.offset, STAGE)
            letter = DeadLetter.from_processing_error(
                stage=STAGE, topic=message.topic, partition=message.partition,
                offset=message.offset, key=message.key, raw=message.value or b"", error=exc)
            return _Pending(event, sends=[await self._send_dead_letter(letter)])
        m.RECORDS.labels(outcome="processed").inc()
        m.EVENTS.inc(tally.events)
        if tally.duplicates:
            m.DUPLICATE_EVENTS.inc(tally.duplicates)
        if tally.late:
            m.LATE_EVENTS.inc(tally.late)
        if tally.absorbed:
            m.ABSORBED_EVENTS.inc(tally.absorbed)
        if tally.reopened:
            m.REOPENED_SESSIONS.inc(tally.reopened)
        for disposition, n in (("joined", tally.late_outcomes),
                               ("candidate", tally.late_candidates),
                               ("beyond_horizon", tally.outcomes_beyond_horizon),
                               ("unknown_session", tally.outcomes_unmatched)):
            if n:
                m.LATE_OUTCOMES.labels(disposition=disposition).inc(n)
        entry = _Pending(event, sends=await self._send_sessions(emitted))
        if generation != self.generation:
            return None
        raw = None
        if new is not None:
            new, raw = logic.shrink_to_fit(new, self.conf.max_record_bytes)
        if raw != old:
            entry.key, entry.new = key, raw
            self.overlay[key] = raw
            self.overlay_refs[key] = self.overlay_refs.get(key, 0) + 1
        self._reindex(key, new)
        return entry

    async def _drain(self, stream: Any, partition: int, *, wait: bool) -> None:
        """Write and ack the partition's delivered records, oldest first; with ``wait``,
        wait for every pending send first. Called only while an event of ``partition``
        is current (the changelog partition of the writes)."""
        generation = self.generation
        queue = self.pending.get(partition)
        while queue:
            head = queue[0]
            if not head.is_delivered():
                if not wait:
                    return
                await asyncio.gather(*head.sends)
                if generation != self.generation:
                    return  # rebalanced meanwhile: the queue was dropped
            for fut in head.sends:
                fut.result()  # a failed send raises here: crash, replay, lose nothing
            if head.key is not None:
                self._write(head.key, head.new)
            queue.popleft()
            await stream.ack(head.event)

    def _write(self, key: bytes, raw: bytes | None) -> None:
        if raw is None:
            if self.table.get(key) is not None:
                del self.table[key]
        else:
            self.table[key] = raw
        refs = self.overlay_refs.get(key, 1) - 1
        if refs:
            self.overlay_refs[key] = refs
        else:
            self.overlay_refs.pop(key, None)
            self.overlay.pop(key, None)

    async def sweep(self, partition: int, now: datetime, generation: int | None = None) -> None:
        """Close the idle sessions and drop the expired markers of one partition (its
        pipeline is drained first, so the table holds every state)."""
        if generation is None:
            generation = self.generation
        if partition not in self.assigned or generation != self.generation:
            return
        not_before = self.sweep_not_before.get(partition)
        if not_before is not None and now < not_before:
            return
        changes: list[tuple[bytes, bytes, logic.SessionState | None]] = []
        emitted: list[Session] = []
        for key in self.index.due(partition, now):
            old = self.table.get(key)
            if old is None:
                self.index.remove(key)
                continue
            try:
                state = logic.decode_state(old)
            except msgspec.DecodeError:
                log.error("undecodable state dropped from the sweep partition=%d", partition)
                self.index.remove(key)
                continue
            new, closed = logic.on_tick(state, now=now, settings=self.conf)
            emitted.extend(closed)
            changes.append((key, old, new))
        sends = await self._send_sessions(emitted)
        if sends:
            await asyncio.gather(*sends)
        if generation != self.generation:
            return  # rebalanced meanwhile: the next owner's tick closes them again
        for key, old, new in changes:
            raw = logic.encode_state(new) if new is not None else None
            if raw != old:
                self.overlay_refs[key] = self.overlay_refs.get(key, 0) + 1
                self.overlay[key] = raw
                self._write(key, raw)
            self._reindex(key, new)

    # -- outputs -----------------------------------------------------------------------

    async def _send_sessions(self, sessions: list[Session]) -> list[asyncio.Future]:
        """Send sessions and their candidates; the futures resolve on broker acknowledgement."""
        sends = []
        for session in sessions:
            session, value = self._fit(session)
            key = session.workspace_id.encode()
            sends.append(await self.sessions.send(key=key, value=value))
            if not session.reemitted:  # a late outcome's repeat: counted in LATE_OUTCOMES
                m.SESSIONS_CLOSED.labels(reason=session.close_reason.value).inc()
            candidate = logic.candidate_for(session)
            if candidate is not None:
                sends.append(await self.candidates.send(key=key, value=encode(candidate)))
                for reason in candidate.reasons:
                    m.CANDIDATES.labels(reason=reason.value).inc()
        return sends

    async def _send_dead_letter(self, letter: DeadLetter) -> asyncio.Future:
        # Headroom under the producer limit for the key, headers and batch framing.
        record = dlq.dead_letter_record(
            letter, max_bytes=producer_record_limit(self.settings) - 4096)
        fut = await self.dead_letters.send(key=record.key, value=record.value,
                                           headers=record.headers)
        dlq.count_dead_letter(letter)
        m.RECORDS.labels(outcome="dead_lettered").inc()
        return fut

    def _fit(self, session: Session) -> tuple[Session, bytes]:
        """The session and its encoding, events cut (and marked) until it fits the record
        limit with room for the candidate envelope (counts stay exact)."""
        value = encode(session)
        limit = self.conf.max_record_bytes - 4096
        while len(value) > limit and session.events:
            session = msgspec.structs.replace(
                session, events=session.events[:len(session.events) // 2],
                events_truncated=True)
            value = encode(session)
        return session, value

    # -- index -------------------------------------------------------------------------

    def _reindex(self, key: bytes, state: logic.SessionState | None) -> None:
        if state is None:
            self.index.remove(key)
        else:
            self._index(key, state)
        m.OPEN_SESSIONS.set(self.index.open_count())

    def _index(self, key: bytes, state: logic.SessionState) -> None:
        self.index.put(key, partition=state.partition,
                       deadline=logic.next_deadline(state, self.conf),
                       is_open=not state.is_closed)
