"""The Delta sink: Kafka topics -> Delta tables, one commit per flush, offsets inside it.

``run_sink(settings)`` runs it until stopped (``python -m hivemind_kafka.sinks``); ``read_table(settings,
name)`` reads a table back. The commit protocol follows kafka-delta-ingest and is written
out as numbered steps in :meth:`DeltaSink._flush`; the offset arithmetic is in
``sinks.delta_txn``, the buffers in ``sinks.buffer``, the tables in ``sinks.tables``.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import pyarrow as pa
from confluent_kafka import (
    OFFSET_BEGINNING,
    TIMESTAMP_NOT_AVAILABLE,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)

from hivemind_kafka.runtime import metrics as http_metrics
from hivemind_kafka.runtime.dlq import count_dead_letter, dead_letter_record
from hivemind_kafka.runtime.errors import BrokerUnavailable, CommitConflict
from hivemind_kafka.runtime.kafka import (
    ClusterWatch,
    cluster_id,
    consumer_config,
    ensure_topics,
    group_id_for,
    producer_config,
)
from hivemind_kafka.runtime.settings import Settings
from hivemind_kafka.schemas.dead_letters import DeadLetter
from hivemind_kafka.sinks import metrics
from hivemind_kafka.sinks.buffer import Batch, TableBuffer
from hivemind_kafka.sinks.delta_txn import (
    advisory_commit_offset,
    app_id,
    keyed_marker,
    lag_records,
    resume_offset,
    stored_version,
)
from hivemind_kafka.sinks.isolate import (
    Unit,
    commit_isolating,
    failing_units,
    rows_of,
    units_of,
)
from hivemind_kafka.sinks.lake_table import LakeTable
from hivemind_kafka.sinks.tables import (
    TABLES,
    SinkRecord,
    TableSpec,
    first_per_key,
    table_spec,
    without_keys,
)

log = logging.getLogger(__name__)

GROUP_ID = "hivemind-sink"
APP = "hivemind-sink"
STAGE = "sink"
# Consecutive non-conflict commit failures tolerated (each resets and re-reads) before
# the error propagates and the process exits for its supervisor to restart it.
MAX_COMMIT_FAILURES = 3
# With nothing consumed, how often the cluster id is read again (a consumed batch always
# triggers a check before it is routed).
CLUSTER_CHECK_IDLE_S = 1.0


@contextlib.contextmanager
def _gc_paused():
    """Pause the cyclic GC while building many acyclic objects (decoded events, Arrow
    rows): with 100k live structs each gen0/gen1 pass walks them all, which measured here
    as 4x the cost of building the Arrow table itself. Reference counting still frees."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@dataclass
class _Table:
    spec: TableSpec
    topic: str
    lake: LakeTable
    buffer: TableBuffer
    cluster: str = ""
    topic_id: str = ""  # "" until read at assignment, or when the broker gives none

    def app_id(self, partition: int) -> str:
        return app_id(APP, self.topic, partition, cluster=self.cluster,
                      topic_id=self.topic_id)

    def _legacy_app_id(self, partition: int) -> str:
        return app_id(APP, self.topic, partition, cluster=self.cluster)

    def version(self, partition: int) -> int | None:
        """The last offset of ``partition`` the table holds (its loaded snapshot):
        :func:`delta_txn.stored_version` over the app ids with and without the topic id
        (with no topic id readable, the one without: every commit writes it)."""
        legacy = self._legacy_app_id(partition)
        old = self.lake.transaction_version(legacy)
        if not self.topic_id:
            return old
        return stored_version(self.lake.transaction_version(self.app_id(partition)), old,
                              keyed=self.lake.transaction_version(keyed_marker(legacy))
                              is not None)

    def txns(self, versions: Mapping[int, int]) -> dict[str, int]:
        """The app transactions of a commit passing ``versions`` (partition -> last
        written offset): under the topic id, without it, and the mark that the
        partition is kept by topic id (once)."""
        txns: dict[str, int] = {}
        for p, v in versions.items():
            legacy = self._legacy_app_id(p)
            txns[legacy] = v
            if self.topic_id:
                txns[self.app_id(p)] = v
                if self.lake.transaction_version(keyed_marker(legacy)) is None:
                    txns[keyed_marker(legacy)] = 1
        return txns


class DeltaSink:
    """Kafka topics -> Delta tables with exactly-once rows per (table, Kafka partition).

    Exactly-once: each record of an assigned partition is reflected in a table by exactly
    one Delta commit. That commit holds the record's rows AND, for every Kafka partition
    in the batch, the app transaction ``{app}-{cluster}-{topic}-{partition}`` whose version is the
    offset of the last record covered. On assignment the sink reads those versions and
    seeks to version + 1; records at or below a version are dropped, so a crash at any
    point (before, during or after a commit) replays only what no commit holds. Kafka's
    committed offsets are advisory (written after the Delta commit, for lag tools).

    On top of offsets, rows are deduplicated by key: repeats within a bounded recent
    window per partition (``TableSpec.dedup_window``), and for tables with a
    ``unique_key`` (events by ``event_id``, sessions by ``session_uid``, outcomes,
    exposures) against the table itself, so each key is stored once across restarts,
    resends and cluster changes.

    Offsets belong to one cluster: the app ids carry the cluster id, which is read again
    before each consumed batch; a new cluster behind the same address is logged, counted
    and read from its log's start (:meth:`_switch_cluster`).

    Poison never stops it: a record that is oversized, does not decode, breaks the
    contract (workspace id, schema_version, timestamp range, key) or fails while its rows
    are built is dead-lettered (``runtime.dlq``: size cap, ``hivemind_dlq_records_total``
    with stage "sink") and stored in no table; the stream goes on. So is a record that
    only fails with its batch, while the rows become Arrow or are written to Delta: the
    batch is split by record (``sinks.isolate``) until the records that fail alone are
    found; a write failure counts as the record's only if an empty commit to the same
    table succeeds and the record fails alone twice (else: an outage, the retry path).

    Failure behaviour: a commit refused because another writer advanced one of our
    partitions (a stale writer after a rebalance) reloads the table, resets every
    partition of that table to the table's versions, seeks back and continues. Other
    commit errors do the same, and propagate after ``MAX_COMMIT_FAILURES`` in a row.
    Dead letters are delivered before the commit that passes them (at-least-once: a
    replay may dead-letter a record twice); tables with ``dead_letter_undecodable`` False
    skip and count. Revoked partitions lose their buffered rows (the next owner re-reads
    them from the table's version). SIGTERM: flush, commit and leave within
    ``HIVEMIND_STOP_GRACE_S``, else exit without (see :func:`run_sink`).
    """

    def __init__(self, settings: Settings, specs: Sequence[TableSpec] | None = None, *,
                 group_id: str | None = None, clock: Callable[[], float] = time.monotonic,
                 consume_batch: int = 10_000) -> None:
        self._settings = settings
        self._clock = clock
        self._consume_batch = consume_batch
        self._tables: list[_Table] = []
        options = settings.lake.storage_options()
        cluster = self._cluster = cluster_id(settings)
        self._next_cluster_check = 0.0
        for spec in (TABLES if specs is None else specs):
            metrics.init_table(spec.name, dead_letters=spec.dead_letter_undecodable)
            lake = LakeTable(settings.lake.table_uri(spec.name), spec.schema, spec.partition_by,
                             storage_options=options)
            self._tables.append(_Table(
                spec=spec, topic=getattr(settings.topics, spec.topic), lake=lake,
                buffer=TableBuffer(dedup_key=spec.dedup_key, dedup_window=spec.dedup_window),
                cluster=cluster,
            ))
        # Asks for the metadata of one input topic only (it exists: the sink reads it).
        self._cluster_watch = ClusterWatch(settings, self._tables[0].topic)
        self._by_topic: dict[str, list[_Table]] = {}
        for t in self._tables:
            self._by_topic.setdefault(t.topic, []).append(t)
        self._consumer = Consumer(consumer_config(
            settings, group_id or group_id_for(settings, GROUP_ID),
            **{"partition.assignment.strategy": "range",  # eager: on_assign / on_revoke
               "enable.auto.offset.store": False,
               "max.partition.fetch.bytes": 8 * 1024 * 1024,
               "fetch.max.bytes": 64 * 1024 * 1024},
        ))
        self._producer: Producer | None = None
        # What the DLQ producer can send (as runtime.kafka.producer_config), minus headroom.
        self._dlq_limit = settings.sessionizer.max_record_bytes + 65536 - 4096
        self._dlq_errors: list[str] = []
        # (topic, partition) -> the next offset the consumer should deliver: set by every
        # seek of ours, advanced by every record; a lower one means the log went backwards.
        self._expected: dict[tuple[str, int], int] = {}
        self._failures = 0
        self._assigned_once = threading.Event()
        self.first_assigned_at: float | None = None  # time.monotonic() of the first assignment
        self._next_lag_at = 0.0

    # -- lifecycle ------------------------------------------------------------------

    def start(self) -> None:
        self._consumer.subscribe(sorted(self._by_topic), on_assign=self._on_assign,
                                 on_revoke=self._on_revoke, on_lost=self._on_revoke)
        log.info("sink subscribed to %s -> tables %s", ", ".join(sorted(self._by_topic)),
                 ", ".join(t.spec.name for t in self._tables))

    def run(self, stop: threading.Event) -> None:
        """Consume and commit until ``stop`` is set; then flush, commit and close."""
        self.start()
        try:
            while not stop.is_set():
                self.poll_once()
            self.flush_all()
        finally:
            self.close()

    def close(self) -> None:
        """Leave the group without flushing (call :meth:`flush_all` first to keep rows)."""
        self._consumer.close()
        if self._producer is not None:
            self._producer.flush(10)

    @property
    def is_assigned(self) -> bool:
        return self._assigned_once.is_set()

    def buffered_rows(self, table: str) -> int:
        """Rows of ``table`` waiting for the next commit."""
        return next(t.buffer.buffered_rows for t in self._tables if t.spec.name == table)

    def last_written_offsets(self, table: str) -> dict[int, int | None]:
        """Per assigned partition, the txn version this sink last read or wrote."""
        t = next(t for t in self._tables if t.spec.name == table)
        return {p: t.buffer.last_written_offset(p) for p in t.buffer.partitions()}

    # -- consuming ------------------------------------------------------------------

    def poll_once(self, timeout: float = 0.2) -> int:
        """Consume what is there (up to ``timeout``), buffer it, flush tables that are due.

        Before a consumed batch is routed, the cluster id is read again (one metadata
        request): a batch fetched across a switch to a new cluster is dropped, and the
        sink resumes from the new cluster's log start (:meth:`_switch_cluster`).
        """
        messages = self._consumer.consume(num_messages=self._consume_batch, timeout=timeout)
        now = self._clock()
        if messages or now >= self._next_cluster_check:
            self._next_cluster_check = now + CLUSTER_CHECK_IDLE_S
            current = self._current_cluster()
            if current is not None and current != self._cluster:
                self._switch_cluster(current)
                return len(messages)
        with _gc_paused():
            for msg in messages:
                err = msg.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        continue
                    if err.fatal():
                        raise KafkaException(err)
                    log.warning("consumer error %s", err)
                    continue
                self._route(msg, now)
        if self._producer is not None:
            self._producer.poll(0)
        lake = self._settings.lake
        for t in self._tables:
            if t.buffer.is_due(now, flush_rows=lake.flush_rows, flush_seconds=lake.flush_seconds):
                self._flush(t)
        if now >= self._next_lag_at:
            self._update_lag()
            self._next_lag_at = now + 5.0
        return len(messages)

    def _route(self, msg, now: float) -> None:
        partition, offset = msg.partition(), msg.offset()
        coords = (msg.topic(), partition)
        if offset < self._expected.get(coords, 0):
            self._rewind(msg.topic(), partition, offset)
        self._expected[coords] = offset + 1
        record: SinkRecord | None = None
        for t in self._by_topic.get(msg.topic(), ()):
            if t.buffer.is_already_accepted(partition, offset):
                continue  # already in the table or buffered (replay after a seek)
            if record is None:
                ts_type, ts_ms = msg.timestamp()
                if ts_type == TIMESTAMP_NOT_AVAILABLE or ts_ms < 0:
                    ts_ms = int(time.time() * 1000)  # skills' published_at needs one
                record = SinkRecord(topic=msg.topic(), partition=partition, offset=offset,
                                    key=msg.key(), value=msg.value(), timestamp_ms=ts_ms)
            rows = self._rows_or_reject(t, record)
            dropped = t.buffer.accept(partition, offset, rows, now, source=record)
            if dropped:
                metrics.DUPLICATES.labels(t.spec.name).inc(dropped)

    def _rows_or_reject(self, t: _Table, record: SinkRecord) -> Sequence[Any]:
        """The record's rows for table ``t``, or none and a dead letter (once per record).

        Poison never stops the sink: an oversized value, a record that does not decode or
        breaks the contract (workspace id, schema_version, timestamps, key), and any other
        error while building its rows reject the record, and the stream goes on.
        """
        limit = self._settings.sessionizer.max_record_bytes
        letter: DeadLetter | None = None
        if record.value is not None and len(record.value) > limit:
            # Never stored: the sessionizer dead-letters it too, the tables must agree.
            letter = DeadLetter.from_oversized(
                stage=STAGE, topic=record.topic, partition=record.partition,
                offset=record.offset, key=record.key, raw=record.value, limit=limit)
        else:
            try:
                return t.spec.rows(record)
            except msgspec.ValidationError as exc:
                letter = DeadLetter.from_contract_violation(
                    stage=STAGE, topic=record.topic, partition=record.partition,
                    offset=record.offset, key=record.key, raw=record.value or b"",
                    detail=str(exc))
            except (msgspec.MsgspecError, UnicodeDecodeError) as exc:
                letter = DeadLetter.from_undecodable(
                    stage=STAGE, topic=record.topic, partition=record.partition,
                    offset=record.offset, key=record.key, raw=record.value or b"",
                    detail=str(exc))
            except Exception as exc:  # a bug or an input nobody foresaw: not a crash loop
                letter = DeadLetter.from_processing_error(
                    stage=STAGE, topic=record.topic, partition=record.partition,
                    offset=record.offset, key=record.key, raw=record.value or b"", error=exc)
        self._reject(t, record, letter)
        return ()

    def _reject(self, t: _Table, record: SinkRecord, letter: DeadLetter) -> None:
        coords = f"{record.topic}[{record.partition}] offset={record.offset}"
        if not t.spec.dead_letter_undecodable or record.cache.get("dead_lettered"):
            metrics.UNDECODABLE.labels(t.spec.name, "skipped").inc()
            log.debug("skipped rejected record %s table=%s reason=%s", coords, t.spec.name,
                      letter.reason.value)
            return
        record.cache["dead_lettered"] = True
        dlq = dead_letter_record(letter, max_bytes=self._dlq_limit)
        if self._producer is None:
            self._producer = Producer(producer_config(self._settings))
        self._producer.produce(self._settings.topics.dlq, value=dlq.value, key=dlq.key,
                               headers=dlq.headers,  # type: ignore[arg-type]
                               on_delivery=self._on_dlq_delivery)
        metrics.UNDECODABLE.labels(t.spec.name, "dead_lettered").inc()
        count_dead_letter(letter)

    def _on_dlq_delivery(self, err, msg) -> None:
        if err is not None:
            self._dlq_errors.append(str(err))

    def _rewind(self, topic: str, partition: int, offset: int) -> None:
        """An offset below the next one expected, with no seek of ours in between: the
        log went backwards on the same cluster (topic deleted and recreated, truncated).
        Loud (error log, ``hivemind_sink_offsets_rewound_total``, alert), then the new log
        is read from this offset: skipping it as "already written" would lose it."""
        metrics.OFFSETS_REWOUND.inc()
        log.error("%s[%d] went backwards to offset %d (expected %d) on cluster %s: the "
                  "topic was recreated or truncated; reading it again from there", topic,
                  partition, offset, self._expected[(topic, partition)], self._cluster)
        for t in self._by_topic.get(topic, ()):
            if t.buffer.owns(partition):
                t.buffer.rewind(partition, offset)

    def _seeking(self, topic: str, partition: int, offset: int) -> None:
        """Record where the consumer is sent, so the next offset is checked against it."""
        self._expected[(topic, partition)] = max(offset, 0)  # OFFSET_BEGINNING is negative

    # -- a new cluster behind the same address ---------------------------------------

    def _current_cluster(self) -> str | None:
        """The cluster id behind the bootstrap address now (None: no broker answered)."""
        return self._cluster_watch.current()

    def _switch_cluster(self, new: str) -> None:
        """The broker behind the bootstrap address is another cluster (a fresh embedded
        broker, a migration): its offsets mean nothing against the old cluster's txn
        versions. The steps:

        1. Say so loudly (error log, ``hivemind_sink_cluster_changes_total``, alert
           HivemindSinkClusterChanged).
        2. Commit what is buffered under the OLD cluster's app ids: those rows were read
           from the old log, which may be gone (the batch that revealed the change was
           dropped unread: it may mix both logs).
        3. Key every table by the new cluster id and resume every assigned partition
           from the new app ids' versions: none yet, so from the new log's start.
           Rows the new log repeats (an edge resending) are dropped by the unique keys.
        """
        old = self._cluster
        metrics.CLUSTER_CHANGES.inc()  # 1
        log.error("kafka cluster changed from %s to %s behind %s: committing what was read "
                  "from the old cluster, then reading the new cluster's log from its start",
                  old, new, self._settings.kafka.bootstrap or "the embedded broker")
        self.flush_all()  # 2
        self._cluster = new  # 3
        for t in self._tables:
            t.cluster = new
        self._read_topic_ids(sorted(self._by_topic))
        for t in self._tables:
            t.lake.reload()
            for partition in t.buffer.partitions():
                t.buffer.reset(partition, t.version(partition))
        for topic, tables in self._by_topic.items():
            partitions = sorted({p for t in tables for p in t.buffer.partitions()})
            for partition in partitions:
                start = resume_offset(t.buffer.position(partition) for t in tables
                                      if t.buffer.owns(partition))
                offset = OFFSET_BEGINNING if start is None else start
                self._seeking(topic, partition, offset)
                try:
                    self._consumer.seek(TopicPartition(topic, partition, offset))
                except KafkaException as exc:
                    log.warning("seek %s[%d] failed: %s", topic, partition, exc)

    # -- assignment -----------------------------------------------------------------

    def _read_topic_ids(self, topics: Sequence[str]) -> None:
        """Key the tables of ``topics`` by the topics' ids now (a topic deleted and
        recreated under its name has a new id, so its offsets start afresh)."""
        ids = self._cluster_watch.topic_ids(topics)
        for topic, topic_id in ids.items():
            if not topic_id:
                continue  # unreadable now: keep what was read
            for t in self._by_topic.get(topic, []):
                if t.topic_id and t.topic_id != topic_id:
                    log.error("%s was recreated (topic id %s, was %s): reading the new "
                              "topic from its start", topic, topic_id, t.topic_id)
                t.topic_id = topic_id

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._read_topic_ids(sorted({tp.topic for tp in partitions}))
        reloaded: set[str] = set()
        for tp in partitions:
            tables = self._by_topic.get(tp.topic, [])
            for t in tables:
                if t.spec.name not in reloaded:
                    t.lake.reload()
                    reloaded.add(t.spec.name)
                t.buffer.assign(tp.partition, t.version(tp.partition))
            start = resume_offset(t.buffer.last_written_offset(tp.partition) for t in tables)
            tp.offset = OFFSET_BEGINNING if start is None else start
            self._seeking(tp.topic, tp.partition, tp.offset)
            log.info("assigned %s[%d] start_offset=%s", tp.topic, tp.partition,
                     "beginning" if start is None else start)
        consumer.assign(partitions)
        if self.first_assigned_at is None:
            self.first_assigned_at = time.monotonic()
        self._assigned_once.set()
        http_metrics.set_ready(True)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            for t in self._by_topic.get(tp.topic, []):
                t.buffer.revoke(tp.partition)
            log.info("revoked %s[%d]; its buffered rows are dropped", tp.topic, tp.partition)

    # -- the commit protocol --------------------------------------------------------

    def flush_all(self) -> None:
        for t in self._tables:
            self._flush(t)

    def _flush(self, t: _Table) -> None:
        """Commit one table's buffer. The steps, in order:

        1. Take the buffered rows and, per partition, the last offset they cover.
        2. Deliver the dead letters produced so far: the commit passes their offsets.
        3. Build the Arrow table from the rows.
        4. Reload the table and check it still holds, per partition, the version this
           sink last read or wrote; otherwise another writer advanced it: conflict.
        5. Unique-key tables: drop rows whose key is repeated in the batch or already
           stored in the partitions the batch touches.
        6. Commit the rows and one Transaction(app_id, last_written_offset) per partition
           in ONE Delta commit (delta-rs refuses it if another writer committed one of
           these app ids since step 4's snapshot: conflict).
        7. On conflict or error: reload, reset every partition of the table to the
           table's versions, seek the consumer back there, and continue.
        8. Record the committed versions as the last written offsets.
        9. Commit the next offsets to Kafka (advisory, for lag tools).
        """
        batch = t.buffer.take()  # 1
        if not batch:
            return
        name = t.spec.name
        started = time.perf_counter()
        try:
            self._deliver_dead_letters()  # 2
            with _gc_paused():  # 3
                data, units = self._to_arrow(t, batch)
            t.lake.reload()  # 4
            for partition in batch.last_written_offsets:
                expected = t.buffer.last_written_offset(partition)
                actual = t.version(partition)
                if actual != expected:
                    raise CommitConflict(
                        f"{t.app_id(partition)} is at {actual} in table {name}, this sink "
                        f"expected {expected}: another writer owns the partition"
                    )
            if t.spec.unique_key:  # 5
                data = self._drop_stored_keys(t, data)
            _crash_point("before_commit", t, data)
            stored = data.num_rows
            try:
                t.lake.append(data, t.txns(batch.last_written_offsets))  # 6
            except CommitConflict:
                raise
            except Exception as exc:  # a poison record, or an outage: tell them apart
                stored = self._commit_isolating(t, batch, units, exc)
            _crash_point("after_commit", t, data)
        except CommitConflict as exc:  # 7
            metrics.CONFLICTS.inc()
            metrics.COMMITS.labels(name, "conflict").inc()
            log.warning("commit conflict on table %s (%s): resetting to the table's versions",
                        name, exc)
            self._reset(t)
            return
        except Exception as exc:  # 7, bounded by MAX_COMMIT_FAILURES
            metrics.COMMITS.labels(name, "error").inc()
            self._failures += 1
            log.error("commit failed on table %s (%d in a row): %s", name, self._failures, exc)
            self._reset(t)
            if self._failures >= MAX_COMMIT_FAILURES:
                raise
            return
        self._failures = 0
        t.buffer.committed(batch)  # 8
        self._commit_kafka(t, batch)  # 9
        self._update_lag()
        elapsed = time.perf_counter() - started
        metrics.COMMIT_SECONDS.observe(elapsed)
        metrics.COMMITS.labels(name, "ok").inc()
        metrics.ROWS.labels(name).inc(stored)
        log.info("committed table=%s version=%d rows=%d partitions=%s seconds=%.3f", name,
                 t.lake.version, stored, batch.last_written_offsets, elapsed)

    def _to_arrow(self, t: _Table, batch: Batch) -> tuple[pa.Table, list[Unit] | None]:
        """Step 3: the batch's rows as Arrow. If that fails, the records whose rows fail
        alone are dead-lettered (conversion is deterministic: no outage to rule out) and
        the rest converted; the units kept are returned then (None: all of them)."""
        if not batch.rows:
            return t.spec.schema.empty_table(), None
        try:
            return t.spec.to_arrow(batch.rows), None
        except Exception as exc:
            units = units_of(batch)
            bad = failing_units(units, t.spec.to_arrow)
            if not bad:
                raise  # rows that fail only together: not one record's fault
            log.error("table %s: %d of %d records in the batch fail to convert (%s): "
                      "dead-lettering them, converting the rest", t.spec.name, len(bad),
                      len(units), exc)
            for unit, err in bad:
                self._reject_unit(t, unit, err)
            self._deliver_dead_letters()
            failed = {(u.partition, u.offset) for u, _ in bad}
            kept = [u for u in units if (u.partition, u.offset) not in failed]
            rows = rows_of(kept)
            return (t.spec.to_arrow(rows) if rows else t.spec.schema.empty_table()), kept

    def _reject_unit(self, t: _Table, unit: Unit, error: BaseException) -> None:
        record: SinkRecord = unit.source
        metrics.ISOLATED.labels(t.spec.name).inc()
        self._reject(t, record, DeadLetter.from_processing_error(
            stage=STAGE, topic=record.topic, partition=record.partition, offset=record.offset,
            key=record.key, raw=record.value or b"", error=error))

    def _commit_isolating(self, t: _Table, batch: Batch, units: list[Unit] | None,
                          first: Exception) -> int:
        """Step 6 failed (not a conflict): commit the batch record by record halves
        (``sinks.isolate``), dead-lettering each record that fails alone while the storage
        takes an empty commit; any other failure propagates (an outage: step 7). Returns
        the rows stored. Each commit covers a per-partition prefix of the batch, the last
        one every offset of it, so exactly-once holds whatever happens in between."""
        name = t.spec.name
        units = units_of(batch) if units is None else units
        self._probe(t, first)  # an outage costs one attempt more, not a split
        log.error("commit failed on table %s (%s) while it takes an empty commit: "
                  "splitting the batch of %d records to find any that fail alone", name,
                  first, len(units))
        stored = 0

        def commit(chunk: Sequence[Unit], versions: dict[int, int]) -> None:
            nonlocal stored
            t.lake.reload()
            data = t.spec.to_arrow(rows_of(chunk))
            if t.spec.unique_key:
                data = self._drop_stored_keys(t, data)
            t.lake.append(data, t.txns(versions))
            t.buffer.committed(Batch(rows=[], last_written_offsets=versions))
            stored += data.num_rows

        def on_poison(unit: Unit, exc: Exception) -> None:
            self._probe(t, exc)
            try:  # a second time alone: a flaky write is not a poison record
                commit([unit], {unit.partition: unit.offset})
                return
            except CommitConflict:
                raise
            except Exception as again:
                exc = again
            log.error("table %s: %s[%d] offset %d fails alone while the table takes "
                      "commits (%s): dead-lettering it", name, t.topic, unit.partition,
                      unit.offset, exc)
            self._reject_unit(t, unit, exc)
            self._deliver_dead_letters()  # before the commit that passes its offset
            t.lake.reload()
            passed = {unit.partition: unit.offset}
            t.lake.append(t.spec.schema.empty_table(), t.txns(passed))
            t.buffer.committed(Batch(rows=[], last_written_offsets=passed))

        commit_isolating(units, commit, on_poison)
        rest = {p: v for p, v in batch.last_written_offsets.items()
                if (last := t.buffer.last_written_offset(p)) is None or v > last}
        if rest:  # records after the last one with rows (rejected, duplicates)
            t.lake.reload()
            t.lake.append(t.spec.schema.empty_table(), t.txns(rest))
        return stored

    def _probe(self, t: _Table, failure: Exception) -> None:
        """Raise ``failure`` unless the table takes an empty commit (no row, no offset):
        a write that fails while the storage takes no commit at all is an outage."""
        try:
            t.lake.reload()
            t.lake.append(t.spec.schema.empty_table(), {})
        except Exception as probe:
            log.error("table %s takes no commit at all (%s): an outage, not a poison record",
                      t.spec.name, probe)
            raise failure from probe

    def _deliver_dead_letters(self) -> None:
        if self._producer is None:
            return
        remaining = self._producer.flush(30)
        if remaining or self._dlq_errors:
            errors, self._dlq_errors = self._dlq_errors, []
            raise BrokerUnavailable(
                f"dead letters not delivered to {self._settings.topics.dlq} "
                f"({remaining} pending, errors: {errors[:3]}): check the broker and the topic"
            )

    def _drop_stored_keys(self, t: _Table, data: pa.Table) -> pa.Table:
        key = t.spec.unique_key
        assert key is not None
        before = data.num_rows
        data = first_per_key(data, key)
        data = without_keys(data, key, t.lake.existing_keys(data, key,
                                                            within=t.spec.unique_within))
        if data.num_rows < before:
            metrics.DUPLICATES.labels(t.spec.name).inc(before - data.num_rows)
        return data

    def _reset(self, t: _Table) -> None:
        """Restart every partition of ``t`` from the table's versions and seek there."""
        t.lake.reload()
        for partition in t.buffer.partitions():
            t.buffer.reset(partition, t.version(partition))
            tables = self._by_topic[t.topic]
            start = resume_offset(o.buffer.position(partition) for o in tables
                                  if o.buffer.owns(partition))
            offset = OFFSET_BEGINNING if start is None else start
            self._seeking(t.topic, partition, offset)
            try:
                self._consumer.seek(TopicPartition(t.topic, partition, offset))
            except KafkaException as exc:
                # Not assigned any more (revoked meanwhile): the next owner starts from
                # the table's version anyway.
                log.warning("seek %s[%d] failed: %s", t.topic, partition, exc)

    def _commit_kafka(self, t: _Table, batch: Batch) -> None:
        offsets = []
        for partition in batch.last_written_offsets:
            tables = [o for o in self._by_topic[t.topic] if o.buffer.owns(partition)]
            nxt = advisory_commit_offset(o.buffer.last_written_offset(partition) for o in tables)
            if nxt is not None:
                offsets.append(TopicPartition(t.topic, partition, nxt))
        if offsets:
            try:
                self._consumer.commit(offsets=offsets, asynchronous=True)
            except KafkaException as exc:  # advisory: lag tools lag a little longer
                log.warning("advisory offset commit failed: %s", exc)

    def _update_lag(self) -> None:
        for t in self._tables:
            total = 0
            for partition in t.buffer.partitions():
                low, high = self._consumer.get_watermark_offsets(
                    TopicPartition(t.topic, partition), cached=True)
                if high < 0:
                    continue
                total += lag_records(high, t.buffer.last_written_offset(partition), max(low, 0))
            metrics.LAG.labels(t.spec.name).set(total)


# Fault injection for tests/integration/test_sink_faults.py only: "<point>:<n>" SIGKILLs
# this process at the n-th commit reaching <point> (set by sinks.__main__ from
# HIVEMIND_TEST_SINK_CRASH). "before_commit" first writes the batch's data files into the
# table directory, as a crash between delta-rs writing files and committing the log leaves
# them; "after_commit" dies after the Delta commit, before the Kafka commit.
CRASH_AT: tuple[str, int] | None = None
_crash_count = 0


def _crash_point(point: str, t: _Table, data: pa.Table) -> None:
    global _crash_count
    if CRASH_AT is None or CRASH_AT[0] != point:
        return
    _crash_count += 1
    if _crash_count < CRASH_AT[1]:
        return
    if point == "before_commit" and "://" not in t.lake.uri:
        import pyarrow.parquet as pq

        pq.write_table(data, str(Path(t.lake.uri) / f"part-00000-crashed-{os.getpid()}.parquet"))
    log.error("test crash point %s reached: SIGKILL", point)
    os.kill(os.getpid(), signal.SIGKILL)


def select_tables(names: Sequence[str] | None) -> list[TableSpec]:
    """The specs named (all of TABLES for None); unknown names raise with the valid ones."""
    if names is None:
        return list(TABLES)
    return [table_spec(n) for n in names]


def run_sink(settings: Settings, *, stop: threading.Event | None = None,
             tables: list[str] | None = None) -> None:
    """Run the sink until ``stop`` is set or SIGTERM/SIGINT arrives; then flush, commit
    and leave the group.

    Creates missing topics first if ``kafka.create_topics``. Serves /metrics, /healthz
    and /readyz on the metrics base port + ``PORT_OFFSETS["sink"]`` (if a base port is
    set); ready after the first partition assignment. Errors propagate (the process exits
    and its supervisor restarts it; nothing uncommitted counts).
    """
    stop = stop or threading.Event()
    restore: dict[signal.Signals, object] = {}
    if threading.current_thread() is threading.main_thread():
        # The sink's own process: files it creates (the lake, logs) are the user's only.
        os.umask(0o077)

        def on_signal(signum, _frame) -> None:
            stop.set()
            _exit_after(settings.stop_grace_s, signal.Signals(signum).name)

        for sig in (signal.SIGTERM, signal.SIGINT):
            restore[sig] = signal.signal(sig, on_signal)
    _make_lake_private(settings)
    server = None
    try:
        if settings.kafka.create_topics:
            ensure_topics(settings)  # idempotent; a missing topic would only be logged
        if settings.metrics.port > 0:
            server = http_metrics.serve(settings.metrics.host,
                                        settings.metrics.port + http_metrics.PORT_OFFSETS["sink"])
        DeltaSink(settings, select_tables(tables)).run(stop)
    finally:
        for sig, handler in restore.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
        if server is not None:
            server.shutdown()
        http_metrics.set_ready(False)


def _exit_after(grace_s: float, reason: str) -> None:
    """Bound a graceful stop: flushing, delivering dead letters and leaving the group can
    each wait on an unreachable broker. Past ``grace_s`` the process exits (status 1)
    without them; Delta holds only whole commits, so nothing committed is lost and the
    next start resumes from the table's versions."""

    def give_up() -> None:
        log.error("sink did not stop within %.1fs of %s (HIVEMIND_STOP_GRACE_S): exiting "
                  "without flushing; uncommitted records are read again on the next start",
                  grace_s, reason)
        logging.shutdown()
        os._exit(1)

    timer = threading.Timer(grace_s, give_up)
    timer.daemon = True
    timer.start()


def _make_lake_private(settings: Settings) -> None:
    """A local lake's root is 0700 (its files hold captured prompts; with the process
    umask 077 new files are 0600 and directories 0700). On S3, privacy is the bucket's
    policy and encryption settings, not file modes."""
    uri = settings.lake.uri
    if "://" in uri:
        return
    root = Path(uri).resolve()
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(OSError):  # not ours to change (a shared mount): leave it
        root.chmod(0o700)


def read_table(settings: Settings, name: str) -> pa.Table:
    """All rows of table ``name`` in the lake; an empty table with the spec's schema if
    the sink has not created it yet (KeyError listing the valid names if there is no such
    spec either)."""
    from deltalake import DeltaTable

    uri = settings.lake.table_uri(name)
    options = settings.lake.storage_options()
    if not DeltaTable.is_deltatable(uri, storage_options=options):
        return table_spec(name).schema.empty_table()
    return DeltaTable(uri, storage_options=options).to_pyarrow_table()
