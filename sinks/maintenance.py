"""Lake maintenance: stats, compaction, vacuum and checkpoints of the Delta tables.

Safe while the sink is writing. Delta's optimistic concurrency makes every operation
here one atomic commit: compaction only rewrites files that a concurrent append did not
touch, so appends are never lost; if delta-rs reports a commit conflict anyway, the
table is reloaded and the compaction retried (``max_attempts``), then
:class:`MaintenanceConflict` is raised. Vacuum deletes only files that were removed
from the table longer than the retention ago, is a dry run unless ``apply=True``, and
refuses a retention shorter than the table's ``delta.deletedFileRetentionDuration``
(7 days by default) so a reader or a slow writer never loses a file it still needs.

Works on local and s3:// lakes alike (``settings.lake.storage_options()``).
"""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hivemind_kafka.runtime.errors import HivemindError

if TYPE_CHECKING:
    from deltalake import DeltaTable

    from hivemind_kafka.runtime.settings import Settings

log = logging.getLogger(__name__)

MIB = 1024 * 1024
DEFAULT_TARGET_SIZE = 128 * MIB  # as kafka-delta-ingest
DEFAULT_RETENTION_HOURS = 7 * 24  # Delta's own default deletedFileRetentionDuration


class TableMissing(HivemindError):
    """The named Delta table does not exist (yet) in the lake."""


class MaintenanceConflict(HivemindError):
    """A maintenance commit kept conflicting with concurrent writers; nothing was lost."""


class RetentionTooShort(HivemindError):
    """Vacuum was asked for a retention shorter than the table allows."""


@dataclass(frozen=True)
class PartitionStats:
    partition: str  # "day=2026-11-26" or "" for an unpartitioned table
    files: int
    bytes: int
    rows: int


@dataclass(frozen=True)
class TableStats:
    name: str
    uri: str
    version: int
    files: int
    bytes: int
    rows: int
    partition_columns: list[str]
    partitions: list[PartitionStats]
    last_checkpoint_version: int | None
    commits_since_checkpoint: int

    @property
    def avg_file_bytes(self) -> float:
        return self.bytes / self.files if self.files else 0.0


@dataclass(frozen=True)
class OptimizeResult:
    name: str
    files_removed: int
    files_added: int
    version_before: int
    version_after: int
    attempts: int
    metrics: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class VacuumResult:
    name: str
    retention_hours: int
    applied: bool
    files: list[str]  # deleted (applied) or that would be deleted (dry run)


def lake_table_names() -> list[str]:
    """The Delta tables the sink writes (sinks.tables.TABLES), one directory each."""
    from hivemind_kafka.sinks.tables import TABLES

    return [spec.name for spec in TABLES]


def existing_tables(settings: Settings, names: Iterable[str] | None = None) -> dict[str, str]:
    """{name: uri} of the lake tables that exist now (a missing table is not an error)."""
    from deltalake import DeltaTable

    opts = settings.lake.storage_options() or None
    found = {}
    for name in lake_table_names() if names is None else names:
        uri = settings.lake.table_uri(name)
        if DeltaTable.is_deltatable(uri, storage_options=opts):
            found[name] = uri
    return found


def open_table(settings: Settings, name: str) -> DeltaTable:
    """The lake's table ``name``; :class:`TableMissing` if it does not exist."""
    from deltalake import DeltaTable

    uri = settings.lake.table_uri(name)
    opts = settings.lake.storage_options() or None
    if not DeltaTable.is_deltatable(uri, storage_options=opts):
        raise TableMissing(f"no Delta table {name!r} at {uri}: the sink creates it on its "
                           "first write; `hivemind lake stats` lists the tables that exist")
    return DeltaTable(uri, storage_options=opts)


def table_stats(settings: Settings, name: str) -> TableStats:
    """File counts and sizes per table and partition, version and last checkpoint."""
    import pyarrow as pa

    dt = open_table(settings, name)
    actions = pa.table(dt.get_add_actions(flatten=True)).to_pylist()
    part_cols = list(dt.metadata().partition_columns)
    per_part: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for add in actions:
        key = "/".join(f"{c}={add.get(f'partition.{c}')}" for c in part_cols)
        acc = per_part[key]
        acc[0] += 1
        acc[1] += int(add["size_bytes"])
        acc[2] += int(add.get("num_records") or 0)
    partitions = [PartitionStats(partition=k, files=v[0], bytes=v[1], rows=v[2])
                  for k, v in sorted(per_part.items())]
    checkpoint = last_checkpoint_version(dt)
    version = dt.version()
    return TableStats(
        name=name, uri=dt.table_uri, version=version,
        files=sum(p.files for p in partitions), bytes=sum(p.bytes for p in partitions),
        rows=sum(p.rows for p in partitions), partition_columns=part_cols,
        partitions=partitions, last_checkpoint_version=checkpoint,
        commits_since_checkpoint=version - (checkpoint if checkpoint is not None else -1),
    )


def lake_stats(settings: Settings, names: list[str] | None = None) -> list[TableStats]:
    """Stats of every existing lake table (or of ``names``)."""
    tables = names or list(existing_tables(settings))
    return [table_stats(settings, n) for n in tables]


def last_checkpoint_version(dt: DeltaTable) -> int | None:
    """Version of the table's last checkpoint (``_delta_log/_last_checkpoint``), if any."""
    import pyarrow.fs as pafs
    from deltalake.fs import DeltaStorageHandler

    fs = pafs.PyFileSystem(DeltaStorageHandler.from_table(dt._table))
    try:
        with fs.open_input_stream("_delta_log/_last_checkpoint") as f:
            return int(json.loads(f.read())["version"])
    except (FileNotFoundError, OSError, KeyError, ValueError):
        return None


def optimize_table(settings: Settings, name: str, *, target_size: int = DEFAULT_TARGET_SIZE,
                   max_attempts: int = 5) -> OptimizeResult:
    """Compact small files into files of about ``target_size`` bytes, one commit.

    Retries on a commit conflict with a freshly loaded table (back-off 0.2 s, 0.4 s...);
    raises :class:`MaintenanceConflict` after ``max_attempts``. A table already compact
    gives ``files_removed == 0`` and no new version.
    """
    from deltalake.exceptions import CommitFailedError

    for attempt in range(1, max_attempts + 1):
        dt = open_table(settings, name)
        before = dt.version()
        try:
            metrics = dt.optimize.compact(target_size=target_size)
        except CommitFailedError as exc:
            log.warning("optimize conflict table=%s attempt=%d/%d: %s",
                        name, attempt, max_attempts, exc)
            time.sleep(0.2 * 2 ** (attempt - 1))
            continue
        result = OptimizeResult(
            name=name, files_removed=int(metrics.get("numFilesRemoved", 0)),
            files_added=int(metrics.get("numFilesAdded", 0)), version_before=before,
            version_after=dt.version(), attempts=attempt, metrics=metrics,
        )
        log.info("optimized table=%s removed=%d added=%d version=%d",
                 name, result.files_removed, result.files_added, result.version_after)
        return result
    raise MaintenanceConflict(
        f"optimize of {name!r} conflicted with concurrent commits {max_attempts} times; "
        "no data was changed: retry later or raise --attempts")


def vacuum_table(settings: Settings, name: str, *,
                 retention_hours: int = DEFAULT_RETENTION_HOURS,
                 apply: bool = False) -> VacuumResult:
    """Delete files removed from the table more than ``retention_hours`` ago.

    Dry run unless ``apply``. The retention is enforced against the table's
    ``delta.deletedFileRetentionDuration``: a shorter one raises :class:`RetentionTooShort`.
    """
    from deltalake.exceptions import DeltaError

    if retention_hours < 0:
        raise RetentionTooShort(f"retention must be >= 0 hours, got {retention_hours}")
    dt = open_table(settings, name)
    try:
        files = dt.vacuum(retention_hours=retention_hours, dry_run=not apply,
                          enforce_retention_duration=True)
    except DeltaError as exc:
        if "retention" in str(exc).lower():
            minimum = dt.metadata().configuration.get(
                "delta.deletedFileRetentionDuration", "interval 1 week")
            raise RetentionTooShort(
                f"vacuum of {name!r} with {retention_hours} h is below the table's "
                f"minimum retention ({minimum}); readers and writers may still need "
                f"those files: use --retention-hours >= the minimum "
                f"(default {DEFAULT_RETENTION_HOURS})") from None
        raise
    log.info("vacuum table=%s retention_hours=%d applied=%s files=%d",
             name, retention_hours, apply, len(files))
    return VacuumResult(name=name, retention_hours=retention_hours, applied=apply,
                        files=sorted(files))


def checkpoint_table(settings: Settings, name: str) -> int:
    """Write a checkpoint at the current version (readers then skip replaying JSON)."""
    dt = open_table(settings, name)
    dt.create_checkpoint()
    log.info("checkpoint table=%s version=%d", name, dt.version())
    return dt.version()
