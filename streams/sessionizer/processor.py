"""The per-worker adapter between Faust and the pure state machine, one batch at a time.

Guarantee: at-least-once with stable ids, and a state write never overtakes the delivery
of what it records. For every batch of input records (``stream.noack_take``) the
processor (1) decodes each record once, (2) groups them by table key, reads and decodes
each key's state once, runs :mod:`hivemind_kafka.streams.sessionizer.logic` over the key's records in
offset order and sweeps the idle keys of every partition that got a tick, (3) sends the
closed sessions, candidates and dead letters, and only once the broker has acknowledged
all of them (4) writes each touched key's final state once, to the changelog partition
the state belongs to (chunk keys before the heads that name them, deletes last: every
prefix a crash may keep is a consistent table), and only once the broker has
acknowledged those writes (5) acks
the batch's records, so their offsets may be committed (Faust's own flush before a
commit gives up after 0.1 s per buffered message, so it cannot be relied on). A crash anywhere replays the records into the state before them: the same
``session_uid`` is emitted again (consumers deduplicate on it), never lost.

Steps (4)-(5) are deferred and coalesced, as a checkpoint: processed batches wait in a
FIFO (their sends are queued with ``send_soon``, so processing never waits on the
producer) and are written and acked together once the oldest is
``sessionizer.state_write_interval_ms`` old, the input is idle, or more than
``MAX_PENDING_RECORDS`` records wait; each key is written once per checkpoint, with its
newest state. Later batches read the newest state of a key from an overlay, so deferring
changes nothing but latency and how much a crash replays.

Rebalance safety: a batch never spans a revocation. Records fetched under an older
assignment are skipped (Faust seeks back to the committed offsets after the rebalance and
delivers them again); a batch whose assignment epoch changed before its writes is
abandoned, unwritten and unacked, and replayed the same way.

Errors: bad input is dead-lettered (see :mod:`hivemind_kafka.runtime.dlq`), and so is a record that
decodes but breaks an admission rule (:mod:`hivemind_kafka.schemas.admission`: keyed by another
workspace, an unknown ``schema_version``, an absurd timestamp); the worker keeps going. A
processing error in the logic dead-letters the record the same way (later records of the
key continue from the state before it); a producer error crashes the worker, which
restarts from the committed offsets.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import msgspec

from hivemind_kafka.runtime import dlq
from hivemind_kafka.runtime.settings import Settings
from hivemind_kafka.schemas.admission import turn_record_problem
from hivemind_kafka.schemas.dead_letters import DeadLetter
from hivemind_kafka.schemas.events import TurnEvent, decode_turn_record
from hivemind_kafka.schemas.sessions import Candidate, Session, encode
from hivemind_kafka.schemas.topics import record_limit
from hivemind_kafka.streams.sessionizer import logic
from hivemind_kafka.streams.sessionizer import metrics as m
from hivemind_kafka.streams.sessionizer.index import DeadlineIndex

log = logging.getLogger(__name__)

STAGE = "sessionizer"
MAX_PENDING_RECORDS = 20_000  # processed records awaiting their state write and ack


def producer_record_limit(settings: Settings) -> int:
    """The largest record this worker's producer sends (as runtime.kafka's producers)."""
    return record_limit(settings.sessionizer.max_record_bytes)


class StateStore(Protocol):
    """Where states live: Faust's changelogged table in the worker (``app.TableStore``),
    a dict in the unit tests. ``put`` of ``None`` deletes the key."""

    def get(self, key: bytes) -> bytes | None: ...

    def put(self, key: bytes, raw: bytes | None, *, partition: int
            ) -> asyncio.Future | None:
        """Write (or delete); the future resolves when the write is durable (None: it
        already is, or there was nothing to write)."""

    def items(self) -> Iterable[tuple[bytes, bytes]]: ...


# A closed session as sent: the (fitted) session, its encoding, its candidate if any.
_Output = tuple[Session, bytes, Candidate | None]


@dataclass
class _Step:
    """One processed batch: the records it acks, the states it writes, the sends first."""

    epoch: int
    created: float  # monotonic seconds
    events: list[Any] = field(default_factory=list)
    writes: dict[bytes, tuple[int, bytes | None]] = field(default_factory=dict)
    sends: list[asyncio.Future] = field(default_factory=list)

    def is_delivered(self) -> bool:
        return all(f.done() for f in self.sends)


@dataclass
class _Written:
    """Records whose states are written, acked once the writes are delivered."""

    epoch: int
    events: list[Any]
    writes: list[asyncio.Future]


class Sessionizer:
    """Per-worker state: store, output topics, the pipeline, overlay, deadline index.

    ``epoch()`` identifies the current partition assignment and is ``None`` while a
    rebalance is in progress (the worker passes Faust's rebalance count while its flow
    is active); ``is_current(event)`` says whether a record was fetched under the current
    assignment. By default both follow :meth:`on_assigned` calls (the unit tests)."""

    def __init__(self, *, store: StateStore, sessions: Any, candidates: Any,
                 dead_letters: Any, settings: Settings, clock: Callable[[], datetime],
                 assigned_partitions: Callable[[], set[int]],
                 epoch: Callable[[], int | None] | None = None,
                 is_current: Callable[[Any], bool] | None = None,
                 monotonic: Callable[[], float] = time.monotonic,
                 max_pending_records: int = MAX_PENDING_RECORDS) -> None:
        self.store, self.settings, self.clock, self.monotonic = store, settings, clock, monotonic
        self.sessions, self.candidates, self.dead_letters = sessions, candidates, dead_letters
        self.assigned_partitions = assigned_partitions
        self.conf = settings.sessionizer
        self.ticks_topic = settings.topics.ticks
        self.index = DeadlineIndex()
        self.assigned: set[int] = set()
        # No idle close on a partition before this time: its backlog may still be unread.
        self.sweep_not_before: dict[int, datetime] = {}
        self.pipeline: deque[_Step] = deque()
        self.written: deque[_Written] = deque()
        self.pending_records = 0
        self.max_pending_records = max_pending_records
        # Newest encoded state of keys whose table write is still pending (None = deleted),
        # with how many pending batches write each key.
        self.overlay: dict[bytes, bytes | None] = {}
        self.overlay_refs: dict[bytes, int] = {}
        self.assignments = 0  # on_assigned calls: the default epoch
        self.epoch = epoch or (lambda: self.assignments)
        self.is_current = is_current or (lambda event: True)
        self._epoch: int | None = None  # the epoch the pipeline and overlay belong to
        self._consuming = False  # a batch was processed since the latest assignment

    # -- rebalance ---------------------------------------------------------------------

    def on_assigned(self) -> None:
        """Drop the pipeline (its records were not acked: they are delivered again), rebuild
        the deadline index from the recovered table (O(table), once per rebalance) and hold
        idle closes on newly assigned partitions for the arrival grace."""
        self.assignments += 1
        self._abandon()
        actives = self.assigned_partitions()
        now = self.clock()
        for p in actives - self.assigned:
            self.sweep_not_before[p] = now + timedelta(seconds=self.conf.arrival_grace_s)
        self.assigned = actives
        self.index.clear()
        bad = 0
        for key, raw in list(self.store.items()):
            if logic.is_chunk_key(key):
                continue
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

    def _abandon(self) -> None:
        if self.pipeline:
            log.info("abandoned %d unwritten batches (%d records): they are delivered again",
                     len(self.pipeline), sum(len(s.events) for s in self.pipeline))
        self.pipeline.clear()
        self.written.clear()
        self.pending_records = 0
        self.overlay.clear()
        self.overlay_refs.clear()
        self._epoch = None
        self._consuming = False

    # -- batches -----------------------------------------------------------------------

    async def handle_batch(self, stream: Any, events: Sequence[Any], *,
                           more_buffered: bool = True) -> None:
        """Process one batch of the (no-ack) stream; its records are acked once its states
        are written.

        ``more_buffered`` False (the input buffer is empty) waits for every pending send
        and writes at once: deferring only pays under a backlog, and an idle worker then
        holds nothing unwritten."""
        epoch = self.epoch()
        if epoch is None:
            return  # a rebalance is under way: Faust delivers these records again after it
        if epoch != self._epoch:
            self._abandon()
            self._epoch = epoch
        current = [e for e in events if self.is_current(e)]
        if len(current) < len(events):
            m.RECORDS.labels(outcome="stale").inc(len(events) - len(current))
        m.BATCH_RECORDS.observe(len(current))
        if current and not self._consuming:
            self._consuming = True
            m.CONSUMING_SINCE.set(self.clock().timestamp())
        step = _Step(epoch, self.monotonic())
        emitted, letters = self._process(current, step)
        step.sends = self._send_all(emitted, letters)
        if step.events:
            self.pipeline.append(step)
            self.pending_records += len(step.events)
        await self._drain(stream, idle=not more_buffered)

    def _process(self, events: Sequence[Any], step: _Step
                 ) -> tuple[list[_Output], list[DeadLetter]]:
        """Run the logic over the batch (no awaits: nothing interleaves with it). Fills the
        step's acks and writes, updates the overlay and index; returns what to send."""
        now = self.clock()
        groups: dict[bytes, list[tuple[Any, list[TurnEvent]]]] = {}
        ticked: dict[int, None] = {}
        letters: list[DeadLetter] = []
        ticks = 0
        for event in events:
            message = event.message
            step.events.append(event)
            if message.topic == self.ticks_topic:
                ticked[message.partition] = None
                ticks += 1
                continue
            decoded = dlq.decode_or_dead_letter(
                message.value, decode_turn_record, stage=STAGE, topic=message.topic,
                partition=message.partition, offset=message.offset, key=message.key,
                max_bytes=self.conf.max_record_bytes)
            if isinstance(decoded, DeadLetter):
                letters.append(decoded)
                continue
            problem = turn_record_problem(decoded, key=message.key)
            if problem is not None:
                letters.append(DeadLetter.from_contract_violation(
                    stage=STAGE, topic=message.topic, partition=message.partition,
                    offset=message.offset, key=message.key, raw=message.value,
                    detail=problem))
                continue
            key = logic.state_key(decoded[0].workspace_id, decoded[0].session_id)
            group = groups.get(key)
            if group is None:
                groups[key] = [(event, decoded)]
            else:
                group.append((event, decoded))
        tally = logic.Tally()
        emitted: list[_Output] = []
        for key, records in groups.items():
            self._apply(key, records, now, step, tally, emitted, letters)
        m.RECORDS.labels(outcome="processed").inc(len(events) - ticks - len(letters))
        if ticks:
            m.RECORDS.labels(outcome="tick").inc(ticks)
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
        for partition in ticked:
            emitted.extend(self._sweep(partition, now, step))
        return emitted, letters

    def _apply(self, key: bytes, records: list[tuple[Any, list[TurnEvent]]], now: datetime,
               step: _Step, tally: logic.Tally, emitted: list[_Output],
               letters: list[DeadLetter]) -> None:
        """One key's records of the batch, in offset order, over one read of its state."""
        old = self._read(key)
        state: logic.SessionState | None = None
        failed: Exception | None = None
        if old is not None:
            try:
                state = logic.join_state(key, old, self._read)
            except msgspec.DecodeError as exc:
                failed = exc  # a corrupt state: every record of the key is dead-lettered
        owned = logic.owned_chunks(state)
        changed = False
        for event, events in records:
            message = event.message
            if failed is None:
                try:
                    state, closed = logic.on_events(state, events, partition=message.partition,
                                                    now=now, settings=self.conf, tally=tally,
                                                    owned=True)  # decoded for this call only
                except Exception as exc:  # a bug: keep the worker going
                    log.exception("processing error partition=%s[%d] offset=%d stage=%s",
                                  message.topic, message.partition, message.offset, STAGE)
                    letters.append(self._processing_error(event, exc))
                    continue
                # Encoded and assessed right away, while the logic's assessment of each
                # session is still cached (a batch closes far more sessions than it keeps).
                emitted.extend(self._prepare(session) for session in closed)
                changed = True
                continue
            letters.append(self._processing_error(event, failed))
        if not changed:
            return
        self._store(key, old, state, owned, step, partition=message.partition)

    def _sweep(self, partition: int, now: datetime, step: _Step) -> list[_Output]:
        """Close the idle sessions and drop the expired markers of one partition."""
        if partition not in self.assigned:
            return []
        not_before = self.sweep_not_before.get(partition)
        if not_before is not None and now < not_before:
            return []
        emitted: list[_Output] = []
        for key in self.index.due(partition, now):
            old = self._read(key)
            if old is None:
                self.index.remove(key)
                continue
            try:
                state = logic.join_state(key, old, self._read)
            except msgspec.DecodeError:
                log.error("undecodable state dropped from the sweep partition=%d", partition)
                self.index.remove(key)
                continue
            new, closed = logic.on_tick(state, now=now, settings=self.conf)
            emitted.extend(self._prepare(session) for session in closed)
            if new is state:
                self._reindex(key, state)  # nothing due after all
                continue
            self._store(key, old, new, logic.owned_chunks(state), step,
                        partition=state.partition)
        return emitted

    def _store(self, key: bytes, old: bytes | None, state: logic.SessionState | None,
               owned: range, step: _Step, *, partition: int) -> None:
        """Stage the key's new state: its head, the chunk key it adds, and deletes of the
        chunk keys it no longer owns (``owned``: the indices it owned before), or of all
        of them when the state is gone."""
        raw: bytes | None = None
        if state is None:
            writes: dict[bytes, bytes | None] = {
                logic.chunk_key(key, i): None for i in owned}
        else:
            state, raw, writes, _ = logic.store_state(key, state, self.conf.max_record_bytes)
        # Chunk keys a crash left behind, contiguous with the ones owned: past the end
        # (written in a checkpoint whose head write was lost) and before the start (a
        # rewrite whose deletes were lost after its head landed; the base only grows).
        index = max(logic.owned_chunks(state).stop, owned.stop)
        while (stale := logic.chunk_key(key, index)) not in writes and self._read(stale):
            writes[stale] = None
            index += 1
        index = owned.start - 1
        while index >= 0 and (stale := logic.chunk_key(key, index)) not in writes \
                and self._read(stale):
            writes[stale] = None
            index -= 1
        for ck, value in writes.items():
            self._stage_chunk(ck, value, step, partition=partition)
        self._stage_write(key, old, raw, state, step, partition=partition)

    def _stage_chunk(self, key: bytes, raw: bytes | None, step: _Step, *,
                     partition: int) -> None:
        if key not in step.writes:
            self.overlay_refs[key] = self.overlay_refs.get(key, 0) + 1
        step.writes[key] = (partition, raw)
        self.overlay[key] = raw

    def _stage_write(self, key: bytes, old: bytes | None, raw: bytes | None,
                     state: logic.SessionState | None, step: _Step, *, partition: int) -> None:
        """Record the key's new state in the step and the overlay (and the index)."""
        if raw != old:
            if key not in step.writes:
                self.overlay_refs[key] = self.overlay_refs.get(key, 0) + 1
            step.writes[key] = (partition, raw)
            self.overlay[key] = raw
        self._reindex(key, state)

    def _read(self, key: bytes) -> bytes | None:
        if key in self.overlay:
            return self.overlay[key]
        return self.store.get(key)

    # -- delivery, writes, acks --------------------------------------------------------

    async def _drain(self, stream: Any, *, idle: bool) -> None:
        """Write the batches that are due: all of them when the input is idle, else those
        older than the write interval, or the oldest while too many records wait. Waits
        for their sends first (old ones are delivered by then). Then ack the written
        batches whose state writes are delivered (when idle: wait for them)."""
        interval = self.conf.state_write_interval_ms / 1000
        now = self.monotonic()
        due, waiting = 0, self.pending_records
        for step in self.pipeline:
            if not (idle or now - step.created >= interval or waiting > self.max_pending_records):
                break
            due += 1
            waiting -= len(step.events)
        if due:
            steps = [self.pipeline[i] for i in range(due)]
            sends = [f for step in steps for f in step.sends if not f.done()]
            if sends:
                epoch = steps[0].epoch
                await asyncio.wait(sends)
                if self.epoch() != epoch:
                    return  # rebalanced meanwhile: abandoned, delivered again
            for _ in range(due):
                self.pipeline.popleft()
            self.pending_records -= sum(len(step.events) for step in steps)
            self._write(steps)
        await self._ack_written(stream, wait=idle)

    def _write(self, steps: list[_Step]) -> None:
        """Write the delivered batches' states (each key once, the newest); their records
        wait in ``written`` for these writes' delivery. Runs only in the epoch the
        batches were processed in."""
        writes: dict[bytes, tuple[int, bytes | None]] = {}
        for step in steps:
            for fut in step.sends:
                fut.result()  # a failed send raises here: crash, replay, lose nothing
            writes.update(step.writes)
        delivered = [self.store.put(key, raw, partition=partition)
                     for key, (partition, raw) in _crash_safe_order(writes)]
        for step in steps:
            for key in step.writes:
                refs = self.overlay_refs.get(key, 1) - 1
                if refs:
                    self.overlay_refs[key] = refs
                else:
                    self.overlay_refs.pop(key, None)
                    self.overlay.pop(key, None)
        m.STATE_WRITES.inc(len(writes))
        self.written.append(_Written(steps[0].epoch, [e for s in steps for e in s.events],
                                     [f for f in delivered if f is not None]))

    async def _ack_written(self, stream: Any, *, wait: bool) -> None:
        """Ack the written records whose state writes the broker acknowledged, oldest
        first. A record is never acked (so its offset never committed) before its state
        is durable: Faust's own pre-commit flush gives up after 0.1 s per message."""
        while self.written:
            head = self.written[0]
            if not all(f.done() for f in head.writes):
                if not wait:
                    return
                await asyncio.wait(head.writes)
                if self.epoch() != head.epoch:
                    return  # rebalanced meanwhile: the acks would be ignored anyway
            for fut in head.writes:
                fut.result()  # a failed write raises here: crash, replay, lose nothing
            self.written.popleft()
            for event in head.events:
                await stream.ack(event)

    # -- outputs -----------------------------------------------------------------------

    def _prepare(self, session: Session) -> _Output:
        """A closed session as sent: fitted to the record limit, encoded, its candidate."""
        session, value = self._fit(session)
        return session, value, logic.candidate_for(session)

    def _send_all(self, sessions: list[_Output], letters: list[DeadLetter]
                  ) -> list[asyncio.Future]:
        """Queue the outputs on the producer (``send_soon``: never waits); the futures
        resolve on broker acknowledgement."""
        sends = self._send_sessions(sessions)
        for letter in letters:
            sends.append(self._send_dead_letter(letter))
        return sends

    def _send_sessions(self, sessions: list[_Output]) -> list[asyncio.Future]:
        """Queue sessions and their candidates."""
        sends = []
        # Counted per batch: a labelled child's lookup costs about as much as a send.
        closed: Counter[str] = Counter()
        reasons: Counter[str] = Counter()
        for session, value, candidate in sessions:
            key = session.workspace_id.encode()
            sends.append(self.sessions.send_soon(key=key, value=value))
            if not session.reemitted:  # a late outcome's repeat: counted in LATE_OUTCOMES
                closed[session.close_reason.value] += 1
            if candidate is not None:
                sends.append(self.candidates.send_soon(key=key, value=encode(candidate)))
                reasons.update(reason.value for reason in candidate.reasons)
        for reason, n in closed.items():
            m.SESSIONS_CLOSED.labels(reason=reason).inc(n)
        for reason, n in reasons.items():
            m.CANDIDATES.labels(reason=reason).inc(n)
        return sends

    def _send_dead_letter(self, letter: DeadLetter) -> asyncio.Future:
        # Headroom under the producer limit for the key, headers and batch framing.
        record = dlq.dead_letter_record(
            letter, max_bytes=producer_record_limit(self.settings) - 4096)
        fut = self.dead_letters.send_soon(key=record.key, value=record.value,
                                          headers=record.headers)
        dlq.count_dead_letter(letter)
        m.RECORDS.labels(outcome="dead_lettered").inc()
        return fut

    def _processing_error(self, event: Any, exc: Exception) -> DeadLetter:
        message = event.message
        return DeadLetter.from_processing_error(
            stage=STAGE, topic=message.topic, partition=message.partition,
            offset=message.offset, key=message.key, raw=message.value or b"", error=exc)

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


def _crash_safe_order(writes: dict[bytes, tuple[int, bytes | None]]
                      ) -> list[tuple[bytes, tuple[int, bytes | None]]]:
    """A checkpoint's writes in an order whose every prefix is a consistent table: new
    chunk keys, then heads, then the deletes of chunk keys no head names any more.

    A changelog partition keeps its records in order (one idempotent producer) and a
    crash keeps a prefix of them, so a head must never land before the chunk keys it
    names: recovered without them, the head's count would include events whose dedup
    hashes are gone, and the replayed records would count again. A merged checkpoint
    (several batches, each key written once with its newest value) keeps a key at the
    position of its first write, which puts a head before a chunk key added by a later
    batch; hence the explicit order. Chunk keys are never rewritten in place (a
    rewrite goes to fresh indices, :func:`logic.store_state`), so no prefix mixes a
    head with another state's chunks."""
    chunks, heads, deletes = [], [], []
    for item in writes.items():
        key, (_, raw) = item
        if not logic.is_chunk_key(key):
            heads.append(item)
        elif raw is None:
            deletes.append(item)
        else:
            chunks.append(item)
    return chunks + heads + deletes

