"""The sessionizer's Faust adapter: turns + ticks in, sessions, candidates and dead letters out.

Guarantee: at-least-once, with stable ids. For every record the adapter (1) decodes it
once, (2) runs the pure state machine (:mod:`streams.sessionizer.logic`), (3) sends the
closed sessions and candidates and *waits for the broker to acknowledge them*, and only
then (4) writes the new state to the changelogged table. Faust flushes the producer before
committing input offsets. So a crash at any point either replays input into the old state
(re-emitting the same ``session_uid``, which consumers deduplicate) or finds the outputs
already delivered; it never records a close whose session was not delivered.

Records that do not decode, break the contract or exceed
``settings.sessionizer.max_record_bytes`` go to the DLQ topic with their original bytes,
coordinates and reason; the worker keeps going. A processing error in the logic dead
letters the record the same way; a producer error crashes the worker (it restarts from
the committed offsets, losing nothing).

Idle sessions close on ticks: a leader timer sends one tick to every partition of the
co-partitioned tick topic; the agent sweeps only that partition's due keys (see
:mod:`streams.sessionizer.index`), inside stream iteration, as Faust requires for table
writes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import faust
import msgspec

from runtime.kafka import faust_broker_kwargs, partition_count
from runtime.settings import Settings
from schemas.dead_letters import DeadLetter
from schemas.events import TurnEvent, decode_turn_record
from schemas.sessions import Session, encode
from streams import dlq
from streams.sessionizer import logic
from streams.sessionizer import metrics as m
from streams.sessionizer.index import DeadlineIndex

log = logging.getLogger(__name__)

APP_ID = "hivemind-sessionizer"
STAGE = "sessionizer"
TABLE_NAME = "sessions"
_tick_encoder = msgspec.json.Encoder()


def faust_datadir(settings: Settings, app_id: str, worker_id: str) -> str:
    """``<HIVEMIND_HOME>/faust/<app id>-<worker id>`` (created; Faust only makes the leaf)."""
    path = settings.edge.home_path() / "faust" / f"{app_id}-{worker_id}"
    path.parent.mkdir(parents=True, exist_ok=True)
    return str(path)


def faust_compression(configured: str) -> str | None:
    """The Faust (aiokafka) producer's codec: aiokafka compresses lz4 at level 9 (its HC
    mode), which halves this worker's throughput, so lz4 becomes zstd (level 3) here;
    every client we run reads zstd."""
    if configured in ("", "none"):
        return None
    return "zstd" if configured == "lz4" else configured


def build_app(settings: Settings, *, app_id: str = APP_ID, worker_id: str = "1",
              clock: Callable[[], datetime] | None = None) -> faust.App:
    """A configured Faust app (not started). Reads the turns topic's partition count,
    so the topics must exist; raises ``BrokerUnavailable`` when Kafka cannot be reached."""
    partitions = partition_count(settings, settings.topics.turns)
    ticks = partition_count(settings, settings.topics.ticks)
    if ticks != partitions:
        from runtime.errors import SettingsInvalid

        raise SettingsInvalid(
            f"{settings.topics.ticks} has {ticks} partitions but {settings.topics.turns} has "
            f"{partitions}: they must be co-partitioned; recreate the tick topic with "
            f"{partitions} partitions"
        )
    limit = settings.sessionizer.max_record_bytes + 65536
    app = faust.App(
        app_id,
        **{**faust_broker_kwargs(settings), "topic_partitions": partitions},
        store="memory://",
        key_serializer="raw",
        value_serializer="raw",
        processing_guarantee="at_least_once",
        web_enabled=False,
        datadir=faust_datadir(settings, app_id, worker_id),
        # Batch records: fetch many per partition, and allow records up to the limit.
        consumer_max_fetch_size=max(4 * 1024 * 1024, limit),
        producer_max_request_size=limit,
        producer_compression_type=faust_compression(settings.kafka.compression),
        stream_buffer_maxsize=8192,
    )
    source = app.topic(settings.topics.turns, settings.topics.ticks,
                       key_serializer="raw", value_serializer="raw")
    table = app.Table(TABLE_NAME, partitions=partitions, key_type=bytes,
                      value_type=bytes)
    sessionizer = Sessionizer(app, table, settings, clock=clock or _utcnow)
    tick_topic = app.topic(settings.topics.ticks, key_serializer="raw", value_serializer="raw")

    @app.agent(source, name="sessionize")
    async def sessionize(stream: faust.StreamT) -> None:
        async for event in stream.events():
            await sessionizer.handle(event)

    @app.timer(settings.sessionizer.tick_interval_s, on_leader=True)
    async def send_ticks() -> None:
        value = _tick_encoder.encode({"ts_ms": int(sessionizer.clock().timestamp() * 1000)})
        for p in range(partitions):
            await tick_topic.send(key=str(p).encode(), value=value, partition=p)

    @app.on_rebalance_complete.connect
    async def on_rebalance_complete(sender: Any, **kwargs: Any) -> None:
        sessionizer.on_assigned()

    app.sessionizer = sessionizer  # type: ignore[attr-defined]
    return app


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Sessionizer:
    """Per-worker adapter state: the table, output topics, deadline index and metrics."""

    def __init__(self, app: faust.App, table: Any, settings: Settings,
                 clock: Callable[[], datetime]) -> None:
        self.app, self.table, self.settings, self.clock = app, table, settings, clock
        self.conf = settings.sessionizer
        t = settings.topics
        self.turns_topic, self.ticks_topic = t.turns, t.ticks
        self.sessions = app.topic(t.sessions, key_serializer="raw", value_serializer="raw")
        self.candidates = app.topic(t.candidates, key_serializer="raw", value_serializer="raw")
        self.dlq = app.topic(t.dlq, key_serializer="raw", value_serializer="raw")
        self.index = DeadlineIndex()
        self.assigned: set[int] = set()
        # No idle close on a partition before this time: its backlog may still be unread.
        self.sweep_not_before: dict[int, datetime] = {}
        self.max_output_bytes = self.conf.max_record_bytes
        self.tally = logic.Tally()

    # -- rebalance ---------------------------------------------------------------------

    def on_assigned(self) -> None:
        """Rebuild the deadline index from the recovered table (O(table), once per
        rebalance) and hold idle closes on newly assigned partitions for the grace."""
        actives = {tp.partition for tp in self.app.assignor.assigned_actives()
                   if tp.topic == self.turns_topic}
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
        from runtime.metrics import set_ready

        set_ready(True)

    # -- records -----------------------------------------------------------------------

    async def handle(self, event: Any) -> None:
        message = event.message
        if message.topic == self.ticks_topic:
            m.RECORDS.labels(outcome="tick").inc()
            await self.sweep(message.partition, self.clock())
        else:
            await self.handle_turns(message)

    async def handle_turns(self, message: Any) -> None:
        decoded = dlq.decode_or_dead_letter(
            message.value, decode_turn_record, stage=STAGE, topic=message.topic,
            partition=message.partition, offset=message.offset, key=message.key,
            max_bytes=self.conf.max_record_bytes)
        if isinstance(decoded, DeadLetter):
            await self.dead_letter(decoded)
            return
        events: list[TurnEvent] = decoded
        first = events[0]
        key = logic.state_key(first.workspace_id, first.session_id)
        old = self.table.get(key)
        now = self.clock()
        tally = logic.Tally()
        try:
            state = logic.decode_state(old) if old is not None else None
            new, emitted = logic.on_events(state, events, partition=message.partition,
                                           now=now, settings=self.conf, tally=tally)
        except Exception as exc:  # a bug or a corrupt state: keep the worker going
            log.exception("processing error partition=%s[%d] offset=%d stage=%s",
                          message.topic, message.partition, message.offset, STAGE)
            await self.dead_letter(DeadLetter.from_processing_error(
                stage=STAGE, topic=message.topic, partition=message.partition,
                offset=message.offset, key=message.key, raw=message.value, error=exc))
            return
        await self.deliver(emitted)
        self._store(key, old, new)
        m.RECORDS.labels(outcome="processed").inc()
        m.EVENTS.inc(tally.events)
        if tally.duplicates:
            m.DUPLICATE_EVENTS.inc(tally.duplicates)
        if tally.late:
            m.LATE_EVENTS.inc(tally.late)
        if tally.absorbed:
            m.ABSORBED_EVENTS.inc(tally.absorbed)

    async def sweep(self, partition: int, now: datetime) -> None:
        """Close the idle sessions and drop the expired markers of one partition."""
        if partition not in self.assigned:
            return
        not_before = self.sweep_not_before.get(partition)
        if not_before is not None and now < not_before:
            return
        due = self.index.due(partition, now)
        if not due:
            return
        changes: list[tuple[bytes, bytes | None, logic.SessionState | None]] = []
        emitted: list[Session] = []
        for key in due:
            old = self.table.get(key)
            if old is None:
                self.index.remove(key)
                continue
            state = logic.decode_state(old)
            new, closed = logic.on_tick(state, now=now, settings=self.conf)
            emitted.extend(closed)
            changes.append((key, old, new))
        await self.deliver(emitted)
        for key, old, new in changes:
            self._store(key, old, new)

    # -- outputs -----------------------------------------------------------------------

    async def deliver(self, sessions: list[Session]) -> None:
        """Send sessions (and their candidates) and wait until the broker has them all."""
        if not sessions:
            return
        pending = []
        for session in sessions:
            session, value = self._fit(session)
            key = session.workspace_id.encode()
            pending.append(await self.sessions.send(key=key, value=value))
            m.SESSIONS_CLOSED.labels(reason=session.close_reason.value).inc()
            candidate = logic.candidate_for(session)
            if candidate is not None:
                pending.append(await self.candidates.send(key=key, value=encode(candidate)))
                for reason in candidate.reasons:
                    m.CANDIDATES.labels(reason=reason.value).inc()
        await asyncio.gather(*pending)

    async def dead_letter(self, letter: DeadLetter) -> None:
        record = dlq.dead_letter_record(letter)
        fut = await self.dlq.send(key=record.key, value=record.value, headers=record.headers)
        await fut
        dlq.count_dead_letter(letter)
        m.RECORDS.labels(outcome="dead_lettered").inc()

    def _fit(self, session: Session) -> tuple[Session, bytes]:
        """The session and its encoding, events cut (and marked) until it fits the limit
        with room for the candidate envelope."""
        value = encode(session)
        limit = self.max_output_bytes - 4096
        while len(value) > limit and session.events:
            keep = len(session.events) // 2
            session = msgspec.structs.replace(session, events=session.events[:keep],
                                              events_truncated=True)
            value = encode(session)
        return session, value

    # -- table -------------------------------------------------------------------------

    def _store(self, key: bytes, old: bytes | None, new: logic.SessionState | None) -> None:
        """Write the new state (one table write), after the outputs were delivered."""
        if new is None:
            if old is not None:
                del self.table[key]
            self.index.remove(key)
        else:
            raw = logic.encode_state(new)
            if raw != old:
                self.table[key] = raw
            self._index(key, new)
        m.OPEN_SESSIONS.set(self.index.open_count())

    def _index(self, key: bytes, state: logic.SessionState) -> None:
        self.index.put(key, partition=state.partition,
                       deadline=logic.next_deadline(state, self.conf),
                       is_open=not state.is_closed)
