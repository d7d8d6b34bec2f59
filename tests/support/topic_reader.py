"""Read a whole topic to its high watermarks (no consumer group): what tests assert on."""

from __future__ import annotations

import time

from hivemind_kafka.runtime.settings import Settings


def read_topic(settings: Settings, topic: str, *, timeout_s: float = 20.0
               ) -> list[tuple[bytes | None, bytes | None]]:
    """Every (key, value) on ``topic`` up to the high watermarks taken at call time
    (plus the rest of the last record batch, see below).
    Raises AssertionError if the end is not reached within ``timeout_s``."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    from hivemind_kafka.runtime.kafka import consumer_config

    consumer = Consumer(consumer_config(settings, "test-reader"))
    try:
        md = consumer.list_topics(topic, timeout=10)
        ends = {}
        for p in md.topics[topic].partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            if high > low:
                ends[p] = high
        if not ends:
            return []
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in ends])
        out = []
        deadline = time.monotonic() + timeout_s
        while ends and time.monotonic() < deadline:
            for msg in consumer.consume(500, timeout=0.2):
                if msg.error() is not None:
                    continue
                out.append((msg.key(), msg.value()))
                if msg.partition() in ends and msg.offset() + 1 >= ends[msg.partition()]:
                    del ends[msg.partition()]
        assert not ends, f"did not reach the end of {topic} partitions {sorted(ends)}"
        # tansu reports the high watermark as the last record *batch*'s base offset + 1,
        # so the rest of that batch follows: it is already fetched, drain until idle.
        while batch := [m for m in consumer.consume(500, timeout=0.5) if m.error() is None]:
            out.extend((m.key(), m.value()) for m in batch)
        return out
    finally:
        consumer.close()
