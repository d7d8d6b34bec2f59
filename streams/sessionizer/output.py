"""The worker's outputs (sessions, candidates, dead letters, state changelog) through one
confluent-kafka producer instead of Faust's.

Why: Faust's producer is aiokafka, which batches, compresses and writes every request in
Python on the worker's only thread, and wraps every message in Faust's own future and
buffer; measured on 50-event records it took about a fifth of the worker's CPU.
librdkafka does all of that on its own threads, off the GIL; what is left on the event
loop is one ``produce`` call and one delivery callback per message.

Guarantee: a future per message, resolved when the broker acknowledged it (acks=all,
idempotent: :func:`runtime.kafka.producer_config`) and failed with the delivery error
otherwise; the processor waits for them exactly as it waited for Faust's. Keys are
partitioned with murmur2 like the Java client and aiokafka (so a workspace's sessions
land where they did); changelog records name their partition.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from confluent_kafka import KafkaException, Producer

from hivemind_kafka.runtime.kafka import producer_config
from hivemind_kafka.runtime.settings import Settings

log = logging.getLogger(__name__)

_BUSY_POLL_S = 0.001  # while deliveries are outstanding
_IDLE_POLL_S = 0.05


class OutputProducer:
    """One librdkafka producer for every output topic of a worker; delivery callbacks are
    served on the event loop by a polling task started with the first send."""

    def __init__(self, settings: Settings, *, max_record_bytes: int) -> None:
        conf = settings.sessionizer
        self._config = producer_config(
            settings,
            **{"linger.ms": conf.producer_linger_ms,
               "batch.size": min(conf.producer_batch_bytes, 2**31 - 1),
               "message.max.bytes": max_record_bytes})
        self._producer = Producer(self._config)
        self._pending: set[asyncio.Future] = set()  # sent, not yet reported
        self._pump: asyncio.Task | None = None

    @property
    def _outstanding(self) -> int:
        return len(self._pending)

    def topic(self, name: str) -> OutputTopic:
        return OutputTopic(self, name)

    def send(self, topic: str, *, key: bytes | None, value: bytes | None,
             headers: Any = None, partition: int | None = None) -> asyncio.Future:
        """Queue one message; the future resolves on the broker's acknowledgement."""
        loop = asyncio.get_running_loop()
        if self._pump is None or self._pump.done():
            self._pump = loop.create_task(self._serve())
        fut: asyncio.Future = loop.create_future()

        pending = self._pending

        def delivered(err: Any, msg: Any) -> None:
            pending.discard(fut)
            if fut.done():
                return
            if err is not None:
                fut.set_exception(KafkaException(err))
            else:
                fut.set_result(None)

        kwargs: dict[str, Any] = {"key": key, "value": value, "on_delivery": delivered}
        if partition is not None:
            kwargs["partition"] = partition
        if headers:
            kwargs["headers"] = list(headers.items()) if isinstance(headers, dict) else headers
        while True:
            try:
                self._producer.produce(topic, **kwargs)
                break
            except BufferError:  # librdkafka's queue is full: serve deliveries, retry
                self._producer.poll(0.01)
        pending.add(fut)
        return fut

    async def _serve(self) -> None:
        while True:
            self._producer.poll(0)
            await asyncio.sleep(_BUSY_POLL_S if self._outstanding else _IDLE_POLL_S)

    def reset(self) -> None:
        """A new producer, for a replaced cluster: an idempotent producer keeps the old
        cluster's producer id and sequence numbers, which the new cluster refuses, so
        nothing it sends would ever be acknowledged. What the old one still holds fails
        (its input records stay unacked and are read again from the new log)."""
        old, self._producer = self._producer, Producer(self._config)
        try:
            old.purge()
            old.poll(0)
        except KafkaException as exc:  # pragma: no cover - purge of a dead client
            log.warning("purging the old cluster's producer failed: %s", exc)
        # Nothing polls the old producer again: a report it still owes would leave its
        # future, and a batch waiting on it, waiting for ever. Fail what is left.
        stranded, self._pending = self._pending, set()
        for fut in stranded:
            if not fut.done():
                fut.set_exception(KafkaException(
                    "output producer replaced (new cluster) before this was acknowledged"))
                fut.exception()  # retrieved: its batch is abandoned, not failed

    async def drain(self, timeout_s: float) -> int:
        """Serve deliveries until none is outstanding or ``timeout_s`` passed; returns how
        many are left (their records are not acked: they are processed again)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while self._outstanding and loop.time() < deadline:
            self._producer.poll(0)
            await asyncio.sleep(_BUSY_POLL_S)
        if self._outstanding:
            log.warning("stopping with %d output messages undelivered", self._outstanding)
        return self._outstanding


class OutputTopic:
    """What the processor sends to: ``send_soon(key=, value=, headers=)`` → a future."""

    def __init__(self, producer: OutputProducer, name: str) -> None:
        self.producer, self.name = producer, name

    def send_soon(self, *, key: bytes | None, value: bytes | None,
                  headers: Any = None, partition: int | None = None) -> asyncio.Future:
        return self.producer.send(self.name, key=key, value=value, headers=headers,
                                  partition=partition)
