"""The sessionizer's processor alone: no Kafka, no Faust, in this process.

``python -m bench.processor`` runs :class:`hivemind_kafka.streams.sessionizer.processor.Sessionizer`
over the same records :mod:`bench.sessionizer` produces (per shape), in batches of
``sessionizer.batch_max_records``, with a dict for the table and outputs that acknowledge
at once, and prints per shape: records/s and events/s of CPU time, and the share of that
CPU the cyclic garbage collector took (``gc.callbacks``).

What it is for: the worker's figure in :mod:`bench.sessionizer` is this job plus Faust
(consumer, streams, event loop); the difference between the two is what the framework
costs per record. The GC share is here because a batch holds every decoded event of its
records while the job allocates: when events were tracked by the collector it took about
a fifth of this CPU (see ``TurnEvent``'s ``gc=False``).

    python -m bench.processor
    HIVEMIND_BENCH_SHAPES=50x1 HIVEMIND_BENCH_EVENTS=400000 python -m bench.processor
"""

from __future__ import annotations

import asyncio
import gc
import os
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from bench.sessionizer import make_records
from hivemind_kafka.runtime.memory import tune_gc
from hivemind_kafka.runtime.settings import Settings
from hivemind_kafka.streams.sessionizer.processor import Sessionizer

SHAPES = {"50x1": (50, 1), "50x4": (50, 4), "50x20": (50, 20), "1x50": (1, 50)}
TOPIC = "bench.turns"


class _Store:
    """The table: a dict; every write is durable at once."""

    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}

    def get(self, key: bytes) -> bytes | None:
        return self.data.get(key)

    def put(self, key: bytes, raw: bytes | None, *, partition: int) -> None:
        if raw is None:
            self.data.pop(key, None)
        else:
            self.data[key] = raw
        return None

    def items(self) -> list[tuple[bytes, bytes]]:
        return list(self.data.items())


class _Topic:
    """An output topic that acknowledges every send at once and keeps a count."""

    def __init__(self) -> None:
        self.sent = 0

    def send_soon(self, *, key: bytes | None, value: bytes | None, headers: object = None
                  ) -> asyncio.Future:
        self.sent += 1
        fut = asyncio.get_running_loop().create_future()
        fut.set_result(None)
        return fut


@dataclass
class _Message:
    topic: str
    partition: int
    offset: int
    key: bytes
    value: bytes


@dataclass
class _Event:
    message: _Message


class _Stream:
    async def ack(self, event: _Event) -> bool:
        return True


class _GcTimer:
    """CPU seconds spent in collections, while installed."""

    def __init__(self) -> None:
        self.seconds, self._start = 0.0, 0.0

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._start = time.process_time()
        else:
            self.seconds += time.process_time() - self._start


def measure(shape: str, n_events: int, settings: Settings | None = None, *,
            tuned: bool = True) -> dict[str, float]:
    """One pass of the processor over the shape's records; figures of CPU time. ``tuned``:
    with the worker's collector settings (:func:`~hivemind_kafka.runtime.memory.tune_gc`)."""
    per_record, records_per_session = SHAPES[shape]
    records, expected = make_records(n_events, per_record, per_record * records_per_session,
                                     f"proc-{shape}")
    settings = settings or Settings.from_env({})
    batch = settings.sessionizer.batch_max_records
    events = [_Event(_Message(TOPIC, 0, i, key, value))
              for i, (key, value) in enumerate(records)]
    sessions = _Topic()

    async def scenario() -> float:
        proc = Sessionizer(store=_Store(), sessions=sessions, candidates=_Topic(),
                           dead_letters=_Topic(), settings=settings,
                           clock=lambda: datetime.now(UTC), assigned_partitions=lambda: {0})
        proc.on_assigned()
        stream = _Stream()
        t0 = time.process_time()
        for i in range(0, len(events), batch):
            await proc.handle_batch(stream, events[i:i + batch], more_buffered=True)
        await proc.handle_batch(stream, [], more_buffered=False)
        return time.process_time() - t0

    timer = _GcTimer()
    gc.collect()
    if tuned:
        tune_gc()
    gc.callbacks.append(timer)
    try:
        seconds = asyncio.run(scenario())
    finally:
        gc.callbacks.remove(timer)
    if sessions.sent != len(expected):
        raise AssertionError(f"{shape}: {sessions.sent} sessions for {len(expected)} expected")
    n_ev = len(records) * per_record
    return {"records_per_s": len(records) / seconds, "events_per_s": n_ev / seconds,
            "gc_share": timer.seconds / seconds}


def run() -> dict[str, float]:
    n_events = int(os.environ.get("HIVEMIND_BENCH_EVENTS", "200000"))
    shapes = [s for s in os.environ.get("HIVEMIND_BENCH_SHAPES", ",".join(SHAPES)).split(",") if s]
    figures: dict[str, float] = {}
    for shape in shapes:
        f = measure(shape, n_events if SHAPES[shape][0] > 1 else n_events // 5)
        print(f"{shape}: processor alone {f['records_per_s']:,.0f} records/s, "
              f"{f['events_per_s']:,.0f} events/s of CPU; garbage collector "
              f"{f['gc_share']:.1%} of it", flush=True)
        figures[f"{shape} processor events/s"] = f["events_per_s"]
        figures[f"{shape} processor gc share"] = f["gc_share"]
    return figures


if __name__ == "__main__":
    from bench import help_requested

    if help_requested(__doc__):
        sys.exit(0)
    run()
