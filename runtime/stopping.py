"""A bounded stop for every long-running process: asked to stop, it is gone within its grace.

Guarantee: once :meth:`StopDeadline.arm` has been called (by the process's SIGTERM/SIGINT
handler), the process exits within ``grace_s`` seconds whatever its clean shutdown is
waiting for. A clean stop that finishes first is untouched; one that does not (a producer
flush or an offset commit waiting on an unreachable broker: the sessionizer was seen
ignoring SIGTERM for minutes) is cut short with exit code :data:`FORCED_EXIT_CODE`, after
a log line and a counter. Cutting it short is as safe as SIGKILL, which every worker
survives: whatever it had not acked or committed is delivered again on restart.

The deadline runs on its own daemon thread, so it fires even if the event loop is busy
or blocked.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from collections.abc import Callable

from prometheus_client import Counter

log = logging.getLogger(__name__)

FORCED_EXIT_CODE = 3  # distinct from 0 (clean) and 2 (configuration / broker errors)

FORCED_STOPS = Counter(
    "hivemind_process_forced_stops_total",
    "Processes that did not finish their clean stop within HIVEMIND_STOP_GRACE_S and exited anyway",
    ["component"])


def worker_grace_s(grace_s: float) -> float:
    """A worker's own deadline inside a supervisor's ``grace_s``: it exits by itself (with
    its log line) a little before the supervisor would SIGKILL it."""
    return max(grace_s * 0.5, grace_s - max(0.5, grace_s * 0.1))


class StopDeadline:
    """Arm once (idempotent); exits the process ``grace_s`` later unless it already ended."""

    def __init__(self, grace_s: float, component: str, *,
                 exit: Callable[[int], None] = os._exit) -> None:
        self.grace_s, self.component, self._exit = grace_s, component, exit
        self._armed = threading.Event()
        self.fired = threading.Event()

    @property
    def is_armed(self) -> bool:
        return self._armed.is_set()

    def arm(self) -> None:
        if self._armed.is_set():
            return
        self._armed.set()
        log.info("%s stopping: exits within %.1fs (HIVEMIND_STOP_GRACE_S)", self.component,
                 self.grace_s)
        threading.Thread(target=self._wait, name="stop-deadline", daemon=True).start()

    def _wait(self) -> None:
        # Never set: the thread only sleeps; a clean exit ends the process (daemon thread).
        threading.Event().wait(self.grace_s)
        self.fired.set()
        FORCED_STOPS.labels(component=self.component).inc()
        log.error("%s did not stop cleanly within %.1fs (HIVEMIND_STOP_GRACE_S): exiting "
                  "now; records it had not acknowledged are delivered again on restart",
                  self.component, self.grace_s)
        for flushable in (sys.stdout, sys.stderr, *logging.getLogger().handlers):
            with contextlib.suppress(Exception):  # best effort on the way out
                flushable.flush()
        self._exit(FORCED_EXIT_CODE)
