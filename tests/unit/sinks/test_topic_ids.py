"""A table's offsets are kept per topic incarnation (topic id), and a table written before
topic ids were in the app ids moves over once: over a real local Delta table."""

from __future__ import annotations

import pytest

from hivemind_kafka.runtime.errors import BrokerUnavailable
from hivemind_kafka.sinks.buffer import TableBuffer
from hivemind_kafka.sinks.delta_txn import RETIRED, app_id
from hivemind_kafka.sinks.delta_writer import APP, _Table
from hivemind_kafka.sinks.lake_table import LakeTable
from hivemind_kafka.sinks.tables import table_spec

OLD, NEW = "AaJQdc2GeVC3hmwxgnJrZQ", "AaJQddFycAKiq9GrAOajYQ"


def table(tmp_path, topic_id: str = "") -> _Table:
    spec = table_spec("events")
    lake = LakeTable(str(tmp_path / "events"), spec.schema, spec.partition_by)
    return _Table(spec=spec, topic="turns", lake=lake, buffer=TableBuffer(), cluster="c1",
                  topic_id=topic_id)


def commit(t: _Table, versions: dict[int, int]) -> None:
    t.lake.append(t.spec.schema.empty_table(), t.txns(versions))
    t.lake.reload()


def test_a_table_written_before_topic_ids_resumes_from_its_offsets_once(tmp_path):
    old_sink = table(tmp_path)  # no topic id: the app ids older sinks wrote
    commit(old_sink, {0: 41, 1: 7})
    t = table(tmp_path, OLD)
    assert (t.version(0), t.version(1)) == (41, 7)  # not re-read from the start
    commit(t, {0: 50})
    legacy = app_id(APP, "turns", 0, cluster="c1")
    assert t.lake.transaction_version(legacy) == RETIRED
    assert t.version(0) == 50 and t.version(1) == 7  # partition 1 still moves over later
    # The topic is recreated: its new incarnation owes nothing to the old offsets.
    recreated = table(tmp_path, NEW)
    assert recreated.version(0) is None
    assert recreated.version(1) == 7  # not yet committed under a topic id: trusted once


def test_a_new_table_marks_that_it_keeps_offsets_by_topic_id(tmp_path):
    t = table(tmp_path, OLD)
    commit(t, {0: 3})
    assert t.version(0) == 3
    assert table(tmp_path, NEW).version(0) is None
    # Topic ids unreadable later: where the topic stands is unknown, so no guess (a
    # restart reads them again) rather than a re-read from the start.
    with pytest.raises(BrokerUnavailable):
        table(tmp_path).version(0)


def test_a_broker_without_topic_ids_keeps_the_old_app_ids(tmp_path):
    t = table(tmp_path)
    commit(t, {0: 9})
    assert t.version(0) == 9
    assert t.txns({0: 10}) == {app_id(APP, "turns", 0, cluster="c1"): 10}
