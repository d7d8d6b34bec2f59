"""``hivemind up`` (the whole pipeline on one machine) and ``hivemind worker`` (one process).

``up`` starts the embedded broker unless HIVEMIND_BOOTSTRAP is set, creates the topics
(unless --no-create-topics), then runs the sessionizer, sink and codifier as worker
processes until Ctrl-C, when every worker flushes and commits before exiting.
``worker`` runs one component in the foreground: what each container in deploy/ runs.
"""

from __future__ import annotations

import argparse
import json
import signal
import time


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "up", help="run broker (if needed), sessionizer, sink and codifier until Ctrl-C",
        description=(
            "Runs the pipeline on this machine. Without HIVEMIND_BOOTSTRAP it starts the "
            "embedded tansu broker (and stops it again on exit unless --keep-broker). "
            "Worker logs go to $HIVEMIND_HOME/logs/<component>-<n>.log."
        ),
    )
    p.add_argument("--workers", type=int, default=1, metavar="N",
                   help="worker processes per component, in one consumer group (default 1)")
    p.add_argument("--components", default=None,
                   help="comma-separated subset of sessionizer,sink,codifier (default: all)")
    p.add_argument("--no-create-topics", action="store_true",
                   help="leave topic creation to the platform (HIVEMIND_KAFKA_CREATE_TOPICS=false)")
    p.add_argument("--keep-broker", action="store_true",
                   help="leave the embedded broker running on exit")
    p.set_defaults(run=run_up)

    w = sub.add_parser(
        "worker", help="run one pipeline component in the foreground (for containers)",
        description="Runs one component until SIGTERM/SIGINT, then flushes and commits.",
    )
    w.add_argument("component", choices=["sessionizer", "sink", "codifier", "agentd"])
    w.add_argument("--id", default="1", help="worker id within its group (default 1)")
    w.set_defaults(run=run_worker)


def run_worker(args: argparse.Namespace, settings) -> int:
    if args.component == "sessionizer":
        from hivemind_kafka.streams.sessionizer.worker import run_worker as run

        run(settings, worker_id=str(args.id))
    elif args.component == "sink":
        from hivemind_kafka.sinks.delta_writer import run_sink

        run_sink(settings)
    elif args.component == "codifier":
        from hivemind_kafka.streams.codifier.app import codify_summary, run_codifier

        try:
            run_codifier(settings)
        finally:
            # What this worker decided, for `hivemind demo` and humans (atomic write).
            from hivemind_kafka.producers import private

            out = settings.edge.home_path() / "codifier" / f"summary-{args.id}.json"
            private.write_atomic(out, json.dumps(codify_summary(), indent=2,
                                                 sort_keys=True).encode(), fsync=False)
    else:
        from hivemind_kafka.producers.agentd.daemon import run_agentd

        run_agentd(settings)
    return 0


def start_pipeline(settings, *, components: list[str] | None = None, workers: int = 1,
                   create_topics: bool = True):
    """Start broker (if needed), topics and workers. Returns (supervisor, settings, broker_started)."""
    from hivemind_kafka.runtime.broker import BrokerState
    from hivemind_kafka.runtime.kafka import ensure_topics, with_bootstrap
    from hivemind_kafka.runtime.settings import to_env
    from hivemind_kafka.runtime.supervisor import Supervisor, available_components, child_env

    home = settings.edge.home_path()
    started = False
    if not settings.kafka.bootstrap:
        broker, started = BrokerState(home).ensure_started()
        settings = with_bootstrap(settings, broker.bootstrap)
    if create_topics and settings.kafka.create_topics:
        ensure_topics(settings)
    wanted = components or available_components()
    sup = Supervisor(env=child_env(to_env(settings)), log_dir=home / "logs",
                     components=wanted, workers=workers, metrics_port=settings.metrics.port,
                     grace_s=settings.stop_grace_s)
    sup.start()
    return sup, settings, started


def run_up(args: argparse.Namespace, settings) -> int:
    from hivemind_kafka.runtime.broker import BrokerState

    components = args.components.split(",") if args.components else None
    sup, settings, started = start_pipeline(
        settings, components=components, workers=args.workers,
        create_topics=not args.no_create_topics)
    print(f"kafka     {settings.kafka.bootstrap}{' (embedded, started now)' if started else ''}")
    print(f"lake      {settings.lake.uri}")
    print(f"workers   {', '.join(f'{c} x{args.workers}' for c in sup.components)}")
    print(f"logs      {settings.edge.home_path() / 'logs'}")
    print("running; Ctrl-C stops every worker after it flushes and commits")

    stop = {"now": False}

    def on_signal(signum, frame):
        stop["now"] = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        while not stop["now"]:
            for line in sup.poll():
                print(line)
            time.sleep(0.5)
    finally:
        print("stopping workers (flush + commit)...")
        sup.stop()
        if started and not args.keep_broker:
            BrokerState(settings.edge.home_path()).stop()
            print("embedded broker stopped")
    return 0
