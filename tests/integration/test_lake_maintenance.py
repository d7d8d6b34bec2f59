"""Lake maintenance on real Delta tables: compaction, vacuum, stats, checkpoints, and
compaction racing a writer that appends with app transactions (as the sink does)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake
from deltalake.exceptions import CommitFailedError

from hivemind_kafka.runtime.settings import Settings
from hivemind_kafka.sinks.maintenance import (
    RetentionTooShort,
    TableMissing,
    checkpoint_table,
    lake_stats,
    optimize_table,
    table_stats,
    vacuum_table,
)

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
MB = 1_000_000


def lake_settings(root: Path) -> Settings:
    return Settings.from_env({}).replace(lake={"uri": str(root / "lake")})


def rows(start: int, n: int, *, payload_bytes: int = 16) -> pa.Table:
    return pa.table({
        "event_id": pa.array([f"e{i:08d}" for i in range(start, start + n)]),
        "day": pa.array(["2026-11-25" if i % 2 else "2026-11-26" for i in range(start, start + n)]),
        # Random hex: incompressible enough that file sizes mean something.
        "payload": pa.array([os.urandom(payload_bytes).hex() for _ in range(n)]),
    })


def count_distinct(uri: str) -> tuple[int, int]:
    ids = DeltaTable(uri).to_pyarrow_table(columns=["event_id"]).column("event_id")
    return len(ids), len(set(ids.to_pylist()))


def test_optimize_makes_files_of_at_least_8mb_on_a_large_table(tmp_path):
    s = lake_settings(tmp_path)
    uri = s.lake.table_uri("events")
    # ~20 MB of Parquet in ~40 small files, as a sink flushing often leaves it.
    write_deltalake(uri, rows(0, 40_000, payload_bytes=250), target_file_size=512 * 1024)
    before = table_stats(s, "events")
    assert before.files >= 20 and before.avg_file_bytes < 1 * MB

    result = optimize_table(s, "events")

    after = table_stats(s, "events")
    assert result.files_removed == before.files
    assert after.version == before.version + 1 == result.version_after
    assert after.rows == before.rows == 40_000
    assert after.files < before.files
    assert after.avg_file_bytes >= 8 * MB
    assert count_distinct(uri) == (40_000, 40_000)


def test_optimize_of_compact_table_commits_nothing(tmp_path):
    s = lake_settings(tmp_path)
    write_deltalake(s.lake.table_uri("events"), rows(0, 100))
    first = optimize_table(s, "events")
    assert first.files_removed == 0 and first.version_after == first.version_before


def test_optimize_during_concurrent_appends_loses_no_rows(tmp_path):
    """A writer appends 40 batches with an app transaction each (the sink's exactly-once
    protocol) while compaction runs again and again: every row is there exactly once,
    the transaction version is the last one written, and there are fewer files."""
    s = lake_settings(tmp_path)
    uri = s.lake.table_uri("events")
    write_deltalake(uri, rows(0, 50), partition_by=["day"])
    batches, per_batch = 40, 50
    errors: list[BaseException] = []
    conflicts = 0

    def append_all() -> None:
        nonlocal conflicts
        try:
            for b in range(batches):
                data = rows(50 + b * per_batch, per_batch)
                while True:
                    dt = DeltaTable(uri)  # reload, as the sink does after a conflict
                    if (dt.transaction_version("sink-0") or -1) >= b:
                        break  # this batch already landed: never write it twice
                    try:
                        write_deltalake(dt, data, mode="append", partition_by=["day"],
                                        commit_properties=CommitProperties(
                                            app_transactions=[Transaction("sink-0", b)]))
                        break
                    except CommitFailedError:
                        conflicts += 1
        except BaseException as exc:  # surfaced in the main thread
            errors.append(exc)

    writer = threading.Thread(target=append_all)
    writer.start()
    optimizations = 0
    deadline = time.monotonic() + 120
    while writer.is_alive() and time.monotonic() < deadline:
        result = optimize_table(s, "events", max_attempts=10)
        optimizations += result.files_removed > 0
    writer.join(timeout=60)
    assert not writer.is_alive() and not errors, errors
    files_before_final = table_stats(s, "events").files
    optimize_table(s, "events")

    total = 50 + batches * per_batch
    assert count_distinct(uri) == (total, total)
    assert DeltaTable(uri).transaction_version("sink-0") == batches - 1
    after = table_stats(s, "events")
    assert after.files == 2  # one per day partition
    assert after.files < files_before_final or optimizations > 0
    assert optimizations >= 1, "compaction never overlapped the writer"


def test_vacuum_is_a_dry_run_unless_applied(tmp_path):
    s = lake_settings(tmp_path)
    uri = s.lake.table_uri("events")
    # A table whose owner allows immediate vacuum (the default minimum is 7 days).
    for i in range(4):
        write_deltalake(uri, rows(i * 10, 10), mode="append",
                        configuration={"delta.deletedFileRetentionDuration": "interval 0 hours"})
    old_files = set(DeltaTable(uri).file_uris())
    optimize_table(s, "events")

    dry = vacuum_table(s, "events", retention_hours=0)
    assert not dry.applied and len(dry.files) == len(old_files) == 4
    assert all(Path(f.removeprefix("file://")).exists() for f in old_files)

    done = vacuum_table(s, "events", retention_hours=0, apply=True)
    assert done.applied and sorted(done.files) == sorted(dry.files)
    assert not any(Path(f.removeprefix("file://")).exists() for f in old_files)
    assert count_distinct(uri) == (40, 40)


def test_vacuum_keeps_recently_removed_files_with_default_retention(tmp_path):
    s = lake_settings(tmp_path)
    uri = s.lake.table_uri("events")
    for i in range(3):
        write_deltalake(uri, rows(i * 10, 10), mode="append")
    optimize_table(s, "events")
    assert vacuum_table(s, "events", apply=True).files == []
    assert len(DeltaTable(uri).file_uris()) == 1


def test_vacuum_refuses_retention_below_table_minimum(tmp_path):
    s = lake_settings(tmp_path)
    write_deltalake(s.lake.table_uri("events"), rows(0, 10))
    with pytest.raises(RetentionTooShort, match="minimum retention"):
        vacuum_table(s, "events", retention_hours=1, apply=True)
    with pytest.raises(RetentionTooShort):
        vacuum_table(s, "events", retention_hours=-1)


def test_stats_per_partition_and_checkpoint(tmp_path):
    s = lake_settings(tmp_path)
    uri = s.lake.table_uri("events")
    for i in range(3):
        write_deltalake(uri, rows(i * 10, 10), mode="append", partition_by=["day"])
    st = table_stats(s, "events")
    assert st.version == 2 and st.rows == 30 and st.files == 6
    assert st.partition_columns == ["day"]
    assert [(p.partition, p.files, p.rows) for p in st.partitions] == [
        ("day=2026-11-25", 3, 15), ("day=2026-11-26", 3, 15)]
    assert st.bytes == sum(p.bytes for p in st.partitions) > 0
    assert st.last_checkpoint_version is None and st.commits_since_checkpoint == 3

    assert checkpoint_table(s, "events") == 2
    st = table_stats(s, "events")
    assert st.last_checkpoint_version == 2 and st.commits_since_checkpoint == 0
    assert [t.name for t in lake_stats(s)] == ["events"]


def test_missing_table_is_named_with_the_fix(tmp_path):
    s = lake_settings(tmp_path)
    with pytest.raises(TableMissing, match="lake stats"):
        optimize_table(s, "sessions")


def test_cli_lake_stats_optimize_vacuum(tmp_path):
    s = lake_settings(tmp_path)
    for i in range(3):
        write_deltalake(s.lake.table_uri("sessions"), rows(i * 10, 10), mode="append")
    env = {**os.environ, "HIVEMIND_LAKE": s.lake.uri, "HIVEMIND_HOME": str(tmp_path / "home")}

    def cli(*args):
        done = subprocess.run([sys.executable, "-m", "hivemind_kafka.cli.main", "lake", *args], cwd=REPO,
                              env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    stats = cli("stats", "--partitions").splitlines()
    assert stats[0].split()[:3] == ["table", "version", "files"]
    assert stats[1].split()[:3] == ["sessions", "2", "3"]
    assert "3 files compacted into 1" in cli("optimize")
    assert "would delete (dry run; --apply deletes) 0 files" in cli("vacuum")
    assert "checkpoint at version 3" in cli("checkpoint", "sessions")
    assert cli("stats").splitlines()[1].split()[-1] == "3"
