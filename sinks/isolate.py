"""Find the source records a batch fails on, by splitting it (pure logic, no I/O).

A batch can decode record by record and still fail as a whole: while its rows become an
Arrow table, or while Delta writes them (a partition value no file system can hold). One
such record must not stop the sink, and a failure every record meets (storage down) must
never be blamed on a record. Both functions split the batch by source record only, so a
record's rows stay together and what is dead-lettered is exactly the records that fail:

- :func:`failing_units` (conversion, deterministic): the records whose rows fail alone.
- :func:`commit_isolating` (writes): commits the batch in order, halving a chunk that
  fails; a single record that fails alone goes to ``on_poison``, which decides between
  poison and an outage (the sink probes the storage with an empty commit) and raises for
  an outage. Each commit covers, per Kafka partition, a prefix of the batch, so the txn
  versions only go up and exactly-once holds across the split.

Cost: nothing on the normal path; a failing batch of n records with k poison ones takes
about k * log2(n) extra attempts. A storage outage costs log2(n) + 1 failing attempts
before the caller's retry path takes over.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from hivemind_kafka.runtime.errors import CommitConflict
from hivemind_kafka.sinks.buffer import Batch


@dataclass(frozen=True)
class Unit:
    """One source record's rows in a batch."""

    partition: int
    offset: int
    rows: Sequence[Any]
    source: Any


def units_of(batch: Batch) -> list[Unit]:
    """The batch's records that gave rows, in the batch's row order."""
    units = []
    start = 0
    for partition, offset, n, source in batch.records:
        units.append(Unit(partition, offset, batch.rows[start:start + n], source))
        start += n
    return units


def rows_of(units: Sequence[Unit]) -> list[Any]:
    return [row for u in units for row in u.rows]


def versions_of(units: Sequence[Unit]) -> dict[int, int]:
    """Per partition, the highest offset among ``units``."""
    versions: dict[int, int] = {}
    for u in units:
        versions[u.partition] = max(u.offset, versions.get(u.partition, u.offset))
    return versions


def failing_units(units: Sequence[Unit], build: Callable[[list[Any]], Any]
                  ) -> list[tuple[Unit, Exception]]:
    """The units whose rows ``build`` fails on alone, each with its error (halving: a
    chunk that builds holds no such unit). Rows that fail only together with others'
    are not found here; the caller's build of the rest then still fails."""
    found: list[tuple[Unit, Exception]] = []

    def split(chunk: Sequence[Unit]) -> None:
        try:
            build(rows_of(chunk))
            return
        except Exception as exc:
            if len(chunk) == 1:
                found.append((chunk[0], exc))
                return
        mid = len(chunk) // 2
        split(chunk[:mid])
        split(chunk[mid:])

    if units:
        split(units)
    return found


def commit_isolating(units: Sequence[Unit],
                     commit: Callable[[Sequence[Unit], dict[int, int]], None],
                     on_poison: Callable[[Unit, Exception], None]) -> None:
    """Commit ``units`` in order with ``commit(chunk, versions_of(chunk))``; a chunk that
    fails is halved, a unit that fails alone is handed to ``on_poison`` (which commits
    past it, or raises to stop: an outage). A :class:`CommitConflict` is never split:
    another writer owns a partition, and it propagates."""

    def split(chunk: Sequence[Unit]) -> None:
        try:
            commit(chunk, versions_of(chunk))
            return
        except CommitConflict:
            raise
        except Exception as exc:
            if len(chunk) == 1:
                on_poison(chunk[0], exc)
                return
        mid = len(chunk) // 2
        split(chunk[:mid])
        split(chunk[mid:])

    if units:
        split(units)
