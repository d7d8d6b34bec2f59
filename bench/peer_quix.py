"""The sessionizer's job on Quix Streams, the benchmark's framework peer (bench-only
dependency: ``pip install -e '.[bench]'``).

``python -m bench.peer_quix --bootstrap HOST:PORT --input TOPIC --output TOPIC
--candidates TOPIC --group GROUP --state-dir DIR`` runs :class:`bench.peer_job.SessionJob`
in a stateful ``apply`` whose state is Quix's RocksDB store with its changelog topic
(at-least-once, Quix's defaults: a checkpoint every 5 s writes each changed key once).
States are stored as the same msgpack bytes the Faust worker keeps (identity
serialization). It prints ``{"first_record_at": <unix time>}`` at its first record and
runs until SIGTERM.
"""

from __future__ import annotations

import argparse
import logging
import time
from typing import Any

from bench.peer_job import SessionJob


def _identity(value: Any) -> Any:
    return value


def _output_serializer() -> Any:
    """Serializes a job output ``(kind, key, value)`` as its value bytes."""
    from quixstreams.models.serializers import Serializer

    class OutputValue(Serializer):
        def __call__(self, value: Any, ctx: Any) -> bytes:
            return bytes(value[2])

    return OutputValue()


def main(argv: list[str] | None = None) -> int:
    from quixstreams import Application, message_context
    from quixstreams.state.rocksdb import RocksDBOptions

    parser = argparse.ArgumentParser(prog="python -m bench.peer_quix")
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--input", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--candidates", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--state-dir", required=True)
    args = parser.parse_args(argv)
    app = Application(
        broker_address=args.bootstrap, consumer_group=args.group,
        auto_offset_reset="earliest", state_dir=args.state_dir,
        rocksdb_options=RocksDBOptions(dumps=_identity, loads=_identity),
        loglevel=logging.WARNING,
        # Short group timeouts: a join takes about session.timeout.ms on tansu.
        consumer_extra_config={"session.timeout.ms": 6000, "heartbeat.interval.ms": 500,
                               "fetch.max.bytes": 16 << 20,
                               "max.partition.fetch.bytes": 4 << 20},
        producer_extra_config={"linger.ms": 5, "compression.type": "lz4",
                               "batch.size": 1 << 20},
    )
    source = app.topic(args.input, key_deserializer="bytes", value_deserializer="bytes")
    # tansu does not report retention.ms in topic configs; Quix derives its changelog's
    # retention from it (FACTS.md): say "unlimited", as the topic is.
    source.broker_config.extra_config.setdefault("retention.ms", "-1")
    sessions = app.topic(args.output, key_serializer="bytes",
                         value_serializer=_output_serializer())
    candidates = app.topic(args.candidates, key_serializer="bytes",
                           value_serializer=_output_serializer())
    job = SessionJob()

    def step(value: bytes, state: Any) -> list[tuple[str, bytes, bytes]]:
        return job.process(value, message_context().partition, state.get,
                           lambda key, raw: state.delete(key) if raw is None else state.set(key, raw))

    sdf = app.dataframe(source)
    sdf = sdf.apply(step, stateful=True, expand=True)
    # Quix gives an output the input's timestamp; the benchmark times by when it was sent.
    sdf = sdf.set_timestamp(lambda value, key, timestamp, headers: int(time.time() * 1000))
    sdf.to_topic(lambda value, key, timestamp, headers: (
        sessions if value[0] == "sessions" else candidates), key=lambda out: out[1])
    app.run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
