"""Sessionizer throughput per worker, next to the raw aiokafka consume rate of the same topic.

``python -m bench.sessionizer`` starts its own embedded broker, produces N events as batch
records (default 200k events in 50-event records), runs one worker
(``python -m streams.sessionizer``) and times it from its first to its last closed session
(Kafka timestamps of the emitted records, so the reader's own lag does not count). Shapes:
sessions of 1, 4 and 20 records, each closed by a stop in its last record (every record
of the state is rewritten to the changelog, so long sessions cost more per event).
The ceiling is a bare aiokafka consumer reading the same topic (with and without decoding).
"""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from confluent_kafka import Consumer

from bench.records import bench_settings, produce
from runtime import broker as embedded
from runtime.kafka import consumer_config, resolve_bootstrap
from runtime.settings import Settings, to_env
from runtime.supervisor import child_env
from schemas.events import AgentKind, EventKind, TurnEvent, decode_turn_record, encode_batch

ROOT = Path(__file__).resolve().parents[1]
_WORDS = ["the", "tests", "failed", "because", "the", "fixture", "path", "was", "wrong", "so", "I", "ran", "pytest", "again", "with", "verbose", "output", "and", "fixed", "the", "import", "in", "conftest", "then", "committed"]


def make_records(n_events: int, per_record: int, per_session: int,
                 tag: str) -> list[tuple[bytes, bytes]]:
    """Records of ``per_record`` events; sessions of ``per_session`` events end on a session_end.
    Sessions are interleaved in waves of 50 so the table holds many open sessions."""
    t0 = datetime.now(UTC) - timedelta(minutes=10)
    rng = random.Random(7)
    texts = [" ".join(rng.choices(_WORDS, k=28)) for _ in range(512)]  # ~160 chars, ~300 B/event
    n_sessions = n_events // per_session
    sessions = []
    for i in range(n_sessions):
        ws, sid = f"ws-{i % 97}", f"{tag}-s{i}"
        events = [TurnEvent(event_id=f"{sid}-{k}", workspace_id=ws, session_id=sid,
                            agent_id="bench", agent_kind=AgentKind.CODING, project="bench",
                            seq=k, ts=t0 + timedelta(milliseconds=k),
                            kind=EventKind.SESSION_END if k == per_session - 1 else EventKind.RESPONSE,
                            text=texts[(i * 31 + k) % 512])
                  for k in range(per_session)]
        sessions.append([events[j:j + per_record] for j in range(0, per_session, per_record)])
    records = []
    for wave in range(0, n_sessions, 50):
        group = sessions[wave:wave + 50]
        for k in range(max(len(s) for s in group)):
            records += [(s[k][0].workspace_id.encode(), encode_batch(s[k]))
                        for s in group if k < len(s)]
    return records




def settings_env(settings: Settings) -> dict[str, str]:
    return child_env(to_env(settings), PYTHONPATH=str(ROOT))


def time_worker(settings: Settings, n_sessions: int, log_path: Path, *, workers: int = 1) -> float:
    """Seconds between the first and last closed session, with ``workers`` worker processes
    in one group (started together, so they share the first rebalance)."""
    procs = []
    with open(log_path, "ab") as out:
        profile = (["-m", "cProfile", "-o", os.environ["BENCH_PROFILE"]]
                   if os.environ.get("BENCH_PROFILE") else [])
        for i in range(1, workers + 1):
            procs.append(subprocess.Popen(
                [sys.executable, *profile, "-m", "streams.sessionizer", "--app-id",
                 f"bench-{settings.topics.turns}", "--worker-id", str(i)],
                env=settings_env(settings), cwd=ROOT, stdout=out, stderr=subprocess.STDOUT))
    consumer = Consumer(consumer_config(settings, f"bench-reader-{settings.topics.sessions}"))
    consumer.subscribe([settings.topics.sessions])
    stamps: list[int] = []
    try:
        deadline = time.monotonic() + 600
        while len(stamps) < n_sessions:
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                raise RuntimeError(f"workers did not close {n_sessions} sessions; see {log_path}")
            for msg in consumer.consume(1000, timeout=0.5):
                if msg.error() is None:
                    stamps.append(msg.timestamp()[1])
    finally:
        consumer.close()
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
    return (max(stamps) - min(stamps)) / 1000


async def raw_consume(settings: Settings, n_records: int, *, decode: bool) -> float:
    """Seconds for a bare aiokafka consumer to read (and maybe decode) every record."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=resolve_bootstrap(settings),
                                enable_auto_commit=False, max_partition_fetch_bytes=4 << 20)
    await consumer.start()
    try:
        parts = consumer.partitions_for_topic(settings.topics.turns) or set()
        tps = [TopicPartition(settings.topics.turns, p) for p in parts]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        seen, t0 = 0, time.perf_counter()
        while seen < n_records:
            batches = await consumer.getmany(timeout_ms=500, max_records=5000)
            for msgs in batches.values():
                seen += len(msgs)
                if decode:
                    for msg in msgs:
                        decode_turn_record(msg.value)
        return time.perf_counter() - t0
    finally:
        await consumer.stop()


def run(n_events: int = 200_000, per_record: int = 50,
        records_per_session: dict[str, int] | None = None) -> dict[str, float]:
    """Figures per shape; ``records_per_session`` maps a shape name to its session length
    in records (default 1, 4 and 20 records: the state written per record grows with the
    session, so long sessions cost more per event). The 4-record shape also runs with two
    workers in one group: on 2 cores shared with the broker the gain is bounded."""
    shapes = records_per_session or {"sessions_of_1_record": 1, "sessions_of_4_records": 4,
                                     "sessions_of_20_records": 20,
                                     "sessions_of_4_records_2_workers": 4}
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-sessionizer-") as tmp:
        root = Path(tmp)
        broker = embedded.start(log_path=root / "tansu.log")
        try:
            for i, (shape, n_records) in enumerate(shapes.items()):
                per_session = per_record * n_records
                tag = f"b{os.getpid()}x{i}"
                settings = bench_settings(broker.bootstrap, tag, root / "home")
                records = make_records(n_events, per_record, per_session, tag)
                t0 = time.perf_counter()
                produce(settings, records)
                produce_s = time.perf_counter() - t0
                n_sessions = n_events // per_session
                workers = 2 if shape.endswith("_2_workers") else 1
                worker_s = time_worker(settings, n_sessions, root / f"{shape}.log",
                                       workers=workers)
                raw_s = asyncio.run(raw_consume(settings, len(records), decode=False))
                decode_s = asyncio.run(raw_consume(settings, len(records), decode=True))
                # First-to-last close misses the records before the first close.
                counted = n_events - per_session
                worker_eps = counted / worker_s
                raw_eps = n_events / raw_s
                figures.update({
                    f"{shape}_worker_events_per_s": worker_eps,
                    f"{shape}_worker_sessions_per_s": (n_sessions - 1) / worker_s,
                    f"{shape}_raw_aiokafka_events_per_s": raw_eps,
                    f"{shape}_raw_aiokafka_decode_events_per_s": n_events / decode_s,
                    f"{shape}_worker_to_raw_ratio": worker_eps / raw_eps,
                    f"{shape}_produce_events_per_s": n_events / produce_s,
                })
                print(f"{shape}: {n_events:,} events in {len(records):,} records of {per_record}, "
                      f"{n_sessions:,} sessions of {per_session}: worker {worker_eps:,.0f} "
                      f"events/s ({(n_sessions - 1) / worker_s:,.0f} sessions/s), raw aiokafka "
                      f"{raw_eps:,.0f} events/s ({n_events / decode_s:,.0f} with decode), "
                      f"ratio {worker_eps / raw_eps:.2f}", flush=True)
        finally:
            embedded.stop(broker)
    one = figures.get("sessions_of_4_records_worker_events_per_s")
    two = figures.get("sessions_of_4_records_2_workers_worker_events_per_s")
    if one and two:
        figures["two_workers_to_one_ratio"] = two / one
        print(f"2 workers / 1 worker (same run, 4-record sessions): {two / one:.2f}x", flush=True)
    return figures


if __name__ == "__main__":
    run()
