"""Shared by the benchmarks: put prepared turn records on the turns topic, fast."""

from __future__ import annotations

from confluent_kafka import Producer

from runtime.kafka import producer_config
from runtime.settings import Settings


def produce(settings: Settings, records: list[tuple[bytes, bytes]], *, timeout_s: float = 120) -> None:
    """Produce (key, value) records to the turns topic and wait for every acknowledgement;
    raises if some were not delivered within ``timeout_s``."""
    producer = Producer(producer_config(settings, **{"linger.ms": 50}))
    for key, value in records:
        while True:
            try:
                producer.produce(settings.topics.turns, key=key, value=value)
                break
            except BufferError:  # local queue full: serve delivery reports, then retry
                producer.poll(0.1)
        producer.poll(0)
    if producer.flush(timeout_s):
        raise RuntimeError("bench records not delivered")
