"""Finding the source records that a batch fails on (sinks.isolate), written before it.

A batch that decodes may still fail when its rows become Arrow or are written to Delta.
The sink must find the record(s) that fail alone, dead-letter them and keep the rest; a
failure that every record meets (storage down) must never dead-letter anything.
"""

from __future__ import annotations

import pytest

from hivemind_kafka.sinks.buffer import TableBuffer
from hivemind_kafka.sinks.isolate import commit_isolating, failing_units, units_of


def buffered(records: list[tuple[int, int, list[str]]]):
    """A batch from ``(partition, offset, rows)``; each record's source is its label."""
    buf = TableBuffer()
    for p in sorted({p for p, _, _ in records}):
        buf.assign(p, None)
    for p, off, rows in records:
        buf.accept(p, off, rows, 0.0, source=f"{p}@{off}")
    return buf.take()


def to_arrow(rows):
    if any(r.startswith("bad") for r in rows):
        raise ValueError(f"cannot convert {[r for r in rows if r.startswith('bad')]}")
    return list(rows)


def test_units_follow_records_and_skip_rowless_ones():
    batch = buffered([(0, 5, ["a", "b"]), (0, 6, []), (1, 2, ["c"])])
    units = units_of(batch)
    assert [(u.partition, u.offset, list(u.rows), u.source) for u in units] == [
        (0, 5, ["a", "b"], "0@5"), (1, 2, ["c"], "1@2")]
    assert batch.last_written_offsets == {0: 6, 1: 2}


def test_the_one_record_that_fails_conversion_is_found():
    batch = buffered([(0, i, [f"r{i}a", f"r{i}b"]) for i in range(20)]
                     + [(1, 7, ["x", "bad-y"])] + [(1, i, [f"s{i}"]) for i in range(8, 30)])
    bad = failing_units(units_of(batch), to_arrow)
    assert [(u.partition, u.offset) for u, _ in bad] == [(1, 7)]
    assert "bad-y" in str(bad[0][1])


def test_several_bad_records_are_all_found_and_good_ones_kept():
    records = [(0, i, ["bad" if i in (0, 13, 63) else f"ok{i}"]) for i in range(64)]
    bad = failing_units(units_of(buffered(records)), to_arrow)
    assert sorted(u.offset for u, _ in bad) == [0, 13, 63]


def test_no_failing_record_means_none_found():
    assert failing_units(units_of(buffered([(0, 1, ["a"]), (0, 2, ["b"])])), to_arrow) == []


class Store:
    """A Delta table stand-in: commits are (rows, versions); ``fails`` decides per commit."""

    def __init__(self, fails) -> None:
        self.fails = fails
        self.commits: list[tuple[list[str], dict[int, int]]] = []
        self.calls = 0

    def commit(self, units, versions):
        self.calls += 1
        rows = [r for u in units for r in u.rows]
        if self.fails(rows):
            raise OSError(f"write failed for {rows[:3]}")
        self.commits.append((rows, dict(versions)))


def test_a_record_failing_alone_is_dead_lettered_and_the_rest_committed_in_order():
    records = [(0, i, [f"r{i}"]) for i in range(10)] + [(1, i, [f"q{i}"]) for i in range(5)]
    records[4] = (0, 4, ["bad-path"])
    batch = buffered(records)
    store = Store(lambda rows: "bad-path" in rows)
    poisoned = []

    def poison(unit, exc):
        poisoned.append(unit.source)
        store.commits.append(([], {unit.partition: unit.offset}))  # the skip commit

    commit_isolating(units_of(batch), store.commit, poison)
    assert poisoned == ["0@4"]
    stored = [r for rows, _ in store.commits for r in rows]
    assert sorted(stored) == sorted([f"r{i}" for i in range(10) if i != 4]
                                    + [f"q{i}" for i in range(5)])
    # Each commit covers a per-partition prefix: versions only go up, by partition.
    last: dict[int, int] = {}
    for _, versions in store.commits:
        for p, v in versions.items():
            assert v > last.get(p, -1)
            last[p] = v
    assert last == {0: 9, 1: 4}


def test_storage_down_for_every_record_dead_letters_nothing():
    batch = buffered([(0, i, [f"r{i}"]) for i in range(16)])
    store = Store(lambda rows: True)

    class Unavailable(Exception):
        pass

    def poison(unit, exc):
        raise Unavailable("probe failed: storage unavailable") from exc  # the sink's probe

    with pytest.raises(Unavailable):
        commit_isolating(units_of(batch), store.commit, poison)
    assert store.commits == []
    assert store.calls <= 6  # bisects down to the first record only: log2(16) + 1 attempts


def test_a_conflict_is_not_bisected():
    from hivemind_kafka.runtime.errors import CommitConflict

    batch = buffered([(0, i, [f"r{i}"]) for i in range(8)])

    def commit(units, versions):
        raise CommitConflict("another writer")

    with pytest.raises(CommitConflict):
        commit_isolating(units_of(batch), commit, lambda u, e: None)
