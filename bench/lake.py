"""Lake figures: Delta append throughput to local disk vs a local S3 server (moto, its own
process on loopback), and `hivemind sql` over a 1M-row events table.

Writes go in sink-sized commits (HIVEMIND_BENCH_LAKE_BATCH rows, app transaction per
commit as the sink does), local and S3 interleaved so machine noise hits both alike.
SQL is timed in-process (query only) and through the real CLI (start-up included).

    python -m bench.lake
    HIVEMIND_BENCH_LAKE_ROWS=200000 python -m bench.lake
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

ROOT = Path(__file__).resolve().parents[1]
SQL_ROWS = int(os.environ.get("HIVEMIND_BENCH_LAKE_ROWS", "1000000"))
WRITE_ROWS = int(os.environ.get("HIVEMIND_BENCH_LAKE_WRITE_ROWS", "200000"))
BATCH = int(os.environ.get("HIVEMIND_BENCH_LAKE_BATCH", "20000"))

KINDS = ["prompt", "tool_call", "tool_result", "tool_call", "tool_result", "response", "stop"]
TOOLS = ["Bash", "Read", "Edit", "Grep", "Write"]

QUERIES = {
    "count_by_kind": "SELECT kind, count(*) AS n FROM events GROUP BY kind ORDER BY n DESC",
    "errors_per_tool": ("SELECT tool_name, count(*) FILTER (WHERE is_error) AS errors, count(*) "
                        "AS results FROM events WHERE kind = 'tool_result' GROUP BY 1 ORDER BY 2 DESC"),
    "sessions_per_day": ("SELECT workspace_id, CAST(ts AS DATE) AS day, "
                         "count(DISTINCT session_id) AS sessions FROM events GROUP BY ALL"),
}


def events_table(n: int, start: int = 0) -> pa.Table:
    """``n`` synthetic TurnEvent rows in the lake's events schema (vectorised, ~1 s/1M)."""
    from hivemind_kafka.schemas.arrow import arrow_schema
    from hivemind_kafka.schemas.events import TurnEvent

    schema = arrow_schema(TurnEvent)
    idx = pa.array(range(start, start + n), type=pa.int64())
    session = pc.divide(idx, 40)  # 40 events per session
    t0_us = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp() * 1_000_000)
    kinds = pa.array([KINDS[i % len(KINDS)] for i in range(n)])
    is_result = pc.equal(kinds, "tool_result")
    is_tool = pc.or_(is_result, pc.equal(kinds, "tool_call"))
    cols = {
        "event_id": pc.binary_join_element_wise("e", pc.cast(idx, pa.string()), ""),
        "schema_version": pa.array([1] * n, type=pa.int64()),
        "workspace_id": pc.binary_join_element_wise(
            "ws-", pc.cast(pc.bit_wise_and(session, 15), pa.string()), ""),
        "session_id": pc.binary_join_element_wise("s", pc.cast(session, pa.string()), ""),
        "agent_id": pc.binary_join_element_wise("agent-", pc.cast(pc.bit_wise_and(session, 255),
                                                                  pa.string()), ""),
        "agent_kind": pa.array(["coding"] * n),
        "project": pa.array(["repo"] * n),
        "seq": pc.bit_wise_and(idx, 0x7FFF_FFFF),
        "ts": pc.cast(pc.add(pc.multiply(idx, 20_000_000), t0_us), pa.timestamp("us", tz="UTC")),
        "kind": kinds,
        "text": pc.if_else(is_tool, pa.scalar(None, pa.string()),
                           pa.scalar("please fix the failing test in the parser module")),
        "tool_name": pc.if_else(is_tool, pa.array([TOOLS[i % 5] for i in range(n)]),
                                pa.scalar(None, pa.string())),
        "is_error": pc.if_else(is_result, pc.equal(pc.bit_wise_and(idx, 7), 2),
                               pa.scalar(None, pa.bool_())),
    }
    arrays = [cols[f.name] if f.name in cols else pa.nulls(n, f.type) for f in schema]
    arrays = [pc.cast(a, f.type) for a, f in zip(arrays, schema, strict=True)]
    return pa.Table.from_arrays(arrays, schema=schema)


def _start_s3() -> tuple[subprocess.Popen, str]:
    import boto3

    from hivemind_kafka.runtime.broker import free_port, is_listening

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p",
                             str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not is_listening("127.0.0.1", port):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("moto server did not start")
        time.sleep(0.1)
    endpoint = f"http://127.0.0.1:{port}"
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                 aws_access_key_id="bench", aws_secret_access_key="bench",
                 ).create_bucket(Bucket="bench")
    return proc, endpoint


def _append(uri: str, batches: list[pa.Table], opts: dict[str, str] | None) -> float:
    from deltalake import CommitProperties, Transaction, write_deltalake

    t0 = time.perf_counter()
    for version, batch in enumerate(batches):
        write_deltalake(uri, batch, mode="append", storage_options=opts,
                        commit_properties=CommitProperties(
                            app_transactions=[Transaction("bench-0", version)]))
    return time.perf_counter() - t0


def bench_writes(tmp: Path) -> dict[str, float]:
    batches = [events_table(BATCH, start=i * BATCH) for i in range(max(1, WRITE_ROWS // BATCH))]
    rows = sum(b.num_rows for b in batches)
    proc, endpoint = _start_s3()
    try:
        opts = {"AWS_ENDPOINT_URL": endpoint, "AWS_REGION": "us-east-1",
                "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                "AWS_ALLOW_HTTP": "true"}
        local_s, s3_s = [], []
        for rnd in range(2):  # interleaved rounds, best of each
            local_s.append(_append(str(tmp / f"local{rnd}" / "events"), batches, None))
            s3_s.append(_append(f"s3://bench/r{rnd}/events", batches, opts))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    local_rps, s3_rps = rows / min(local_s), rows / min(s3_s)
    print(f"delta append, {rows} rows in {len(batches)} commits of {BATCH}:")
    print(f"  local disk        {local_rps:>12,.0f} rows/s")
    print(f"  local S3 (moto)   {s3_rps:>12,.0f} rows/s   local/S3 = {local_rps / s3_rps:.2f}x")
    return {"delta_local_rows_per_s": local_rps, "delta_s3_rows_per_s": s3_rps,
            "delta_local_over_s3": local_rps / s3_rps}


def bench_sql(tmp: Path) -> dict[str, float]:
    from deltalake import write_deltalake

    from hivemind_kafka.analytics.sql import query_table
    from hivemind_kafka.runtime.settings import Settings

    lake = tmp / "sql-lake"
    t0 = time.perf_counter()
    step = 250_000
    for start in range(0, SQL_ROWS, step):
        write_deltalake(str(lake / "events"), events_table(min(step, SQL_ROWS - start), start),
                        mode="append")
    gen_s = time.perf_counter() - t0
    settings = Settings.from_env({"HIVEMIND_LAKE": str(lake)})
    out: dict[str, float] = {}
    print(f"hivemind sql over {SQL_ROWS:,} events (generated and written in {gen_s:.1f} s):")
    for name, sql in QUERIES.items():
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            result = query_table(settings, sql)
            times.append(time.perf_counter() - t0)
        best = min(times)
        out[f"sql_{name}_s"] = best
        print(f"  {name:<18} {best * 1000:>8.0f} ms  ({result.num_rows} rows, "
              f"{SQL_ROWS / best / 1e6:.1f} M rows/s)")
    env = {**os.environ, "HIVEMIND_LAKE": str(lake), "HIVEMIND_HOME": str(tmp / "home")}
    cli_times, base_times = [], []
    for _ in range(3):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        base_times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "hivemind_kafka.cli.main", "sql", QUERIES["count_by_kind"]],
                       cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
        cli_times.append(time.perf_counter() - t0)
    cli, base = min(cli_times), min(base_times)
    out["sql_cli_count_by_kind_s"] = cli
    out["sql_cli_over_python_startup"] = cli / base
    print(f"  CLI end to end     {cli * 1000:>8.0f} ms  ({cli / base:.1f}x `python -c pass`)")
    return out


def bench_compaction(tmp: Path) -> dict[str, float]:
    """What the sink's frequent small flushes cost readers, and what `lake optimize` buys."""
    from deltalake import write_deltalake

    from hivemind_kafka.analytics.sql import query_table
    from hivemind_kafka.runtime.settings import Settings
    from hivemind_kafka.sinks.maintenance import optimize_table, table_stats

    lake = tmp / "small-files"
    rows, commits = SQL_ROWS // 5, 200
    per = rows // commits
    for i in range(commits):
        write_deltalake(str(lake / "events"), events_table(per, i * per), mode="append")
    settings = Settings.from_env({"HIVEMIND_LAKE": str(lake)})

    def best_query() -> float:
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            query_table(settings, QUERIES["count_by_kind"])
            times.append(time.perf_counter() - t0)
        return min(times)

    before_files = table_stats(settings, "events").files
    before = best_query()
    t0 = time.perf_counter()
    optimize_table(settings, "events")
    optimize_s = time.perf_counter() - t0
    after_files = table_stats(settings, "events").files
    after = best_query()
    print(f"compaction of {rows:,} events in {commits} commits:")
    print(f"  files {before_files} -> {after_files} in {optimize_s:.2f} s; count_by_kind "
          f"{before * 1000:.0f} ms -> {after * 1000:.0f} ms ({before / after:.1f}x faster)")
    return {"optimize_s": optimize_s, "sql_small_files_over_compacted": before / after}


def run() -> dict[str, float]:
    tmp = Path(tempfile.mkdtemp(prefix="hivemind-bench-lake-"))
    try:
        return {**bench_writes(tmp), **bench_sql(tmp), **bench_compaction(tmp)}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    from bench import help_requested

    if help_requested(__doc__):
        sys.exit(0)
    for key, value in run().items():
        print(f"{key} = {value:.4g}")
