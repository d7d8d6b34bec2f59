"""A plain confluent-kafka sessionizer loop, the benchmark's ceiling peer.

``python -m bench.peer_confluent --bootstrap HOST:PORT --input TOPIC --output TOPIC
--candidates TOPIC --group GROUP`` runs :class:`bench.peer_job.SessionJob` over batches
of ``consume()``, with the states in a dict (no changelog: nothing survives a crash),
outputs through one producer, offsets committed every second after a flush. It prints
``{"first_record_at": <unix time>}`` when it processes its first record and runs until
SIGTERM.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import time

from confluent_kafka import Consumer, KafkaException, Producer

from bench.peer_job import SessionJob


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.peer_confluent")
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--input", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--candidates", required=True)
    parser.add_argument("--group", required=True)
    args = parser.parse_args(argv)
    stop = False

    def on_term(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    consumer = Consumer({"bootstrap.servers": args.bootstrap, "group.id": args.group,
                         "enable.auto.commit": False, "auto.offset.reset": "earliest",
                         # Short group timeouts: a join takes about this long on tansu.
                         "session.timeout.ms": 6000, "heartbeat.interval.ms": 500,
                         "fetch.max.bytes": 16 << 20,
                         "max.partition.fetch.bytes": 4 << 20})
    producer = Producer({"bootstrap.servers": args.bootstrap, "linger.ms": 5,
                         "compression.type": "lz4", "enable.idempotence": True,
                         "batch.size": 1 << 20})
    consumer.subscribe([args.input])
    topics = {"sessions": args.output, "candidates": args.candidates}
    job = SessionJob()
    states: dict[bytes, bytes] = {}

    def put(key: bytes, raw: bytes | None) -> None:
        if raw is None:
            states.pop(key, None)
        else:
            states[key] = raw

    next_commit = time.monotonic() + 1.0
    while not stop:
        for msg in consumer.consume(2000, timeout=0.1):
            if msg.error() is not None:
                continue
            for kind, key, value in job.process(msg.value(), msg.partition(), states.get, put):
                while True:
                    try:
                        producer.produce(topics[kind], value, key)
                        break
                    except BufferError:
                        producer.poll(0.05)
        producer.poll(0)
        if time.monotonic() >= next_commit:
            producer.flush()
            if job.records:
                with contextlib.suppress(KafkaException):  # nothing new to commit
                    consumer.commit(asynchronous=False)
            next_commit = time.monotonic() + 1.0
    producer.flush()
    consumer.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
