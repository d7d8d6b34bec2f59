"""Shared by the benchmarks: put prepared turn records on the turns topic, fast."""

from __future__ import annotations

from pathlib import Path

from confluent_kafka import Producer

from hivemind_kafka.runtime.kafka import ensure_topics, producer_config
from hivemind_kafka.runtime.settings import Settings


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


TOPICS = ("turns", "sessions", "candidates", "skills", "dlq", "ticks")


def bench_settings(bootstrap: str, tag: str, home: Path, *, partitions: int = 6,
                   **edge: str) -> Settings:
    """Settings for one benchmark: its own ``<tag>.<topic>`` names on the embedded broker,
    its own Hivemind home, and its topics created."""
    settings = Settings.from_env({}).replace(
        kafka={"bootstrap": bootstrap, "partitions": partitions},
        topics={name: f"{tag}.{name}" for name in TOPICS},
        edge={"home": str(home), **edge},
    )
    ensure_topics(settings)
    return settings
