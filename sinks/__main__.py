"""``python -m hivemind_kafka.sinks [--tables events,sessions]``: run the Delta sink with Settings.from_env()."""

from __future__ import annotations

import argparse
import os
import sys

from hivemind_kafka.runtime import logs
from hivemind_kafka.runtime.errors import HivemindError
from hivemind_kafka.runtime.settings import Settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hivemind_kafka.sinks", description=__doc__)
    parser.add_argument("--tables", default=None,
                        help="comma-separated table names (default: every table in sinks.tables)")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    logs.configure(settings.log_level, component="sink")
    from hivemind_kafka.sinks import delta_writer
    from hivemind_kafka.sinks.delta_writer import run_sink, select_tables

    crash = os.environ.get("HIVEMIND_TEST_SINK_CRASH")  # fault-injection tests only
    if crash:
        point, _, nth = crash.partition(":")
        delta_writer.CRASH_AT = (point, int(nth or 1))

    tables = [n.strip() for n in args.tables.split(",") if n.strip()] if args.tables else None
    try:
        select_tables(tables)
    except KeyError as exc:  # the message lists the valid names
        print(f"sink: {exc.args[0]}", file=sys.stderr)
        return 2
    try:
        run_sink(settings, tables=tables)
    except HivemindError as exc:
        print(f"sink: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
