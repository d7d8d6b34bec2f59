"""The forwarder (``hivemind agentd``): drains this machine's spool into Kafka.

Guarantee: at-least-once, nothing lost. A spooled record is acknowledged (and may be
trimmed from the spool) only after Kafka confirmed it: its session batch's delivery
report came back without error, or, for a record that fails the ``TurnEvent`` contract,
its ``DeadLetter`` (stage ``forwarder``) was confirmed on the DLQ topic. Records are
acknowledged in spool order, so a crash at any point re-sends only unconfirmed records;
consumers deduplicate on ``event_id``.

Shape of what is sent: one ``TurnBatch`` record per session batch
(:mod:`hivemind_kafka.producers.agentd.batching`: released on stop/session_end, at ``edge.batch_max_events``
or after ``edge.linger_ms``), keyed by workspace (``turn_key``) through an idempotent
producer (acks=all). A contract violation never blocks the queue.

Failure behaviour: while the broker is unreachable, nothing new is handed to the
producer (at most ``max_inflight`` records are held in memory; the spool grows on disk)
and the connection is probed with exponential backoff (``retry_min_s`` .. ``retry_max_s``);
when a probe succeeds the missing topics are created (``kafka.create_topics``), failed
batches are re-sent in spool order (``hivemind_forwarder_retries_total``) and draining
resumes. A batch Kafka refuses as too large is split into single events; a single event
still too large is dead-lettered as oversized. A fatal producer error (e.g. the broker
lost its producer state), or a cluster id change seen by the probe that runs when no
delivery report came for ``stall_s`` (a broker replaced behind the same address, where
librdkafka would wait silently), replaces the producer and re-sends everything
unconfirmed (duplicates possible, never loss).
SIGTERM: open batches are sent, the producer is flushed for up to 5 s, confirmed
records are acknowledged, and the rest stays spooled for the next start.

Metrics: ``hivemind_forwarder_sent_total`` (events confirmed), ``_retries_total``
(batches re-sent), ``_errors_total{reason}``, ``_dead_letters_total``,
``hivemind_spool_backlog_records``, ``hivemind_spool_oldest_age_seconds``. Status for
``hivemind skillify`` goes to ``<home>/agentd.json``. confluent_kafka is imported here
(and lazily by the sync/status readers), never on the hook path.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec
from prometheus_client import Counter, Gauge

from hivemind_kafka.producers import private
from hivemind_kafka.producers.agentd.batching import AckTracker, Batch, SessionBatcher
from hivemind_kafka.producers.hook.spool import Cursor, Spool, SpoolRecord, spool_dir
from hivemind_kafka.runtime.errors import BrokerUnavailable
from hivemind_kafka.runtime.settings import Settings
from hivemind_kafka.schemas.dead_letters import DeadLetter, encode_dead_letter
from hivemind_kafka.schemas.events import (
    TurnEvent,
    encode_batch,
    encode_event,
    event_from_dict,
    turn_key,
)
from hivemind_kafka.schemas.topics import topic_specs

log = logging.getLogger(__name__)

SENT = Counter("hivemind_forwarder_sent_total", "Events confirmed by Kafka")
RETRIES = Counter("hivemind_forwarder_retries_total", "Batches handed to the producer again")
ERRORS = Counter("hivemind_forwarder_errors_total", "Forwarder errors by reason", ["reason"])
DEAD_LETTERS = Counter("hivemind_forwarder_dead_letters_total",
                       "Spooled records confirmed on the DLQ instead of the turns topic")
BACKLOG = Gauge("hivemind_spool_backlog_records", "Spooled records not yet acknowledged")
OLDEST = Gauge("hivemind_spool_oldest_age_seconds", "Age of the oldest unacknowledged record")

STATUS_FILE = "agentd.json"


class _OncePerInterval(logging.Filter):
    """Pass a librdkafka message at most once per ``interval_s`` per facility: during an
    hours-long outage librdkafka reports every reconnect attempt."""

    def __init__(self, interval_s: float = 60.0) -> None:
        super().__init__()
        self.interval_s = interval_s
        self._last: dict[str, float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        # confluent-kafka logs ("%s [%s] %s", facility, client name, message).
        key = str(record.args[0]) if isinstance(record.args, tuple) and record.args \
            else record.getMessage()[:40]
        now = time.monotonic()
        if now - self._last.get(key, -self.interval_s) < self.interval_s:
            return False
        self._last[key] = now
        return True


RDKAFKA_LOG = logging.getLogger("hivemind_kafka.producers.agentd.forwarder.rdkafka")
RDKAFKA_LOG.addFilter(_OncePerInterval())


def resolve_edge_bootstrap(settings: Settings) -> str:
    """HIVEMIND_BOOTSTRAP, else the install config's ``bootstrap``, else the embedded
    broker's state file. Raises :class:`BrokerUnavailable` when none is known."""
    if settings.kafka.bootstrap:
        return settings.kafka.bootstrap
    from hivemind_kafka.producers.hook.capture import read_config

    configured = read_config(settings.edge.home_path()).get("bootstrap")
    if isinstance(configured, str) and configured:
        return configured
    from hivemind_kafka.runtime.kafka import resolve_bootstrap

    return resolve_bootstrap(settings)


@dataclass
class _Outgoing:
    """One Kafka record on its way, with the spool tokens it confirms."""

    topic: str
    key: bytes | None
    value: bytes
    tokens: list[int]
    events: int  # TurnEvents inside (0 for a dead letter)
    batch: Batch | None = None
    headers: list[tuple[str, bytes]] = field(default_factory=list)
    attempts: int = 0


class Forwarder:
    """Spool -> Kafka. Drive it with :meth:`run` (until ``stop`` is set) or :meth:`step`."""

    def __init__(self, settings: Settings, *, spool: Spool | None = None,
                 max_inflight: int = 20_000, read_batch: int = 1000,
                 message_timeout_ms: int = 30_000, retry_min_s: float = 0.5,
                 retry_max_s: float = 30.0, stats_interval_s: float = 5.0,
                 stall_s: float = 5.0,
                 clock: Callable[[], float] = time.monotonic,
                 observer: Callable[[TurnEvent], None] | None = None) -> None:
        self.settings = settings
        self.home = settings.edge.home_path()
        self.spool = spool or Spool(spool_dir(self.home))
        self.max_inflight = max_inflight
        self.read_batch = read_batch
        self.message_timeout_ms = message_timeout_ms
        self.retry_min_s = retry_min_s
        self.retry_max_s = retry_max_s
        self.stats_interval_s = stats_interval_s
        self.clock = clock
        self.observer = observer  # sees every valid event read (agentd: session starts)
        edge = settings.edge
        self.batcher = SessionBatcher(max_events=edge.batch_max_events,
                                      linger_s=edge.linger_ms / 1000,
                                      max_bytes=settings.sessionizer.max_record_bytes // 2)
        self.tracker = AckTracker()
        self._read_pos: Cursor = self.spool.committed()
        self._producer: Any = None
        self._cluster: str | None = None
        self._generation = 0
        self.stall_s = stall_s
        self._last_progress = clock()
        self._next_stall_check = 0.0
        self._fatal: str | None = None
        self._healthy = False
        self._backoff = retry_min_s
        self._next_probe = 0.0
        self._inflight: dict[int, _Outgoing] = {}
        self._retry: list[_Outgoing] = []
        self._results: list[tuple[int, _Outgoing, Any]] = []
        self._next_id = 0
        self._next_stats = 0.0
        self._next_status = 0.0
        self._stats = self.spool.stats()
        self._written_key: tuple = ()
        self.bootstrap: str | None = None
        self.last_error: str | None = None
        self.last_delivery_at: str | None = None
        self.delivered_events = 0

    # ----------------------------------------------------------------- main loop

    def run(self, stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                try:
                    wait = self.step()
                except OSError as exc:  # the spool's disk: keep the process, retry soon
                    ERRORS.labels(reason="spool_io").inc()
                    log.error("spool I/O failed (%s); retrying in 1s", exc)
                    wait = 1.0
                if wait > 0:
                    stop.wait(wait)
        finally:
            self.close()

    def step(self) -> float:
        """One iteration; returns how long the caller may wait before the next."""
        now = self.clock()
        self._refresh_stats(now)
        self._check_stall(now)
        if not self._connected(now):
            self._poll(0.0)  # records still in the producer may yet be confirmed
            self._acknowledge()
            return min(0.5, max(0.0, self._next_probe - now))
        read = self._read_spool(now) if len(self.tracker) < self.max_inflight else 0
        for batch in self.batcher.due(now):
            self._send(self._from_batch(batch))
        self._poll(0.05 if not read else 0.0)
        self._acknowledge()
        due = self.batcher.next_due_in(self.clock())
        return 0.0 if read else min(0.1, due if due is not None else 0.1)

    def close(self, timeout_s: float = 5.0) -> None:
        """Send open batches, flush, acknowledge what was confirmed."""
        if self._producer is not None and self._healthy:
            for batch in self.batcher.drain():
                self._send(self._from_batch(batch))
            deadline = self.clock() + timeout_s
            while self._inflight and self.clock() < deadline:
                self._poll(0.1)
            self._acknowledge()
        self._refresh_stats(self.clock(), force=True)
        self._producer = None

    # ----------------------------------------------------------------- connection

    def _connected(self, now: float) -> bool:
        if self._fatal is not None:
            self._rebuild(self._fatal)
        if self._healthy:
            return True
        if now < self._next_probe:
            return False
        try:
            self._probe()
        except BrokerUnavailable as exc:
            ERRORS.labels(reason="broker_unavailable").inc()
            self._fail_probe(now, str(exc))
            return False
        self._healthy = True
        self._backoff = self.retry_min_s
        retry, self._retry = sorted(self._retry, key=lambda o: o.tokens[0]), []
        if retry:
            log.info("broker reachable at %s; re-sending %d batches", self.bootstrap, len(retry))
        for out in retry:
            if out.attempts:
                RETRIES.inc()
            self._send(out)
        return True

    def _check_stall(self, now: float) -> None:
        """No delivery report for ``stall_s`` while records are in flight: pause and
        probe now (the broker may be down, or replaced by one that does not know this
        producer, where librdkafka can wait silently until ``message.timeout.ms``)."""
        if not (self._healthy and self._inflight) or now - self._last_progress < self.stall_s:
            return
        if now < self._next_stall_check:
            return
        self._next_stall_check = now + self.stall_s
        self._healthy = False
        self._next_probe = now

    def _fail_probe(self, now: float, reason: str) -> None:
        self.last_error = reason
        self._next_probe = now + self._backoff
        log.warning("kafka unavailable (%s); next attempt in %.1fs", reason, self._backoff)
        self._backoff = min(self.retry_max_s, self._backoff * 2)

    def _probe(self) -> None:
        """Reach the broker, create missing topics, and make sure the producer talks to
        the cluster that answers now (a replaced broker gets a fresh producer)."""
        from hivemind_kafka.runtime.kafka import ensure_topics, with_bootstrap

        bootstrap = resolve_edge_bootstrap(self.settings)
        if self._producer is not None and bootstrap != self.bootstrap:
            self._drop_producer(f"bootstrap changed to {bootstrap}")
        self.bootstrap = bootstrap
        settings = with_bootstrap(self.settings, bootstrap)
        cluster = self._cluster_id_of(settings)  # first: fails fast and quietly when down
        if settings.kafka.create_topics:
            names = {self.settings.topics.turns, self.settings.topics.dlq}
            ensure_topics(settings, [s for s in topic_specs(settings.topics) if s.name in names],
                          timeout_s=3.0)
        if self._producer is not None and cluster != self._cluster:
            self._drop_producer(f"cluster changed from {self._cluster} to {cluster}")
        if self._producer is None:
            self._producer = self._new_producer(settings)
            self._cluster = cluster

    def _cluster_id_of(self, settings: Settings) -> str:
        from confluent_kafka import KafkaException
        from confluent_kafka.admin import AdminClient

        from hivemind_kafka.runtime.kafka import admin_config

        try:
            conf: dict[str, Any] = {**admin_config(settings), "logger": RDKAFKA_LOG}
            md = AdminClient(conf).list_topics(timeout=3.0)
        except KafkaException as exc:
            raise BrokerUnavailable(f"cannot reach Kafka at {self.bootstrap}: {exc}") from None
        return md.cluster_id or "unknown-cluster"

    def _drop_producer(self, reason: str) -> None:
        """Abandon the producer; everything it had not confirmed is re-sent by the next."""
        log.warning("replacing the producer (%s); %d batches will be re-sent", reason,
                    len(self._inflight))
        self._generation += 1  # callbacks of the old producer are ignored from now on
        old, self._producer = self._producer, None
        if old is not None:
            try:
                old.purge(in_queue=True, in_flight=True, blocking=False)
            except Exception:  # a failed producer may refuse; it is dropped anyway
                log.debug("purge of the old producer failed", exc_info=True)
        self._retry.extend(self._inflight.values())
        self._inflight.clear()

    def _new_producer(self, settings: Settings) -> Any:
        from confluent_kafka import Producer

        from hivemind_kafka.runtime.kafka import producer_config

        self._generation += 1
        generation = self._generation

        def on_error(err: Any) -> None:
            if err.fatal() and generation == self._generation:
                self._fatal = err.str()

        return Producer(producer_config(
            settings, **{"message.timeout.ms": self.message_timeout_ms,
                         "allow.auto.create.topics": False, "error_cb": on_error,
                         "logger": RDKAFKA_LOG,
                         "linger.ms": 5}))

    def _rebuild(self, reason: str) -> None:
        """A fatal producer error: drop the producer, re-send everything unconfirmed."""
        log.error("producer failed fatally (%s)", reason)
        ERRORS.labels(reason="fatal").inc()
        self.last_error = reason
        self._fatal = None
        self._drop_producer("fatal error")
        self._healthy = False
        self._next_probe = 0.0

    # ----------------------------------------------------------------- spool side

    def _read_spool(self, now: float) -> int:
        # Records a hook could not spool under a busy lock: adopted in order, seq assigned.
        self.spool.adopt_deferred()
        room = self.max_inflight - len(self.tracker)
        batch = self.spool.read(after=self._read_pos, max_records=min(self.read_batch, room))
        if batch.corrupt:
            ERRORS.labels(reason="spool_corrupt").inc(len(batch.corrupt))
        for record in batch.records:
            token = self.tracker.add(record.end)
            self._accept(record, token, now)
        if batch.cursor != self._read_pos and (
                not batch.records or batch.records[-1].end != batch.cursor):
            self.tracker.add_done(batch.cursor)  # past skipped lines / exhausted segments
        self._read_pos = batch.cursor
        return len(batch.records)

    def _accept(self, record: SpoolRecord, token: int, now: float) -> None:
        try:
            event = event_from_dict(record.data)
            encode_event(event)  # a lone surrogate passes the contract but not UTF-8
        except (msgspec.MsgspecError, TypeError, ValueError) as exc:
            ERRORS.labels(reason="contract_violation").inc()
            log.warning("spool record segment=%d offset=%d violates the contract; "
                        "dead-lettering it", record.position.segment, record.position.offset)
            self._send(self._dead_letter(record, token, str(exc), oversized=False))
            return
        if self.observer is not None:
            try:
                self.observer(event)
            except Exception:  # an observer must never stop forwarding
                log.exception("event observer failed")
        size = record.end.offset - record.position.offset
        for batch in self.batcher.add(event, token, size, now):
            self._send(self._from_batch(batch))

    def _dead_letter(self, record: SpoolRecord, token: int, detail: str, *,
                     oversized: bool) -> _Outgoing:
        raw = json.dumps(record.data, separators=(",", ":"), default=str).encode()
        ws = record.data.get("workspace_id")
        key = ws.encode("utf-8", "replace") if isinstance(ws, str) and ws else None
        segment, offset = record.position.segment, record.position.offset
        if oversized:
            letter = DeadLetter.from_oversized(
                stage="forwarder", topic="spool", partition=segment, offset=offset, key=key,
                raw=raw, limit=self.settings.sessionizer.max_record_bytes)
        else:
            letter = DeadLetter.from_contract_violation(
                stage="forwarder", topic="spool", partition=segment, offset=offset, key=key,
                raw=raw, detail=detail)
        return _Outgoing(topic=self.settings.topics.dlq, key=key,
                         value=encode_dead_letter(letter), tokens=[token], events=0,
                         headers=letter.headers())

    def _from_batch(self, batch: Batch) -> _Outgoing:
        return _Outgoing(topic=self.settings.topics.turns, key=turn_key(batch.workspace_id),
                         value=encode_batch(batch.events), tokens=list(batch.tokens),
                         events=len(batch.events), batch=batch)

    # ----------------------------------------------------------------- kafka side

    def _send(self, out: _Outgoing) -> None:
        if not self._healthy or self._producer is None:
            self._retry.append(out)
            return
        from confluent_kafka import KafkaError, KafkaException

        ident = self._next_id
        self._next_id += 1
        generation = self._generation

        def on_delivery(err: Any, _msg: Any) -> None:
            if generation == self._generation:
                self._results.append((ident, out, err))

        out.attempts += 1
        if not self._inflight:
            self._last_progress = self.clock()
        while True:
            try:
                self._producer.produce(out.topic, out.value, out.key, headers=out.headers,
                                       on_delivery=on_delivery)
                self._inflight[ident] = out
                return
            except BufferError:
                self._poll(0.1)  # local queue full: let deliveries drain it
            except KafkaException as exc:
                err = exc.args[0]
                if err.code() == KafkaError.MSG_SIZE_TOO_LARGE:
                    self._too_large(out)
                    return
                if not err.fatal():
                    raise
                self._fatal = err.str()  # handled by _connected: rebuild and re-send
                self._retry.append(out)
                return

    def _poll(self, timeout: float) -> None:
        if self._producer is None:
            return
        from confluent_kafka import KafkaException

        try:
            self._producer.poll(timeout)
        except KafkaException as exc:
            err = exc.args[0]
            if not err.fatal():
                raise
            self._fatal = err.str()  # handled by _connected: rebuild and re-send
        results, self._results = self._results, []
        if results:
            self._last_progress = self.clock()
        for ident, out, err in results:
            self._inflight.pop(ident, None)
            if err is None:
                self.tracker.done(out.tokens)
                if out.events:
                    SENT.inc(out.events)
                    self.delivered_events += out.events
                else:
                    DEAD_LETTERS.inc()
                self.last_delivery_at = datetime.now(UTC).isoformat()
            else:
                self._delivery_failed(out, err)

    def _delivery_failed(self, out: _Outgoing, err: Any) -> None:
        from confluent_kafka import KafkaError

        code = err.code()
        if code == KafkaError.MSG_SIZE_TOO_LARGE:
            self._too_large(out)
            return
        reason = {KafkaError._MSG_TIMED_OUT: "delivery_timeout",
                  KafkaError.UNKNOWN_TOPIC_OR_PART: "unknown_topic",
                  KafkaError._UNKNOWN_TOPIC: "unknown_topic"}.get(code, "delivery_failed")
        ERRORS.labels(reason=reason).inc()
        self.last_error = err.str()
        self._retry.append(out)
        if self._healthy:
            log.warning("delivery to %s failed (%s); pausing and probing the broker",
                        out.topic, err.name())
            self._healthy = False
            self._next_probe = self.clock() + self._backoff
            self._backoff = min(self.retry_max_s, self._backoff * 2)

    def _too_large(self, out: _Outgoing) -> None:
        ERRORS.labels(reason="too_large").inc()
        batch = out.batch
        if batch is not None and len(batch.events) > 1:
            for event, token in zip(batch.events, batch.tokens, strict=True):
                single = Batch(batch.workspace_id, batch.session_id, [event], [token])
                self._send(self._from_batch(single))
            return
        if batch is not None:
            event = batch.events[0]
            record = SpoolRecord(msgspec.to_builtins(event), Cursor(0, 0), Cursor(0, 0), 0,
                                 event.seq)
            self._send(self._dead_letter(record, batch.tokens[0], "", oversized=True))
            return
        log.error("a dead letter itself is too large for the DLQ; dropping tokens=%s",
                  out.tokens)
        self.tracker.done(out.tokens)

    def _acknowledge(self) -> None:
        position = self.tracker.ackable()
        if position is not None:
            self.spool.ack(position)

    # ----------------------------------------------------------------- status

    def _refresh_stats(self, now: float, force: bool = False) -> None:
        """Spool gauges every ``stats_interval_s`` (a scan of the backlog); the status
        file also when the connection state changed or deliveries happened (at most
        once a second)."""
        if force or now >= self._next_stats:
            self._next_stats = now + self.stats_interval_s
            self._stats = self.spool.stats()
            BACKLOG.set(self._stats.records)
            OLDEST.set(self._stats.oldest_age_s)
        elif not (self._status_key() != self._written_key and now >= self._next_status):
            return
        self._next_status = now + 1.0
        self._written_key = self._status_key()
        stats = self._stats
        status = {"pid": os.getpid(), "updated_at": datetime.now(UTC).isoformat(),
                  "bootstrap": self.bootstrap, "connected": self._healthy,
                  "last_error": self.last_error, "last_delivery_at": self.last_delivery_at,
                  "delivered_events": self.delivered_events,
                  "backlog_records": stats.records, "oldest_age_s": stats.oldest_age_s,
                  "waiting_batches": len(self._retry)}
        path = self.home / STATUS_FILE
        try:
            private.write_atomic(path, json.dumps(status).encode(), fsync=False)
        except OSError:
            log.warning("cannot write %s", path)

    def _status_key(self) -> tuple:
        return (self._healthy, self.delivered_events, self.last_error, len(self._retry))
