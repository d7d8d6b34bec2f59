"""``hivemind sql`` (DuckDB over the Delta tables) and ``hivemind lake stats|optimize|vacuum|checkpoint``."""

from __future__ import annotations

import argparse
import sys

_SQL_EPILOG = """\
tables: events, sessions, skills, outcomes, detected_outcomes, exposures (those written so far).
examples:
  hivemind sql "SELECT kind, count(*) AS n FROM events GROUP BY kind ORDER BY n DESC"
  hivemind sql "SELECT * FROM sessions" --format parquet --output sessions.parquet
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sql", help="run SQL (DuckDB) over the lake's Delta tables, local or s3://",
        epilog=_SQL_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("query", help='the SQL, e.g. "SELECT count(*) FROM events"; - reads stdin')
    p.add_argument("--format", choices=("table", "csv", "json", "parquet"), default="table",
                   help="table (screen, default), csv, json (JSON Lines) or parquet")
    p.add_argument("--output", "-o", metavar="FILE", help="write here instead of stdout")
    p.set_defaults(run=run_sql)

    lake = sub.add_parser("lake", help="Delta lake maintenance: stats, optimize, vacuum, checkpoint")
    lsub = lake.add_subparsers(dest="lake_command", metavar="ACTION", required=True)
    s = lsub.add_parser("stats", help="files, bytes, rows per table and partition; versions")
    s.add_argument("tables", nargs="*", help="table names (default: every existing table)")
    s.add_argument("--partitions", action="store_true", help="one line per partition too")
    s.set_defaults(run=run_stats)
    o = lsub.add_parser("optimize", help="compact small files (safe while the sink writes)")
    o.add_argument("tables", nargs="*", help="table names (default: every existing table)")
    o.add_argument("--target-mib", type=int, default=128, help="target file size (MiB)")
    o.add_argument("--attempts", type=int, default=5, help="retries on commit conflicts")
    o.set_defaults(run=run_optimize)
    v = lsub.add_parser("vacuum", help="delete files removed longer than the retention ago "
                                       "(dry run unless --apply)")
    v.add_argument("tables", nargs="*", help="table names (default: every existing table)")
    v.add_argument("--retention-hours", type=int, default=168,
                   help="keep removed files this long (default 168 = 7 days; "
                        "never below the table's own minimum)")
    v.add_argument("--apply", action="store_true", help="really delete (default: list only)")
    v.set_defaults(run=run_vacuum)
    c = lsub.add_parser("checkpoint", help="write a checkpoint at the current version")
    c.add_argument("tables", nargs="*", help="table names (default: every existing table)")
    c.set_defaults(run=run_checkpoint)


def run_sql(args, settings) -> int:
    from hivemind_kafka.analytics.sql import run_query, write_result
    from hivemind_kafka.runtime.errors import HivemindError

    query = sys.stdin.read() if args.query == "-" else args.query
    if args.format == "parquet" and not args.output:
        raise HivemindError("--format parquet writes a binary file: add --output FILE")
    reader = run_query(settings, query)
    if args.output:
        with open(args.output, "wb") as out:
            rows = write_result(reader, args.format, out)
        print(f"{rows} rows written to {args.output}", file=sys.stderr)
    else:
        write_result(reader, args.format, sys.stdout.buffer)
        sys.stdout.flush()
    return 0


def _tables(args, settings) -> list[str]:
    from hivemind_kafka.sinks.maintenance import existing_tables

    names = args.tables or list(existing_tables(settings))
    if not names:
        print(f"no Delta tables in {settings.lake.uri} yet", file=sys.stderr)
    return names


def run_stats(args, settings) -> int:
    from hivemind_kafka.sinks.maintenance import table_stats

    header = (f"{'table':<10} {'version':>7} {'files':>6} {'MiB':>9} {'avg MiB':>8} "
              f"{'rows':>11} {'checkpoint':>10}")
    names = _tables(args, settings)
    if names:
        print(header)
    for name in names:
        st = table_stats(settings, name)
        ckpt = "-" if st.last_checkpoint_version is None else str(st.last_checkpoint_version)
        print(f"{st.name:<10} {st.version:>7} {st.files:>6} {st.bytes / 2**20:>9.2f} "
              f"{st.avg_file_bytes / 2**20:>8.2f} {st.rows:>11} {ckpt:>10}")
        if args.partitions:
            for p in st.partitions:
                print(f"  {p.partition or '(unpartitioned)':<40} files={p.files} "
                      f"MiB={p.bytes / 2**20:.2f} rows={p.rows}")
    return 0


def run_optimize(args, settings) -> int:
    from hivemind_kafka.sinks.maintenance import optimize_table

    for name in _tables(args, settings):
        r = optimize_table(settings, name, target_size=args.target_mib * 2**20,
                           max_attempts=args.attempts)
        print(f"{name}: {r.files_removed} files compacted into {r.files_added} "
              f"(version {r.version_before} -> {r.version_after}, attempts {r.attempts})")
    return 0


def run_vacuum(args, settings) -> int:
    from hivemind_kafka.sinks.maintenance import vacuum_table

    for name in _tables(args, settings):
        r = vacuum_table(settings, name, retention_hours=args.retention_hours, apply=args.apply)
        verb = "deleted" if r.applied else "would delete (dry run; --apply deletes)"
        print(f"{name}: {verb} {len(r.files)} files older than {r.retention_hours} h")
        for f in r.files:
            print(f"  {f}")
    return 0


def run_checkpoint(args, settings) -> int:
    from hivemind_kafka.sinks.maintenance import checkpoint_table

    for name in _tables(args, settings):
        print(f"{name}: checkpoint at version {checkpoint_table(settings, name)}")
    return 0
