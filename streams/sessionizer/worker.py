"""Run one sessionizer worker process (blocking) until SIGTERM/SIGINT.

Guarantee: on SIGTERM/SIGINT the worker stops its agent, flushes the producer and commits
offsets before returning; on SIGKILL nothing is lost (see :mod:`hivemind_kafka.streams.sessionizer.app`).
Whatever the clean stop waits for (a flush or commit against an unreachable broker never
ends), the process exits within ``HIVEMIND_STOP_GRACE_S`` of the signal
(:mod:`hivemind_kafka.runtime.stopping`): as safe as SIGKILL.
Errors reaching Kafka raise :class:`runtime.errors.BrokerUnavailable` before the worker
starts.
"""

from __future__ import annotations

import asyncio
import logging

from hivemind_kafka.runtime.kafka import ensure_topics
from hivemind_kafka.runtime.memory import tune_gc
from hivemind_kafka.runtime.metrics import PORT_OFFSETS, serve, set_ready
from hivemind_kafka.runtime.settings import Settings
from hivemind_kafka.runtime.stopping import StopDeadline, worker_grace_s

log = logging.getLogger(__name__)


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop when installed (it is on Linux/macOS), else the default loop. The policy is
    set too: Faust's aiokafka consumer runs in a thread of its own (mode's ServiceThread)
    whose loop comes from ``asyncio.new_event_loop()``, and that thread parses every
    fetch response."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - platform without uvloop
        return asyncio.new_event_loop()
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return asyncio.new_event_loop()


def run_worker(settings: Settings, *, worker_id: str = "1", app_id: str | None = None) -> None:
    """Serve the sessionizer until stopped by a signal. ``app_id`` (the consumer group and
    changelog prefix) defaults to :func:`streams.sessionizer.app.default_app_id`."""
    import faust

    from hivemind_kafka.streams.sessionizer.app import build_app

    if settings.kafka.create_topics:
        ensure_topics(settings)
    if settings.metrics.port > 0:
        serve(settings.metrics.host, settings.metrics.port + PORT_OFFSETS["sessionizer"])
    set_ready(False)
    loop = new_event_loop()
    asyncio.set_event_loop(loop)
    app = build_app(settings, app_id=app_id, worker_id=worker_id)
    log.info("sessionizer worker=%s app=%s input=%s,%s", worker_id, app.conf.id,
             settings.topics.turns, settings.topics.ticks)
    deadline = StopDeadline(worker_grace_s(settings.stop_grace_s), "sessionizer")

    class Worker(faust.Worker):
        # mode's handlers schedule the clean stop; the deadline bounds it.
        def _on_sigterm(self) -> None:
            deadline.arm()
            super()._on_sigterm()

        def _on_sigint(self) -> None:
            deadline.arm()
            super()._on_sigint()

    worker = Worker(app, loop=loop, loglevel=settings.log_level, quiet=True,
                    override_logging=False, redirect_stdouts=False)
    tune_gc()
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise
    finally:
        set_ready(False)
