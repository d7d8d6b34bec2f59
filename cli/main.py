"""``hivemind``: a thin command line that dispatches into producers/, streams/, sinks/.

Each command lives in a small module of this package that registers its sub-parser and
imports its heavy dependencies only when it runs. ``hivemind capture`` (the Claude Code
hook) bypasses argparse entirely: it runs on every tool call and must start fast.
"""

from __future__ import annotations

import sys

# (module, one-line help): each module defines register(subparsers) and run(args, settings).
COMMAND_MODULES = [
    "hivemind_kafka.cli.broker_cmd",   # broker start|stop|status
    "hivemind_kafka.cli.up",           # up
    "hivemind_kafka.cli.demo",         # demo
    "hivemind_kafka.cli.topics_cmd",   # topics, settings, schemas
    "hivemind_kafka.cli.edge",         # install, uninstall (capture is dispatched before argparse)
    "hivemind_kafka.cli.agent_cmd",    # agentd, sync, skillify
    "hivemind_kafka.cli.skills_cmd",   # skills list|show|retire, codify
    "hivemind_kafka.cli.measure",      # report, signal
    "hivemind_kafka.cli.lake_cmd",     # sql, lake stats|optimize|vacuum
]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["capture"]:
        # Hot path: no argparse, no settings object, no third-party imports.
        from hivemind_kafka.producers.hook.capture import main as capture_main

        return capture_main(argv[1:])
    return _dispatch(argv)


def _dispatch(argv: list[str]) -> int:
    import argparse
    import importlib

    from hivemind_kafka.runtime.errors import HivemindError

    parser = argparse.ArgumentParser(
        prog="hivemind",
        description=(
            "Kafka-native capture -> codify -> propagate loop for fleets of AI agents.\n"
            "Settings come from HIVEMIND_* environment variables: `hivemind settings` lists them."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:  # a missing module is a packaging bug: let it raise
        importlib.import_module(name).register(sub)
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    from hivemind_kafka.runtime import logs
    from hivemind_kafka.runtime.settings import Settings

    try:
        settings = Settings.from_env()
        logs.configure(settings.log_level, component=args.command)
        return int(args.run(args, settings) or 0)
    except HivemindError as exc:
        print(f"hivemind {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def entry() -> None:
    """Console-script entry: run, flush, and leave without interpreter teardown.

    pyarrow's and delta-rs's native thread pools can abort the process while the
    interpreter tears them down in the wrong order ("terminate called without an active
    exception", exit 134, seen here ~30% of runs after reading a Delta table). Every
    command has finished its work, flushed and committed by the time main() returns, so
    exiting with os._exit after flushing our own streams loses nothing.
    """
    import os  # already loaded by the interpreter's start-up: free

    code = main()
    if "logging" in sys.modules:  # the capture hook never imports logging: keep it that way
        sys.modules["logging"].shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    entry()
