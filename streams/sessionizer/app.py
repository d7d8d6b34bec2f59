"""The sessionizer's Faust wiring: one agent over the turns topic and the co-partitioned tick
topic, a changelogged table of session states, a leader timer that sends the ticks.

Guarantee and failure behaviour are the processor's (:mod:`hivemind_kafka.streams.sessionizer.processor`):
at-least-once with stable ``session_uid``s; a state write never overtakes the delivery of
the outputs it records; bad records go to the DLQ and the worker keeps going.

Throughput: Faust pays a fixed cost per record and the old agent also paid a changelog
write and a produce request per record. The agent takes batches
(``stream.noack_take(sessionizer.batch_max_records, sessionizer.batch_within_ms)``), and
the processor reads and writes each touched key once per batch, writing the changelog
to the changelog partition of the state's own input partition (a write from a batch has
no "current event" for Faust to take the partition from). Outputs and changelog records go
through one librdkafka producer (:mod:`hivemind_kafka.streams.sessionizer.output`: batching, compression
and network off the event loop), batching up to ``sessionizer.producer_batch_bytes`` with
``sessionizer.producer_linger_ms`` of linger; Faust's own producer only sends the ticks.

Idle sessions close on ticks: the leader's timer sends one tick to every partition of the
tick topic; the agent sweeps only that partition's due keys (see
:mod:`hivemind_kafka.streams.sessionizer.index`) in the batch that holds the tick, so the closes are
written and acked like any record's.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import faust
import msgspec

from hivemind_kafka.runtime.cluster import ClusterWatch
from hivemind_kafka.runtime.errors import SettingsInvalid
from hivemind_kafka.runtime.kafka import (
    cluster_id,
    faust_broker_kwargs,
    faust_producer_kwargs,
    group_id_for,
    partition_count,
)
from hivemind_kafka.runtime.metrics import set_ready
from hivemind_kafka.runtime.settings import Settings
from hivemind_kafka.streams.sessionizer import metrics as m
from hivemind_kafka.streams.sessionizer.output import OutputProducer, OutputTopic
from hivemind_kafka.streams.sessionizer.processor import Sessionizer, producer_record_limit

log = logging.getLogger(__name__)

APP_ID = "hivemind-sessionizer"
TABLE_NAME = "sessions"
_tick_encoder = msgspec.json.Encoder()


def default_app_id(settings: Settings) -> str:
    """``hivemind-sessionizer``; with renamed topics (a tagged demo or test run sharing a
    cluster), ``hivemind-sessionizer-<turns topic>``, so the consumer group and the
    changelog topic are not shared with another deployment's."""
    return group_id_for(settings, APP_ID)


def faust_datadir(settings: Settings, app_id: str, worker_id: str) -> str:
    """``<HIVEMIND_HOME>/faust/<app id>-<worker id>`` (created; Faust only makes the leaf)."""
    path = settings.edge.home_path() / "faust" / f"{app_id}-{worker_id}"
    path.parent.mkdir(parents=True, exist_ok=True)
    return str(path)


def build_app(settings: Settings, *, app_id: str | None = None, worker_id: str = "1",
              clock: Callable[[], datetime] | None = None) -> faust.App:
    """A configured Faust app (not started). Reads the turns topic's partition count,
    so the topics must exist; raises ``BrokerUnavailable`` when Kafka cannot be reached."""
    app_id = app_id or default_app_id(settings)
    partitions = partition_count(settings, settings.topics.turns)
    ticks = partition_count(settings, settings.topics.ticks)
    if ticks != partitions:
        raise SettingsInvalid(
            f"{settings.topics.ticks} has {ticks} partitions but {settings.topics.turns} has "
            f"{partitions}: they must be co-partitioned; recreate the tick topic with "
            f"{partitions} partitions"
        )
    limit = producer_record_limit(settings)
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
        **faust_producer_kwargs(settings, max_request_size=limit),
        stream_buffer_maxsize=max(8192, 2 * settings.sessionizer.batch_max_records),
        # Records still in the processor's pipeline are simply delivered again after a
        # rebalance or stop; waiting for them would block both.
        stream_wait_empty=False,
    )
    source = app.topic(settings.topics.turns, settings.topics.ticks,
                       key_serializer="raw", value_serializer="raw")
    table = app.Table(TABLE_NAME, partitions=partitions, key_type=bytes,
                      value_type=bytes)
    t = settings.topics
    # Outputs and state writes go through librdkafka (see streams.sessionizer.output);
    # Faust's producer is left with the ticks.
    outputs = OutputProducer(settings, max_record_bytes=limit)
    sessionizer = Sessionizer(
        store=TableStore(table, outputs.topic(table.changelog_topic.get_topic_name())),
        sessions=outputs.topic(t.sessions),
        candidates=outputs.topic(t.candidates),
        dead_letters=outputs.topic(t.dlq),
        settings=settings, clock=clock or _utcnow,
        assigned_partitions=lambda: {tp.partition for tp in app.assignor.assigned_actives()
                                     if tp.topic == t.turns},
        # Changes as soon as a rebalance starts (Faust counts it in the revocation
        # callback); None while the flow is suspended, i.e. until the new assignment is
        # recovered and the consumer has sought back to the committed offsets.
        epoch=lambda: app.rebalancing_count if app.flow_control.is_active() else None,
        is_current=lambda event: event.message.generation_id == app.consumer_generation_id)
    tick_topic = app.topic(t.ticks, key_serializer="raw", value_serializer="raw")

    conf = settings.sessionizer
    max_records, within_s = conf.batch_max_records, conf.batch_within_ms / 1000

    @app.agent(source, name="sessionize")
    async def sessionize(stream: Any) -> None:  # a faust.Stream (StreamT lacks noack_take)
        # Manual acks: a record is acked once its batch's states are written.
        more = _backlog_probe(app, stream)
        async for batch in stream.noack_take(max_records, within=within_s):
            await sessionizer.handle_batch(stream, batch, more_buffered=more(batch))

    @app.timer(settings.sessionizer.tick_interval_s, on_leader=True)
    async def send_ticks() -> None:
        value = _tick_encoder.encode({"ts_ms": int(sessionizer.clock().timestamp() * 1000)})
        for p in range(partitions):
            await tick_topic.send(key=str(p).encode(), value=value, partition=p)

    # A replaced cluster makes the group rejoin (unknown member) and, with no committed
    # offsets there, read from the new log's start: said loudly here (runtime.cluster).
    watch = ClusterWatch("sessionizer", lambda: cluster_id(settings, timeout_s=5.0),
                         m.CLUSTER_CHANGES)

    @app.on_rebalance_complete.connect  # type: ignore[arg-type]
    async def on_rebalance_complete(sender: Any, **kwargs: Any) -> None:
        sessionizer.on_assigned()
        set_ready(True)
        if await asyncio.to_thread(watch.check):
            outputs.reset()

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def drain_on_revoke(sender: Any, revoked: Any, **kwargs: Any) -> None:
        # What Faust does for its own producer here: the changelog records sent so far
        # are in the log before the group moves on and a new owner recovers from it (a
        # late record would land after the new owner's own writes of the same keys).
        await outputs.drain(timeout_s=settings.kafka.session_timeout_ms / 2000)

    @app.on_before_shutdown.connect  # type: ignore[arg-type]
    async def drain_outputs(sender: Any, **kwargs: Any) -> None:
        await outputs.drain(timeout_s=10)

    app.sessionizer = sessionizer  # type: ignore[attr-defined]
    return app


class TableStore:
    """The processor's :class:`~streams.sessionizer.processor.StateStore` over a Faust
    table of raw bytes: reads and writes go to the table's local store, and every write
    or delete sends its changelog record (raw key and value, a null value deletes) to the
    partition given, as ``table[k] = v`` would from inside stream iteration (recovery
    replays it the same way). The memory store keeps no changelog offsets, so the
    records need not go through Faust's producer."""

    def __init__(self, table: Any, changelog: OutputTopic) -> None:
        self.table, self.changelog = table, changelog

    def get(self, key: bytes) -> bytes | None:
        return self.table.data.get(key)

    def put(self, key: bytes, raw: bytes | None, *, partition: int) -> Any:
        """The changelog record's future (resolved when the broker acknowledged it), or
        None when there was nothing to delete."""
        data = self.table.data
        # The memory store forgets keys of revoked partitions by this map (it fills it
        # only on recovery); keep it true for keys written here too.
        key_partition = getattr(data, "_key_partition", None)
        if raw is None:
            if data.get(key) is None:
                return None
            del data[key]
            if key_partition is not None:
                key_partition.pop(key, None)
            return self.changelog.send_soon(key=key, value=None, partition=partition)
        data[key] = raw
        if key_partition is not None:
            key_partition[key] = partition
        return self.changelog.send_soon(key=key, value=raw, partition=partition)

    def items(self) -> list[tuple[bytes, bytes]]:
        return list(self.table.data.items())


def _backlog_probe(app: faust.App, stream: Any) -> Callable[[Sequence[Any]], bool]:
    """Whether more input waits after ``batch``: records in the stream's buffer, or a
    partition of the batch whose high watermark is past the batch's last offset (True
    when unknown). A batch is processed without awaits, so the buffer alone is often
    empty under a backlog."""
    queue = getattr(stream.channel, "queue", None)

    def more(batch: Sequence[Any]) -> bool:
        if queue is None or not queue.empty():
            return True
        last: dict[Any, int] = {}
        for event in batch:
            message = event.message
            last[message.tp] = max(last.get(message.tp, -1), message.offset)
        for tp, offset in last.items():
            try:
                highwater = app.consumer.highwater(tp)
            except Exception:  # not known yet (no fetch response): assume more
                return True
            if highwater is None or highwater > offset + 1:
                return True
        return False

    return more


def _utcnow() -> datetime:
    return datetime.now(UTC)
