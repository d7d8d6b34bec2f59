"""The backbone end to end: a scripted fleet -> Kafka -> sessionizer -> Delta.

Runs the real worker processes (`hivemind worker ...` under the supervisor, as `hivemind
up` does) against the embedded broker and a temporary lake, and asserts on the data:
`events` holds exactly the produced event ids, `sessions` exactly one row per session,
closed for the expected reason, and the malformed records are dead-lettered.
"""

from __future__ import annotations

import time
from collections import Counter

import pytest
from confluent_kafka import Producer
from deltalake import DeltaTable

from hivemind_kafka.producers.sdk import Fleet
from hivemind_kafka.producers.sdk.simulated_fleet import FleetPlan, simulate
from hivemind_kafka.runtime.kafka import producer_config
from hivemind_kafka.runtime.settings import to_env
from hivemind_kafka.runtime.supervisor import Supervisor, child_env

pytestmark = pytest.mark.integration


def table(settings, name):
    try:
        return DeltaTable(settings.lake.table_uri(name)).to_pyarrow_table()
    except Exception:
        return None


def wait_for(predicate, timeout_s, sup=None, what=""):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if sup is not None:
            sup.poll()
        if predicate():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


@pytest.fixture
def pipeline(settings, tmp_path):
    settings = settings.replace(
        sessionizer={"idle_gap_s": 3, "arrival_grace_s": 1, "tick_interval_s": 0.5},
        lake={"flush_seconds": 0.5},
    )
    sup = Supervisor(env=child_env(to_env(settings)), log_dir=tmp_path / "logs",
                     components=["sessionizer", "sink"])
    sup.start()
    try:
        yield settings, sup
    finally:
        sup.stop(grace_s=20)


def test_fleet_sessions_land_in_delta_exactly_once(pipeline):
    settings, sup = pipeline
    raw = Producer(producer_config(settings))
    report = simulate(
        lambda **kw: Fleet(settings, source="simulator", **kw),
        FleetPlan(sessions=60, seed=11, malformed_records=4),
        send_raw=lambda v: raw.produce(settings.topics.turns, key=b"acme", value=v),
    )
    raw.flush(10)

    def landed():
        ev, se = table(settings, "events"), table(settings, "sessions")
        return (ev is not None and ev.num_rows >= report.events
                and se is not None and se.num_rows >= report.sessions)

    wait_for(landed, 120, sup, "every event and session in Delta")
    events = table(settings, "events")
    sessions = table(settings, "sessions")
    assert Counter(events.column("event_id").to_pylist()) == Counter(report.event_ids)
    uids = sessions.column("session_uid").to_pylist()
    assert len(uids) == len(set(uids)) == report.sessions
    assert sorted(set(sessions.column("session_id").to_pylist())) == sorted(report.session_ids)
    reasons = Counter(sessions.column("close_reason").to_pylist())
    assert reasons == Counter(report.expected_close)
