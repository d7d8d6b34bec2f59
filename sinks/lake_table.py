"""One Delta table as the sink sees it: a thin adapter over deltalake (no Kafka here).

The writer keeps ONE ``DeltaTable`` object per table and passes it to every write:
delta-rs rejects a commit whose app transaction another writer advanced only when the
write uses the object the versions were read from (CommitFailedError, "Concurrent
transaction"). A successful write moves that object to the newest version, which may
include another writer's commits, so the sink also compares versions before each write
(see ``DeltaSink._commit``). Every deltalake call is synchronous.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import CommitProperties, DeltaTable, Field, Transaction, write_deltalake
from deltalake.exceptions import CommitFailedError

from hivemind_kafka.runtime.errors import CommitConflict

log = logging.getLogger(__name__)


class LakeTable:
    """A Delta table at ``uri``, created (empty, partitioned) if it does not exist yet."""

    def __init__(self, uri: str, schema: pa.Schema, partition_by: Iterable[str], *,
                 storage_options: Mapping[str, str] | None = None) -> None:
        self.uri = uri
        self.schema = schema
        self.partition_by = list(partition_by)
        self._options = dict(storage_options or {})
        if not DeltaTable.is_deltatable(uri, storage_options=self._options):
            try:
                DeltaTable.create(uri, schema=schema, partition_by=self.partition_by,
                                  mode="ignore", storage_options=self._options)
                log.info("created delta table %s partitioned by %s", uri, self.partition_by)
            except CommitFailedError:
                # Another sink instance created it at the same moment: use theirs.
                if not DeltaTable.is_deltatable(uri, storage_options=self._options):
                    raise
        self._dt = DeltaTable(uri, storage_options=self._options)
        self._add_missing_columns()

    def _add_missing_columns(self) -> None:
        """Migrate a table created by an older contract: add the nullable columns
        ``schema`` has and the table lacks (old rows read them as null). A concurrent
        sink adding them first is fine: reload and check again."""
        from hivemind_kafka.sinks.tables import missing_columns

        for attempt in range(3):
            missing = missing_columns(self._dt.schema().to_arrow().names, self.schema)
            if not missing:
                return
            try:
                self._dt.alter.add_columns([Field.from_arrow(f) for f in missing])
                log.info("migrated delta table %s: added columns %s", self.uri,
                         [f.name for f in missing])
                return
            except Exception:  # another writer may have added them: reload, check again
                if attempt == 2:
                    raise
                self._dt = DeltaTable(self.uri, storage_options=self._options)

    @property
    def version(self) -> int:
        return self._dt.version()

    def reload(self) -> None:
        """Move to the newest committed version."""
        self._dt.update_incremental()

    def transaction_version(self, app_id: str) -> int | None:
        """The version (last written offset) of ``app_id`` in the loaded snapshot."""
        return self._dt.transaction_version(app_id)

    def existing_keys(self, data: pa.Table, key: str, *, within: str | None = None) -> set:
        """Values of ``key`` in ``data`` already in the table, looking only in the
        partitions (``partition_by`` values) that ``data`` touches and, with ``within``
        (a column every duplicate repeats exactly, e.g. the event's ``ts``), only in files
        whose ``within`` statistics overlap the batch's rows of that partition and minute.

        The Delta log's per-file statistics choose the files, so files of other
        partitions and times are never opened: opening every file of a partition to read
        its footer was the cost (seconds per commit on a partition of a few hundred small
        files). Minute buckets keep one late row from widening the range to a whole day.
        """
        if data.num_rows == 0 or self._dt.version() < 0:
            return set()
        files = _file_ranges(data, self.partition_by, within)
        dataset = self._dt.to_pyarrow_dataset(file_pruning_predicate=files)
        found = dataset.to_table(columns=[key], filter=pc.field(key).isin(data[key].unique()))
        return set(found[key].to_pylist())

    def append(self, data: pa.Table, versions: Mapping[str, int]) -> None:
        """One commit: ``data`` plus one app transaction per ``versions`` entry.

        Raises :class:`CommitConflict` if another writer committed one of these app ids
        since this object's snapshot.
        """
        txns = [Transaction(app_id=a, version=v) for a, v in versions.items()]
        try:
            write_deltalake(self._dt, data, mode="append", partition_by=self.partition_by,
                            commit_properties=CommitProperties(app_transactions=txns))
        except CommitFailedError as exc:
            raise CommitConflict(f"{self.uri}: {exc}") from exc

    def read(self) -> pa.Table:
        return self._dt.to_pyarrow_table()


def _file_ranges(data: pa.Table, partition_by: list[str], within: str | None
                 ) -> list[list[tuple[str, str, Any]]]:
    """Tuple filters in disjunctive normal form: one conjunction per (partition values,
    minute of ``within``) of ``data``, bounding ``within`` to that group's min and max."""
    columns = list(partition_by)
    aggregates: list[tuple[str, str]] = []
    table = data.select(columns + ([within] if within else []))
    if within is not None:
        table = table.append_column("__minute", pc.floor_temporal(table[within], unit="minute"))
        columns.append("__minute")
        aggregates = [(within, "min"), (within, "max")]
    groups = table.group_by(columns, use_threads=False).aggregate(aggregates)
    ranges = []
    for row in groups.to_pylist():
        conj: list[tuple[str, str, Any]] = [(c, "=", row[c]) for c in partition_by]
        if within is not None:
            conj += [(within, ">=", row[f"{within}_min"]), (within, "<=", row[f"{within}_max"])]
        ranges.append(conj)
    return ranges
