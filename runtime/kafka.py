"""Kafka client configuration, topic administration and the two ways every component
produces and reads a record when it must be sure.

One place turns ``KafkaSettings`` into confluent-kafka configs and Faust/aiokafka
arguments (including SASL/SSL), so producer, forwarder, Faust workers and the sink all
talk to the same cluster the same way. :func:`produce_confirmed` returns only after the
broker's delivery report; :func:`read_to_end` reads a (compacted) topic's whole state.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any, NamedTuple

from hivemind_kafka.runtime.errors import BrokerUnavailable, DeliveryNotConfirmed, SettingsInvalid
from hivemind_kafka.runtime.settings import KafkaSettings, Settings
from hivemind_kafka.schemas.topics import TopicSpec, record_limit, topic_specs

log = logging.getLogger(__name__)


def resolve_bootstrap(settings: Settings) -> str:
    """``HIVEMIND_BOOTSTRAP`` if set, else the running embedded broker's address."""
    if settings.kafka.bootstrap:
        return settings.kafka.bootstrap
    from hivemind_kafka.runtime.broker import BrokerState

    broker = BrokerState(settings.edge.home_path()).running()
    if broker is None:
        raise BrokerUnavailable(
            "no Kafka configured and no embedded broker running: start one with "
            "`hivemind broker start` (or `hivemind up`), or set HIVEMIND_BOOTSTRAP=host:port"
        )
    return broker.bootstrap


def with_bootstrap(settings: Settings, bootstrap: str) -> Settings:
    return settings.replace(kafka={"bootstrap": bootstrap})


def _security(k: KafkaSettings) -> dict[str, Any]:
    conf: dict[str, Any] = {"security.protocol": k.security_protocol}
    if k.sasl_mechanism:
        conf["sasl.mechanism"] = k.sasl_mechanism
        conf["sasl.username"] = k.sasl_username or ""
        conf["sasl.password"] = k.sasl_password.reveal()
    if k.ssl_cafile:
        conf["ssl.ca.location"] = k.ssl_cafile
    if k.ssl_certfile:
        conf["ssl.certificate.location"] = k.ssl_certfile
    if k.ssl_keyfile:
        conf["ssl.key.location"] = k.ssl_keyfile
    return conf


def producer_config(settings: Settings, **overrides: Any) -> dict[str, Any]:
    """Idempotent, acks=all, compressed; murmur2 partitioner like the Java client, so any
    other client puts a workspace key on the same partition."""
    k = settings.kafka
    conf = {
        "bootstrap.servers": resolve_bootstrap(settings),
        "enable.idempotence": True,
        "acks": "all",
        "compression.type": k.compression,
        "linger.ms": 20,
        "partitioner": "murmur2_random",
        "message.max.bytes": record_limit(settings.sessionizer.max_record_bytes),
        **_security(k),
    }
    conf.update(overrides)
    return conf


def consumer_config(settings: Settings, group_id: str, **overrides: Any) -> dict[str, Any]:
    k = settings.kafka
    conf = {
        "bootstrap.servers": resolve_bootstrap(settings),
        "group.id": group_id,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": k.session_timeout_ms,
        "heartbeat.interval.ms": k.heartbeat_interval_ms,
        "isolation.level": "read_committed",
        **_security(k),
    }
    conf.update(overrides)
    return conf


def admin_config(settings: Settings) -> dict[str, Any]:
    """An admin client's config. It never creates a topic by asking for its metadata: an
    admin handle is a producer to librdkafka, whose metadata request for a named topic
    lets a broker with ``auto.create.topics.enable`` (tansu, Kafka's default) create it
    with the broker's partition count; a deleted input topic came back with 4 partitions
    instead of 3 that way. Topics are created only by :func:`ensure_topics`."""
    return {"bootstrap.servers": resolve_bootstrap(settings), "allow.auto.create.topics": False,
            **_security(settings.kafka)}


def faust_broker_kwargs(settings: Settings) -> dict[str, Any]:
    """Arguments for ``faust.App`` (aiokafka driver) with the same security settings."""
    k = settings.kafka
    kwargs: dict[str, Any] = {
        "broker": f"kafka://{resolve_bootstrap(settings)}",
        "broker_session_timeout": k.session_timeout_ms / 1000,
        "broker_heartbeat_interval": k.heartbeat_interval_ms / 1000,
        "topic_replication_factor": k.replication_factor,
        "topic_partitions": k.partitions,
    }
    if k.security_protocol != "PLAINTEXT":
        import ssl

        import faust

        ctx = None
        if k.security_protocol in ("SSL", "SASL_SSL"):
            ctx = ssl.create_default_context(cafile=k.ssl_cafile)
            if k.ssl_certfile:
                ctx.load_cert_chain(k.ssl_certfile, k.ssl_keyfile)
        if k.sasl_mechanism:
            kwargs["broker_credentials"] = faust.SASLCredentials(
                username=k.sasl_username or "", password=k.sasl_password.reveal(),
                mechanism=k.sasl_mechanism, ssl_context=ctx,
            )
        elif ctx is not None:
            kwargs["broker_credentials"] = faust.SSLCredentials(ctx)
    return kwargs


def faust_compression(configured: str) -> str | None:
    """The Faust (aiokafka) producer's codec for ``kafka.compression``.

    aiokafka compresses on the event loop's thread, and lz4 at level 9 (LZ4-HC: ~35 MB/s
    here, a third of a core for this worker's output). lz4 stays lz4 when
    :func:`use_fast_lz4` can make aiokafka use level 1 (~680 MB/s, what librdkafka does by
    default); otherwise lz4 becomes zstd level 3 (~440 MB/s), which every client we run
    reads too. ``none`` (or empty) turns compression off."""
    if configured in ("", "none"):
        return None
    if configured == "lz4":
        return "lz4" if use_fast_lz4() else "zstd"
    return configured


FAST_LZ4_LEVEL = 1


def use_fast_lz4() -> bool:
    """Make aiokafka's record batch builders compress lz4 at ``FAST_LZ4_LEVEL``; False
    (nothing changed) when this aiokafka does not look as expected.

    aiokafka exposes no compression level: its builders call ``lz4_encode(data)``, which
    defaults to level 9. The builders (Python and Cython) look the name up in their
    module's globals, so rebinding it there changes the level for this process only.
    The frames stay standard lz4 (levels only change how hard the compressor searches)."""
    try:
        from aiokafka import codec
        from aiokafka.record import default_records
    except ImportError:
        return False
    original = getattr(codec, "lz4_encode", None)
    if original is None or not codec.has_lz4():
        return False
    if getattr(original, "hivemind_fast", False):
        return True

    def fast_lz4_encode(payload: Any, level: int = FAST_LZ4_LEVEL) -> bytes:
        return original(payload, level=FAST_LZ4_LEVEL)

    fast_lz4_encode.hivemind_fast = True  # type: ignore[attr-defined]
    modules: list[Any] = [default_records]
    try:
        from aiokafka.record._crecords import default_records as cython_records
        modules.append(cython_records)
    except ImportError:  # pure-Python aiokafka (AIOKAFKA_NO_EXTENSIONS)
        pass
    for module in modules:
        if getattr(module, "lz4_encode", None) is not original:
            return False
    for module in modules:
        module.lz4_encode = fast_lz4_encode
    codec.lz4_encode = fast_lz4_encode  # type: ignore[assignment]
    return True


def faust_producer_kwargs(settings: Settings, *, max_request_size: int) -> dict[str, Any]:
    """Producer arguments for ``faust.App``: batches up to
    ``sessionizer.producer_batch_bytes`` with ``sessionizer.producer_linger_ms`` of linger
    (aiokafka's defaults are 16 KB and no linger: one request per record), records up to
    ``max_request_size``, compression by :func:`faust_compression`."""
    conf = settings.sessionizer
    return {
        "producer_max_batch_size": max(16384, conf.producer_batch_bytes),
        "producer_linger": conf.producer_linger_ms / 1000,
        "producer_max_request_size": max_request_size,
        "producer_compression_type": faust_compression(settings.kafka.compression),
    }


def ensure_topics(settings: Settings, specs: list[TopicSpec] | None = None,
                  timeout_s: float = 15.0) -> list[str]:
    """Create missing topics (idempotent). Returns the names created now."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient, NewTopic

    specs = specs or topic_specs(settings.topics,
                                 max_record_bytes=settings.sessionizer.max_record_bytes)
    admin = AdminClient(admin_config(settings))
    try:
        existing = set(admin.list_topics(timeout=timeout_s).topics)
    except KafkaException as exc:
        raise BrokerUnavailable(
            f"cannot reach Kafka at {resolve_bootstrap(settings)}: {exc}"
        ) from None
    new = [
        NewTopic(s.name, num_partitions=s.partitions or settings.kafka.partitions,
                 replication_factor=settings.kafka.replication_factor, config=dict(s.configs))
        for s in specs if s.name not in existing
    ]
    if not new:
        return []
    created = []
    for name, fut in admin.create_topics(new, request_timeout=timeout_s).items():
        try:
            fut.result()
            created.append(name)
        except KafkaException as exc:
            if "TOPIC_ALREADY_EXISTS" in str(exc):
                continue
            raise BrokerUnavailable(f"cannot create topic {name}: {exc}") from None
    log.info("created topics %s", ", ".join(created))
    return created


def partition_count(settings: Settings, topic: str, timeout_s: float = 10.0) -> int:
    from confluent_kafka.admin import AdminClient

    md = AdminClient(admin_config(settings)).list_topics(topic, timeout=timeout_s)
    meta = md.topics.get(topic)
    if meta is None or meta.error is not None or not meta.partitions:
        raise SettingsInvalid(f"topic {topic} does not exist: create the topics first "
                              "(`hivemind topics`)")
    return len(meta.partitions)


def cluster_id(settings: Settings, timeout_s: float = 10.0) -> str:
    """The Kafka cluster id. Sinks put it in their Delta app-transaction ids, so offsets
    recorded against one cluster (e.g. an earlier in-memory dev broker) are never applied
    to another."""
    from confluent_kafka.admin import AdminClient

    md = AdminClient(admin_config(settings)).list_topics(timeout=timeout_s)
    return md.cluster_id or "unknown-cluster"


class ClusterWatch:
    """Reads the cluster id behind the bootstrap address again, whenever asked.

    On its own connection: a consumer's metadata request queues behind its fetch
    responses (200-280 ms measured here while records flow, 1-3 ms on an idle
    connection), and a check per consumed batch must stay cheap.
    """

    def __init__(self, settings: Settings, topic: str) -> None:
        from confluent_kafka.admin import AdminClient

        self._admin = AdminClient(admin_config(settings))
        self._topic = topic

    def current(self, timeout_s: float = 2.0) -> str | None:
        """The cluster id now; None if no broker answered within ``timeout_s``."""
        from confluent_kafka import KafkaException

        try:
            md = self._admin.list_topics(topic=self._topic, timeout=timeout_s)
        except KafkaException:
            return None
        return md.cluster_id or None

    def topic_ids(self, topics: Iterable[str], timeout_s: float = 10.0) -> dict[str, str]:
        """The topic id of each topic (base64, as Kafka prints it); ``""`` for a topic the
        broker gives no id for (a broker before topic ids, or the topic does not exist)."""
        from confluent_kafka import KafkaException, TopicCollection

        names = sorted(set(topics))
        if not names:  # an empty assignment: nothing to ask
            return {}
        try:
            futures = self._admin.describe_topics(TopicCollection(names),
                                                  request_timeout=timeout_s)
        except KafkaException as exc:
            log.warning("topic ids unreadable (%s)", exc)
            return dict.fromkeys(names, "")
        ids: dict[str, str] = {}
        for name, future in futures.items():
            try:
                uuid = str(future.result(timeout_s).topic_id or "")
            except KafkaException as exc:
                log.warning("topic id of %s unreadable (%s)", name, exc)
                uuid = ""
            ids[name] = "" if uuid.strip("A=") == "" else uuid  # the all-zero id: none
        return ids


def group_id_for(settings: Settings, base: str) -> str:
    """Consumer group of a component: ``base`` on the default topics; with renamed topics
    (another deployment, a tagged demo or test run sharing the cluster)
    ``<base>-<turns topic>``, so two deployments never share a group and stall each
    other's rebalances."""
    from hivemind_kafka.runtime.settings import TopicSettings

    turns = settings.topics.turns
    return base if turns == TopicSettings().turns else f"{base}-{turns}"


def produce_confirmed(producer: Any, topic: str, *, key: bytes | None, value: bytes | None,
                      headers: list[tuple[str, bytes]] | None = None,
                      timeout_s: float = 30.0, timestamp_ms: int = 0) -> tuple[int, int]:
    """Produce one record with ``producer`` (a confluent-kafka ``Producer``) and return only
    once the broker's delivery report confirms it: ``(partition, offset)``.

    Raises :class:`DeliveryNotConfirmed` when the report says it failed or none arrives
    within ``timeout_s``; the caller must then treat the record as not delivered.
    ``timestamp_ms``: the record's timestamp (0: the producer's now)."""
    from confluent_kafka import KafkaException

    reports: list[tuple[Any, Any]] = []
    try:
        producer.produce(topic, key=key, value=value, headers=headers or [],
                         timestamp=max(0, timestamp_ms),
                         on_delivery=lambda err, msg: reports.append((err, msg)))
    except (KafkaException, BufferError) as exc:  # refused at once: too large, queue full
        raise DeliveryNotConfirmed(f"Kafka refused a record to {topic}: {exc}") from None
    deadline = time.monotonic() + timeout_s
    while not reports and time.monotonic() < deadline:
        producer.poll(min(0.2, max(0.0, deadline - time.monotonic())))
    if not reports:
        raise DeliveryNotConfirmed(
            f"no delivery report for a record to {topic} within {timeout_s:g}s: is Kafka "
            "reachable (HIVEMIND_BOOTSTRAP, `hivemind broker status`)? it was not delivered; "
            "send it again")
    err, msg = reports[0]
    if err is not None:
        raise DeliveryNotConfirmed(f"Kafka refused a record to {topic}: {err}")
    return msg.partition(), msg.offset()


class LogRecord(NamedTuple):
    """One record read by :func:`read_to_end`. ``timestamp_ms`` is None when the record
    carries none."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int | None


class TopicRead(NamedTuple):
    """What :func:`read_to_end` read, in partition-then-offset order per partition;
    ``complete`` is False when the end was not reached in time (the records are a prefix)."""

    records: list[LogRecord]
    complete: bool


# After every partition's position reached its end, the consumer is polled until it has
# been idle this long, so the rest of an already fetched batch is read (see read_to_end).
DRAIN_IDLE_S = 0.2


def read_to_end(settings: Settings, topic: str, *, group_id: str,
                timeout_s: float = 30.0) -> TopicRead:
    """Every record of ``topic`` from the start of each partition up to its end as of the
    call: the way to read a compacted topic's whole state. No consumer group is joined
    and nothing is committed (``group_id`` only names the client).

    The end is decided by *position*: a partition is done when the consumer's position
    reaches the high watermark observed at the start. Not by the last offset seen:
    compaction and transaction markers leave gaps, so the record at ``high - 1`` may never
    arrive. tansu reports the high watermark as its last *batch's* base offset + 1, so once
    every partition is done the consumer is drained until idle: the rest of that batch is
    already fetched and is read too (records produced after the call may be included).

    Raises :class:`BrokerUnavailable` when the topic is missing or cannot be read; returns
    ``complete=False`` with the records read so far when ``timeout_s`` runs out."""
    from confluent_kafka import Consumer, KafkaException, TopicPartition

    deadline = time.monotonic() + timeout_s
    records: list[LogRecord] = []

    def keep(msg: Any) -> bool:
        if msg.error() is not None:
            if msg.error().fatal():
                raise BrokerUnavailable(f"reading {topic}: {msg.error()}")
            log.warning("reading %s: %s", topic, msg.error())
            return False
        ts_type, ts_ms = msg.timestamp()
        records.append(LogRecord(msg.partition(), msg.offset(), msg.key(), msg.value(),
                                 ts_ms if ts_type else None))
        return True

    consumer = Consumer(consumer_config(
        settings, group_id, **{"enable.partition.eof": False,
                               "socket.timeout.ms": int(max(timeout_s, 1) * 1000)}))
    try:
        meta = consumer.list_topics(topic, timeout=max(0.5, min(timeout_s, 10.0))).topics.get(topic)
        if meta is None or meta.error is not None or not meta.partitions:
            raise BrokerUnavailable(f"topic {topic} is missing: create it with `hivemind topics`")
        ends: dict[int, int] = {}
        starts = []
        for p in sorted(meta.partitions):
            low, high = consumer.get_watermark_offsets(
                TopicPartition(topic, p), timeout=max(0.5, deadline - time.monotonic()))
            if high > low:
                ends[p] = high
                starts.append(TopicPartition(topic, p, low))
        if not starts:
            return TopicRead(records, complete=True)
        consumer.assign(starts)
        while ends:
            if time.monotonic() > deadline:
                return TopicRead(records, complete=False)
            for msg in consumer.consume(num_messages=500, timeout=0.2):
                keep(msg)
            for tp in consumer.position([TopicPartition(topic, p) for p in ends]):
                if tp.offset >= ends[tp.partition]:
                    del ends[tp.partition]
        while time.monotonic() < deadline:
            msgs = consumer.consume(num_messages=500, timeout=DRAIN_IDLE_S)
            if not msgs:
                break
            for msg in msgs:
                keep(msg)
        return TopicRead(records, complete=True)
    except KafkaException as exc:
        raise BrokerUnavailable(f"cannot read {topic}: {exc}") from None
    finally:
        consumer.close()
