"""Forwarder throughput: how fast agentd drains a spool backlog into Kafka, and how long a
live session waits between the hook's append and the broker's acknowledgement.

* ``drain_events_per_s``: a backlog of N events (sessions of 50, each ending in stop), as
  after an outage, drained by one Forwarder to the embedded broker; timed from the first
  step until the spool is fully acknowledged.
* ``ack_latency_p50_ms`` / ``_p95_ms``: with the forwarder idle and running, one
  session of 8 events appended, timed until acknowledged (its stop releases the batch at
  once; an idle forwarder looks at the spool every 100 ms).
* ``linger_latency_p50_ms`` / ``_p95_ms``: the same for 8 events of a live session with
  no stop: their record is released by the linger (``HIVEMIND_EDGE_LINGER_MS``, default
  200 ms), which is the latency coalescing adds to a turn still in progress.

    python -m bench.forwarder           # 50k events
    HIVEMIND_BENCH_EVENTS=200000 python -m bench.forwarder
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.records import bench_settings
from hivemind_kafka.producers.agentd.forwarder import Forwarder
from hivemind_kafka.producers.hook.spool import Spool, spool_dir
from hivemind_kafka.runtime import broker as embedded


def _spool_session(spool: Spool, session: str, n: int, *, stop: bool = True) -> None:
    ts = datetime.now(UTC).isoformat()
    for i in range(n):
        spool.append({
            "event_id": f"{session}-{i}", "workspace_id": "bench", "session_id": session,
            "agent_id": "agent-1", "agent_kind": "coding", "project": "bench",
            "ts": ts, "kind": "stop" if stop and i == n - 1 else "tool_result",
            "tool_name": "Bash", "tool_output": "x" * 200, "source": "bench",
        }, seq_key=session)


def run(n_events: int | None = None) -> dict[str, float]:
    n_events = n_events or int(os.environ.get("HIVEMIND_BENCH_EVENTS", "50000"))
    per_session = 50
    with tempfile.TemporaryDirectory(prefix="bench-forwarder-") as tmp:
        root = Path(tmp)
        broker = embedded.start(log_path=root / "tansu.log")
        try:
            tag = f"bf{os.getpid()}"
            settings = bench_settings(broker.bootstrap, tag, root / "home", workspace_id="bench")
            spool = Spool(spool_dir(settings.edge.home_path()))
            t0 = time.perf_counter()
            for s in range(n_events // per_session):
                _spool_session(spool, f"s{s}", per_session)
            append_s = time.perf_counter() - t0

            forwarder = Forwarder(settings, stats_interval_s=3600)
            t0 = time.perf_counter()
            while spool.stats().records:
                for _ in range(50):
                    forwarder.step()
            drain_s = time.perf_counter() - t0

            stop = threading.Event()
            thread = threading.Thread(target=forwarder.run, args=(stop,), daemon=True)
            thread.start()
            latencies, lingering = [], []
            for i in range(30):
                for stopped, out in ((True, latencies), (False, lingering)):
                    start = time.perf_counter()
                    _spool_session(spool, f"live{i}{stopped}", 8, stop=stopped)
                    while spool.stats().records:
                        time.sleep(0.002)
                    out.append((time.perf_counter() - start) * 1000)
            stop.set()
            thread.join(15)
        finally:
            embedded.stop(broker)
    q = statistics.quantiles(latencies, n=20)
    q_linger = statistics.quantiles(lingering, n=20)
    figures = {
        "events": float(n_events),
        "spool_append_events_per_s": n_events / append_s,
        "drain_events_per_s": n_events / drain_s,
        "ack_latency_p50_ms": statistics.median(latencies),
        "ack_latency_p95_ms": q[18],
        "linger_latency_p50_ms": statistics.median(lingering),
        "linger_latency_p95_ms": q_linger[18],
        "linger_ms_setting": float(settings.edge.linger_ms),
    }
    for name, value in figures.items():
        print(f"  {name:<28} {value:>12,.1f}")
    return figures


if __name__ == "__main__":
    from bench import help_requested

    if help_requested(__doc__):
        sys.exit(0)
    run()
