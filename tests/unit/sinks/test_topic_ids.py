"""A table's offsets are kept per topic incarnation (topic id), a table written before topic
ids were in the app ids moves over without re-reading, and a sink of the earlier release
running beside this one (a rolling upgrade) still resumes right: over a real Delta table."""

from __future__ import annotations

from hivemind_kafka.sinks.buffer import TableBuffer
from hivemind_kafka.sinks.delta_txn import app_id
from hivemind_kafka.sinks.delta_writer import APP, _Table
from hivemind_kafka.sinks.lake_table import LakeTable
from hivemind_kafka.sinks.tables import table_spec

OLD, NEW = "AaJQdc2GeVC3hmwxgnJrZQ", "AaJQddFycAKiq9GrAOajYQ"


def table(tmp_path, topic_id: str = "") -> _Table:
    """With ``topic_id`` "": what a sink that cannot read topic ids sees."""
    spec = table_spec("events")
    lake = LakeTable(str(tmp_path / "events"), spec.schema, spec.partition_by)
    return _Table(spec=spec, topic="turns", lake=lake, buffer=TableBuffer(), cluster="c1",
                  topic_id=topic_id)


def commit(t: _Table, versions: dict[int, int]) -> None:
    t.lake.append(t.spec.schema.empty_table(), t.txns(versions))
    t.lake.reload()


def earlier_release_commit(t: _Table, versions: dict[int, int]) -> None:
    """What a sink before topic ids wrote: the app ids without them, nothing else."""
    t.lake.append(t.spec.schema.empty_table(),
                  {app_id(APP, "turns", p, cluster="c1"): v for p, v in versions.items()})
    t.lake.reload()


def test_a_recreated_topic_is_read_from_its_start(tmp_path):
    commit(table(tmp_path, OLD), {0: 99, 1: 5})
    assert table(tmp_path, OLD).version(0) == 99
    recreated = table(tmp_path, NEW)
    assert recreated.version(0) is None and recreated.version(1) is None
    commit(recreated, {0: 3})
    assert table(tmp_path, NEW).version(0) == 3


def test_a_table_written_before_topic_ids_moves_over_without_re_reading(tmp_path):
    earlier_release_commit(table(tmp_path), {0: 41, 1: 7})
    t = table(tmp_path, OLD)
    assert (t.version(0), t.version(1)) == (41, 7)
    commit(t, {0: 50})
    assert t.version(0) == 50
    # Partition 0 is kept by topic id from now on; partition 1 moves over at its commit.
    recreated = table(tmp_path, NEW)
    assert recreated.version(0) is None
    assert recreated.version(1) == 7


def test_an_earlier_release_beside_this_one_resumes_where_either_left_off(tmp_path):
    commit(table(tmp_path, OLD), {0: 20})
    # The partition moves to a sink of the earlier release: it reads the id without the
    # topic id, which every commit writes.
    old = table(tmp_path)
    assert old.lake.transaction_version(app_id(APP, "turns", 0, cluster="c1")) == 20
    earlier_release_commit(old, {0: 35})
    # And back: resumes after 35, not after 20.
    assert table(tmp_path, OLD).version(0) == 35


def test_topic_ids_unreadable_fall_back_to_the_ids_every_commit_writes(tmp_path):
    commit(table(tmp_path, OLD), {0: 9})
    blind = table(tmp_path)
    assert blind.version(0) == 9
    assert blind.txns({0: 10}) == {app_id(APP, "turns", 0, cluster="c1"): 10}
