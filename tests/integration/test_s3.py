"""The lake on S3 (HIVEMIND_LAKE=s3://bucket/prefix) against a local S3 server (moto's
server mode on loopback, started and stopped here): write, sql, optimize, vacuum, stats,
and two writers committing concurrently (delta-rs uses S3 conditional put, no lock)."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import threading
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake

from hivemind_kafka.analytics.sql import query_table
from hivemind_kafka.runtime.settings import Settings
from hivemind_kafka.sinks.maintenance import (
    checkpoint_table,
    optimize_table,
    table_stats,
    vacuum_table,
)
from tests.support.s3 import moto_s3

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
_prefix = itertools.count()


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory):
    pytest.importorskip("boto3")
    with moto_s3("hivemind-lake", log_path=tmp_path_factory.mktemp("moto") / "moto.log") as endpoint:
        yield endpoint


def s3_env(endpoint: str) -> dict[str, str]:
    return {
        "HIVEMIND_LAKE": f"s3://hivemind-lake/run{next(_prefix)}",
        "HIVEMIND_LAKE_S3_ENDPOINT": endpoint,
        "HIVEMIND_LAKE_S3_REGION": "us-east-1",
        "HIVEMIND_LAKE_S3_ACCESS_KEY_ID": "test",
        "HIVEMIND_LAKE_S3_SECRET_ACCESS_KEY": "test",
        "HIVEMIND_LAKE_S3_ALLOW_HTTP": "true",
    }


@pytest.fixture
def s3_lake(s3_endpoint) -> tuple[Settings, dict[str, str]]:
    env = s3_env(s3_endpoint)
    return Settings.from_env(env), env


def batch(start: int, n: int) -> pa.Table:
    return pa.table({"event_id": [f"e{i:06d}" for i in range(start, start + n)],
                     "kind": ["prompt" if i % 3 else "tool_result" for i in range(start, start + n)]})


def test_storage_options_come_from_settings(s3_lake):
    s, _ = s3_lake
    opts = s.lake.storage_options()
    assert opts["AWS_ALLOW_HTTP"] == "true" and opts["AWS_REGION"] == "us-east-1"
    assert s.lake.table_uri("events").startswith("s3://hivemind-lake/run")
    assert s.lake.table_uri("events").endswith("/events")


def test_sql_optimize_vacuum_over_s3(s3_lake):
    s, _ = s3_lake
    uri, opts = s.lake.table_uri("events"), s.lake.storage_options()
    for i in range(5):
        write_deltalake(uri, batch(i * 30, 30), mode="append", storage_options=opts)

    got = query_table(s, "SELECT kind, count(*) AS n FROM events GROUP BY kind ORDER BY kind")
    assert got.to_pylist() == [{"kind": "prompt", "n": 100}, {"kind": "tool_result", "n": 50}]

    before = table_stats(s, "events")
    assert (before.files, before.rows, before.version) == (5, 150, 4)
    result = optimize_table(s, "events")
    assert (result.files_removed, result.files_added) == (5, 1)
    assert checkpoint_table(s, "events") == 5
    after = table_stats(s, "events")
    assert (after.files, after.rows, after.last_checkpoint_version) == (1, 150, 5)
    # Removed a moment ago: a safe retention keeps them, dry run or not.
    assert vacuum_table(s, "events", apply=True).files == []
    assert query_table(s, "SELECT count(DISTINCT event_id) AS n FROM events").to_pylist() == [
        {"n": 150}]


def test_concurrent_writers_on_s3_lose_nothing(s3_lake):
    """Two sink-like writers (one app id each) append at once to one S3 table."""
    s, _ = s3_lake
    uri, opts = s.lake.table_uri("events"), s.lake.storage_options()
    write_deltalake(uri, batch(0, 1), storage_options=opts)
    errors: list[BaseException] = []

    def writer(app_id: str, base: int) -> None:
        try:
            for v in range(10):
                dt = DeltaTable(uri, storage_options=opts)
                write_deltalake(dt, batch(base + v * 10, 10), mode="append",
                                commit_properties=CommitProperties(
                                    app_transactions=[Transaction(app_id, v)]))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(f"sink-{p}", 1000 * (p + 1)))
               for p in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    dt = DeltaTable(uri, storage_options=opts)
    ids = dt.to_pyarrow_table(columns=["event_id"]).column("event_id").to_pylist()
    assert len(ids) == len(set(ids)) == 201
    assert dt.transaction_version("sink-0") == dt.transaction_version("sink-1") == 9
    assert dt.version() == 20


def test_cli_sql_and_lake_stats_on_s3(s3_lake):
    s, env = s3_lake
    write_deltalake(s.lake.table_uri("sessions"), batch(0, 7), storage_options=s.lake.storage_options())
    full_env = {**os.environ, **env, "HIVEMIND_HOME": "/nonexistent-hivemind-home"}

    def cli(*args):
        done = subprocess.run([sys.executable, "-m", "hivemind_kafka.cli.main", *args], cwd=REPO, env=full_env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert cli("sql", "SELECT count(*) AS n FROM sessions", "--format", "csv").split() == ["n", "7"]
    assert cli("lake", "stats").splitlines()[1].split()[:3] == ["sessions", "0", "1"]
