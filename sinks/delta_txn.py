"""Kafka offsets <-> Delta app transactions: the one module where the off-by-one lives.

A Delta table records, for every Kafka partition it ingests, the offset of the LAST record
it wrote as the version of the app transaction ``app_id(app, topic, partition, cluster=...,
topic_id=...)``. Kafka
counts the other way: a consumer position (and a committed offset) is the NEXT offset to
read. The two meet only here:

- ``next_offset_to_read(last_written_offset) == last_written_offset + 1``
- ``is_already_written(offset, last_written_offset)`` is ``offset <= last_written_offset``:
  delta-rs does not skip a batch already committed (delta-rs #2580), so the sink drops
  such records itself.

``None`` means "the table holds nothing of this partition yet": the consumer then starts
where ``auto.offset.reset`` says (earliest), never at Kafka's committed offset, which is
advisory only and may belong to a table that was since deleted.

Pure functions, no I/O: unit-tested in tests/unit/sinks/test_delta_txn.py.
"""

from __future__ import annotations

from collections.abc import Iterable


def app_id(app: str, topic: str, partition: int, *, cluster: str = "",
           topic_id: str = "") -> str:
    """The Delta app-transaction id of one Kafka partition:
    ``{app}-{cluster}-{topic}@{topic_id}-{partition}`` (``@`` never occurs in a topic name).

    Offsets mean nothing across logs, so the id names the log: the cluster id (the
    embedded dev broker starts empty, with a new cluster id, on every start while the lake
    persists) and the topic id (a topic deleted and recreated under the same name starts
    again at offset 0; without its id, a table that stored offset 99 of the old topic
    would skip the new topic's first 100 records). Without ``topic_id`` (a broker that
    reports none): the id tables were written under before topic ids were in it.
    """
    prefix = f"{app}-{cluster}" if cluster else app
    name = f"{topic}@{topic_id}" if topic_id else topic
    return f"{prefix}-{name}-{partition}"


def keyed_marker(legacy_app_id: str) -> str:
    """The app id whose presence (any version) says a partition's offsets are also kept
    under topic-id app ids: then a missing topic-id version means a new topic."""
    return f"{legacy_app_id}~by-topic-id"


def stored_version(current: int | None, legacy: int | None, *, keyed: bool) -> int | None:
    """The last written offset of a partition, from its versions under the app id with
    the current topic id (``current``) and under the one without (``legacy``, which every
    sink writes too, so that a sink of an earlier release running beside this one during
    a rolling upgrade resumes correctly); ``keyed``: the partition has been committed
    under a topic id before.

    - ``current`` known: this topic's own; ``legacy`` can only be newer if a sink of an
      earlier release committed this topic since (it never crosses a recreation: the
      last commit under ``current`` rewrote ``legacy`` in this same topic's life).
    - no ``current`` but ``keyed``: the topic was recreated; read it from its start.
    - neither: a table written before topic ids were in the app ids; trust ``legacy``.
    """
    if current is not None:
        return current if legacy is None else max(current, legacy)
    if keyed:
        return None
    return legacy


def next_offset_to_read(last_written_offset: int | None) -> int | None:
    """Where to resume after ``last_written_offset`` (``None``: from the beginning)."""
    if last_written_offset is None:
        return None
    return last_written_offset + 1


def is_already_written(offset: int, last_written_offset: int | None) -> bool:
    """True if a record at ``offset`` is already covered by ``last_written_offset``."""
    return last_written_offset is not None and offset <= last_written_offset


def last_written_offset(offsets: Iterable[int]) -> int:
    """The txn version to commit for a batch: the highest offset it consumed.

    Every consumed offset counts, including records that yielded no row (duplicates,
    skipped or dead-lettered records): they are done with once the commit lands.
    """
    return max(offsets)


def resume_offset(last_written_by_table: Iterable[int | None]) -> int | None:
    """Where one consumer should read a partition that feeds several tables.

    The lowest next offset over the tables (``None`` if any table holds nothing yet); each
    table then drops what it already has with :func:`is_already_written`.
    """
    nexts = [next_offset_to_read(v) for v in last_written_by_table]
    if not nexts or any(n is None for n in nexts):
        return None
    return min(n for n in nexts if n is not None)


def advisory_commit_offset(last_written_offsets: Iterable[int | None]) -> int | None:
    """The Kafka offset to commit (for lag tools) once the tables hold these versions."""
    return resume_offset(last_written_offsets)


def lag_records(high_watermark: int, last_written_offset: int | None,
                low_watermark: int = 0) -> int:
    """Records in the partition the table does not hold yet (high watermark = next offset)."""
    start = next_offset_to_read(last_written_offset)
    if start is None:
        start = low_watermark
    return max(0, high_watermark - start)
