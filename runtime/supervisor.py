"""Runs the pipeline's worker processes on one machine (``hivemind up``, ``hivemind demo``).

Each worker is a child process ``hivemind worker <component> --id N``: the same command a
container runs in ``deploy/``. Children that exit unexpectedly are restarted with
back-off (and logged); :meth:`Supervisor.stop` sends SIGTERM so every worker flushes and
commits, then SIGKILLs stragglers after ``grace_s`` (``HIVEMIND_STOP_GRACE_S``): the
supervisor is gone within its grace, broker reachable or not. Each worker also bounds its
own stop a little earlier (:func:`runtime.stopping.worker_grace_s`), so it usually exits
by itself, with a log line, before the SIGKILL.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from hivemind_kafka.runtime.settings import env_names

log = logging.getLogger(__name__)

# component -> module that must exist for it to run
COMPONENTS: dict[str, str] = {
    "sessionizer": "hivemind_kafka.streams.sessionizer.worker",
    "sink": "hivemind_kafka.sinks.delta_writer",
    "codifier": "hivemind_kafka.streams.codifier.app",
}


def available_components() -> list[str]:
    return [c for c, mod in COMPONENTS.items() if importlib.util.find_spec(mod) is not None]


@dataclass
class _Child:
    component: str
    index: int
    proc: subprocess.Popen
    started: float
    restarts: int = 0
    log_path: Path | None = None


@dataclass
class Supervisor:
    env: dict[str, str]
    log_dir: Path
    components: list[str]
    workers: int = 1
    metrics_port: int = 0
    grace_s: float = 30.0  # settings.stop_grace_s
    children: list[_Child] = field(default_factory=list)
    _stopping: bool = False

    def start(self) -> None:
        # Worker logs hold coordinates, not payloads, but an error can quote an input:
        # private to the user, like the lake and the spool.
        self.log_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.log_dir.chmod(0o700)
        for component in self.components:
            for i in range(1, self.workers + 1):
                self.children.append(self._spawn(component, i))

    def _spawn(self, component: str, index: int, restarts: int = 0) -> _Child:
        env = dict(self.env)
        if self.metrics_port:
            # Each worker index gets its own block of 10 ports; components add their offset.
            env["HIVEMIND_METRICS_PORT"] = str(self.metrics_port + 10 * (index - 1))
        log_path = self.log_dir / f"{component}-{index}.log"
        out = os.fdopen(os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab")
        os.chmod(log_path, 0o600)  # a log file created before this rule
        proc = subprocess.Popen(
            [sys.executable, "-m", "hivemind_kafka.cli.main", "worker", component, "--id", str(index)],
            env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C reaches us; we stop children in order
        )
        out.close()
        log.info("started %s worker %d (pid %d, log %s)", component, index, proc.pid, log_path)
        return _Child(component, index, proc, time.monotonic(), restarts, log_path)

    def poll(self) -> list[str]:
        """Restart children that died; returns a line per restart."""
        events: list[str] = []
        if self._stopping:
            return events
        for n, child in enumerate(self.children):
            code = child.proc.poll()
            if code is None:
                continue
            backoff = min(30.0, 2.0 ** min(child.restarts, 5))
            if time.monotonic() - child.started < backoff:
                continue
            events.append(f"{child.component} worker {child.index} exited with {code}; restarting "
                          f"(see {child.log_path})")
            log.warning(events[-1])
            self.children[n] = self._spawn(child.component, child.index, child.restarts + 1)
        return events

    def kill(self, component: str, index: int) -> int:
        """SIGKILL one worker (tests and chaos drills). Returns its pid."""
        for child in self.children:
            if child.component == component and child.index == index:
                child.proc.kill()
                return child.proc.pid
        raise KeyError(f"no {component} worker {index}")

    def stop(self, grace_s: float | None = None) -> None:
        """SIGTERM every worker (they flush and commit), SIGKILL after ``grace_s``
        (default ``self.grace_s``)."""
        grace_s = self.grace_s if grace_s is None else grace_s
        self._stopping = True
        for child in self.children:
            if child.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    child.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for child in self.children:
            remaining = max(0.1, deadline - time.monotonic())
            try:
                child.proc.wait(remaining)
            except subprocess.TimeoutExpired:
                log.warning("%s worker %d did not stop in %.0fs; killing", child.component,
                            child.index, grace_s)
                child.proc.kill()
                child.proc.wait()


def child_env(settings_env: Mapping[str, str], *, base: Mapping[str, str] | None = None,
              **extra: str) -> dict[str, str]:
    """``base`` (default: this process's environment) without any variable the settings
    object reads (HIVEMIND_*, ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL), plus ``settings_env``
    (``runtime.settings.to_env(settings)``) and ``extra``: a child sees exactly the
    settings it is given, never a stale variable of its parent's (a developer's real API
    key must not reach a test's codifier)."""
    owned = env_names()
    env = {k: v for k, v in (os.environ if base is None else base).items()
           if not k.startswith("HIVEMIND_") and k not in owned}
    env.update(settings_env)
    env.update(extra)
    return env
