"""The sink on an S3 lake (moto's S3 server on loopback): txn versions, the unique-key
check and exactly-once rows hold over object storage too."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from hivemind_kafka.runtime.settings import Secret
from hivemind_kafka.schemas.events import encode_batch, turn_key
from hivemind_kafka.schemas.sessions import encode
from hivemind_kafka.sinks.delta_writer import DeltaSink, read_table
from hivemind_kafka.sinks.tables import table_spec
from tests.integration.test_sink import a_session, events_of, produce
from tests.support.s3 import moto_s3

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def s3_endpoint():
    pytest.importorskip("boto3")
    with moto_s3("sink-lake") as endpoint:
        yield endpoint


def _drain(sink: DeltaSink, condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sink.poll_once(0.2)
        if condition():
            return
    raise AssertionError("timed out draining the sink")


def test_restarted_sink_on_s3_writes_each_event_and_session_once(settings, s3_endpoint, tmp_path):
    s3 = settings.replace(lake={
        "uri": f"s3://sink-lake/{tmp_path.name}", "s3_endpoint": s3_endpoint,
        "s3_region": "us-east-1", "s3_access_key_id": "test",
        "s3_secret_access_key": Secret("test"),
        "s3_allow_http": True, "flush_seconds": 0.2,
    })
    specs = [table_spec("events"), table_spec("sessions")]
    t = s3.topics
    first = [events_of("ws-a", "s1", 0, 40), events_of("ws-b", "s2", 0, 40)]
    session = a_session("ws-a", "s1")
    produce(s3, [(t.turns, turn_key(b[0].workspace_id), encode_batch(b)) for b in first]
            + [(t.sessions, b"ws-a", encode(session))])

    sink = DeltaSink(s3, specs, group_id="sink-s3")
    sink.start()
    try:
        _drain(sink, lambda: read_table(s3, "events").num_rows == 80
               and read_table(s3, "sessions").num_rows == 1)
    finally:
        sink.close()

    more = events_of("ws-a", "s3", 0, 10)
    produce(s3, [(t.turns, turn_key("ws-a"), encode_batch(more)),
                 (t.sessions, b"ws-a", encode(session))])  # replayed session
    again = DeltaSink(s3, specs, group_id="sink-s3")
    again.start()
    try:
        # Done once the events are in and the replayed session's offset (1) is committed.
        _drain(again, lambda: read_table(s3, "events").num_rows >= 90
               and 1 in again.last_written_offsets("sessions").values())
    finally:
        again.close()

    ids = Counter(read_table(s3, "events")["event_id"].to_pylist())
    assert set(ids) == {e.event_id for b in [*first, more] for e in b}
    assert set(ids.values()) == {1}
    assert read_table(s3, "sessions")["session_uid"].to_pylist() == [session.session_uid]
