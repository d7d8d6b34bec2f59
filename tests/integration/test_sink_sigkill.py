"""SIGKILL the sink process (``python -m hivemind_kafka.sinks``) at random points mid-stream, restart it,
and count: every event and every session must be in the lake exactly once."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from confluent_kafka import Producer
from deltalake import DeltaTable

from hivemind_kafka.runtime.kafka import producer_config
from hivemind_kafka.schemas.events import encode_batch, turn_key
from hivemind_kafka.schemas.sessions import encode
from hivemind_kafka.sinks.delta_writer import read_table
from tests.integration.test_sink import a_session, events_of, wait_for

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
KILLS = 4


def sink_env(settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HIVEMIND_")}
    for var, value, _field in settings.describe():
        if value != "None" and not value.startswith("Secret("):
            env[var] = value
    return env


def start_sink(env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "hivemind_kafka.sinks", "--tables", "events,sessions"],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
        )


def table_version(settings, name: str) -> int:
    uri = settings.lake.table_uri(name)
    return DeltaTable(uri).version() if DeltaTable.is_deltatable(uri) else -1


def test_sigkill_mid_stream_no_loss_no_duplicate(settings, tmp_path):
    settings = settings.replace(lake={"flush_rows": 2000, "flush_seconds": 0.3})
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    env = sink_env(settings)
    log = tmp_path / "sink.log"
    workspaces = [f"ws-{i}" for i in range(6)]
    batches: list = []  # what was produced (all delivered once the feeder ends)
    sessions: list = []
    keep_feeding = threading.Event()
    keep_feeding.set()

    def feed() -> None:
        """About 2,000 events/s in 20-event records until the kills are over."""
        producer = Producer(producer_config(settings))
        j = 0
        while keep_feeding.is_set():
            for ws in workspaces:
                batch = events_of(ws, f"s{j}", 0, 20)
                producer.produce(settings.topics.turns, key=turn_key(ws),
                                 value=encode_batch(batch))
                batches.append(batch)
                if j % 5 == 0:
                    s = a_session(ws, f"s{j}")
                    producer.produce(settings.topics.sessions, key=ws.encode(), value=encode(s))
                    sessions.append(s)
            j += 1
            if j % 3 == 0:
                producer.poll(0)
                time.sleep(0.1)
        assert producer.flush(30) == 0

    feeder = threading.Thread(target=feed)
    feeder.start()
    proc = start_sink(env, log)
    try:
        for _ in range(KILLS):
            # Kill only once this process has committed (so it dies mid-stream, not at
            # start: the created table is version 0), at a random moment after that.
            version = max(table_version(settings, "events"), 0)
            wait_for(lambda v=version: table_version(settings, "events") > v, timeout=90,
                     interval=0.05, what=f"a commit before the kill (seed {seed})")
            time.sleep(rng.uniform(0.0, 1.5))
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            proc = start_sink(env, log)
        keep_feeding.clear()
        feeder.join(60)
        assert not feeder.is_alive()
        total = sum(len(b) for b in batches)
        wait_for(lambda: read_table(settings, "events").num_rows >= total
                 and read_table(settings, "sessions").num_rows >= len(sessions),
                 timeout=120, interval=0.5, what=f"all rows after {KILLS} kills (seed {seed})")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, log.read_text()[-2000:]
    finally:
        keep_feeding.clear()
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        feeder.join(5)

    events = Counter(read_table(settings, "events")["event_id"].to_pylist())
    assert set(events) == {e.event_id for b in batches for e in b}, f"seed {seed}"
    duplicated = {k: n for k, n in events.items() if n > 1}
    assert not duplicated, f"seed {seed}: {len(duplicated)} duplicated event ids"
    uids = Counter(read_table(settings, "sessions")["session_uid"].to_pylist())
    assert set(uids) == {s.session_uid for s in sessions}
    assert set(uids.values()) == {1}
