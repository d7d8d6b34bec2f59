"""Delta sink throughput (rows/s into a local lake) next to the raw consume rate.

``python -m bench.sink [N]`` starts its own embedded broker, produces N events (default
500k) as 50-event batch records across 97 workspaces, then measures on the same topic:

- ``raw_consume_events_per_s``: a bare confluent-kafka consumer, no decoding (ceiling);
- ``raw_decode_events_per_s``: the same plus ``decode_turn_record`` per record;
- ``sink_events_rows_per_s``: ``DeltaSink`` with the ``events`` table only, from the
  first assignment to the last row committed (decode, dedup window, Arrow, Parquet,
  Delta commits with app transactions);
- ``sink_events_no_table_dedup_rows_per_s``: the same without the durable ``event_id``
  check against the table (in-memory window only); ``table_dedup_cost_ratio`` is
  with / without, same run (interleaved rounds, best of two each);
- ``sink_turns_tables_rows_per_s``: every table fed by the turns topic (events plus
  whatever else TABLES lists on it), events rows/s.

Target: >= 100k rows/s for the events table. Compare within one run (noisy machine).
"""

from __future__ import annotations

import os
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from confluent_kafka import Consumer

from bench.records import bench_settings, produce
from hivemind_kafka.runtime import broker as embedded
from hivemind_kafka.runtime.kafka import consumer_config
from hivemind_kafka.runtime.settings import Settings
from hivemind_kafka.schemas.events import (
    AgentKind,
    EventKind,
    TurnEvent,
    decode_turn_record,
    encode_batch,
)

N_EVENTS = 500_000
PER_RECORD = 50
_WORDS = ["the", "tests", "failed", "because", "the", "fixture", "path", "was", "wrong", "so", "I", "ran", "pytest", "again", "with", "verbose", "output", "and", "fixed", "the", "import", "in", "conftest", "then", "committed"]


def make_records(n_events: int, per_record: int = PER_RECORD) -> list[tuple[bytes, bytes]]:
    rng = random.Random(7)
    texts = [" ".join(rng.choices(_WORDS, k=28)) for _ in range(512)]  # ~300 B per event
    t0 = datetime.now(UTC) - timedelta(hours=1)
    records = []
    for r in range(n_events // per_record):
        ws, sid = f"ws-{r % 97}", f"s{r}"
        events = [TurnEvent(event_id=f"{sid}-{k}", workspace_id=ws, session_id=sid,
                            agent_id="bench", agent_kind=AgentKind.CODING, project="bench",
                            seq=k, ts=t0 + timedelta(milliseconds=r * per_record + k),
                            kind=EventKind.RESPONSE, text=texts[(r * 31 + k) % 512])
                  for k in range(per_record)]
        records.append((ws.encode(), encode_batch(events)))
    return records




def raw_consume(settings: Settings, n_records: int, *, decode: bool) -> float:
    """Events/s of a bare consumer reading all records (from its first record)."""
    consumer = Consumer(consumer_config(
        settings, f"bench-raw-{time.monotonic_ns()}",
        **{"max.partition.fetch.bytes": 8 * 1024 * 1024, "fetch.max.bytes": 64 * 1024 * 1024}))
    assigned_at: list[float] = []
    consumer.subscribe([settings.topics.turns],
                       on_assign=lambda c, ps: assigned_at.append(time.monotonic()))
    seen = events = 0
    try:
        while seen < n_records:
            for msg in consumer.consume(num_messages=10_000, timeout=0.5):
                if msg.error():
                    continue
                seen += 1
                events += len(decode_turn_record(msg.value())) if decode else PER_RECORD
        elapsed = time.monotonic() - assigned_at[0]
    finally:
        consumer.close()
    return events / elapsed


def sink_rate(settings: Settings, tables: list[str], n_events: int, *,
              durable_dedup: bool = True) -> float:
    """Events-table rows/s from the sink's first assignment to its last commit.

    ``durable_dedup=False`` drops the events table's check against the table itself
    (``unique_key``), leaving the in-memory window only: the cost of the check."""
    import dataclasses

    from prometheus_client import REGISTRY

    from hivemind_kafka.sinks.delta_writer import DeltaSink, select_tables

    specs = select_tables(tables)
    if not durable_dedup:
        specs = [dataclasses.replace(s, unique_key=None, unique_within=None)
                 if s.name == "events" else s for s in specs]
    sink = DeltaSink(settings, specs, group_id=f"bench-sink-{time.monotonic_ns()}")

    def rows() -> float:
        return REGISTRY.get_sample_value("hivemind_sink_rows_total", {"table": "events"}) or 0.0

    base = rows()
    sink.start()
    try:
        while rows() - base + sink.buffered_rows("events") < n_events:
            sink.poll_once(0.1)
        sink.flush_all()
        assert sink.first_assigned_at is not None
        elapsed = time.monotonic() - sink.first_assigned_at
    finally:
        sink.close()
    assert rows() - base == n_events, (rows() - base, n_events)
    return n_events / elapsed


def run(n_events: int = N_EVENTS) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-sink-") as tmp:
        root = Path(tmp)
        broker = embedded.start(log_path=root / "tansu.log")
        try:
            tag = f"b{os.getpid()}"
            base = bench_settings(broker.bootstrap, tag, root / "home")
            records = make_records(n_events)
            produce(base, records)
            n = len(records) * PER_RECORD
            raw = raw_consume(base, len(records), decode=False)
            raw_decoded = raw_consume(base, len(records), decode=True)
            # Interleaved rounds, best of two each: the machine is shared and noisy.
            sink_events = sink_no_dedup = 0.0
            for r in range(2):
                sink_events = max(sink_events, sink_rate(
                    base.replace(lake={"uri": str(root / f"lake-dedup-{r}")}), ["events"], n))
                sink_no_dedup = max(sink_no_dedup, sink_rate(
                    base.replace(lake={"uri": str(root / f"lake-window-{r}")}), ["events"], n,
                    durable_dedup=False))
            from hivemind_kafka.sinks.tables import TABLES

            turns_tables = [s.name for s in TABLES if s.topic == "turns"]
            sink_all = sink_rate(base.replace(lake={"uri": str(root / "lake2")}),
                                 turns_tables, n)
        finally:
            embedded.stop(broker)
    figures = {
        "events": float(n),
        "raw_consume_events_per_s": raw,
        "raw_decode_events_per_s": raw_decoded,
        "sink_events_rows_per_s": sink_events,
        "sink_events_no_table_dedup_rows_per_s": sink_no_dedup,
        "table_dedup_cost_ratio": sink_events / sink_no_dedup,
        "sink_turns_tables_rows_per_s": sink_all,
        "sink_to_raw_ratio": sink_events / raw,
        "sink_to_raw_decode_ratio": sink_events / raw_decoded,
        "target_rows_per_s": 100_000.0,
    }
    for name, value in figures.items():
        print(f"{name:38s} {value:14,.2f}")
    return figures


if __name__ == "__main__":
    from bench import help_requested

    if help_requested(__doc__):
        sys.exit(0)
    run(int(sys.argv[1]) if len(sys.argv) > 1 else N_EVENTS)
    sys.exit(0)
