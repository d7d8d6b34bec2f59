"""agentd, the per-machine edge process: the forwarder plus the continuous skill sync.

``hivemind agentd`` and ``python -m hivemind_kafka.producers.agentd.daemon [--home H]`` both land in
:func:`run_agentd`. Guarantees: one per Hivemind home (:mod:`hivemind_kafka.producers.agentd.launch` lock; a
second start exits 0 at once); SIGTERM/SIGINT stop it cleanly (the forwarder flushes and
acknowledges what Kafka confirmed, the sync finishes its current pass); a failing sync
never stops forwarding and vice versa.

Skill sync inside agentd: a full pass every ``sync_interval_s``
(``HIVEMIND_EDGE_SYNC_INTERVAL_S``, 30 s) that refreshes the skills cache the SessionStart
hook pulls from (``producers.hook.skill_pull``) and syncs every known project
(``<home>/projects.json`` and project-scope installs, see
``producers.sync.skill_sync.known_projects``), and a quick pass for each session start the
forwarder reads: its ``cwd`` (from the
event's ``extra``) becomes a known project, that project is synced and the session's
exposures are recorded (``producers.sync.skill_sync``) if the session started less than
``EXPOSURE_WINDOW_S`` ago.

Identity: the workspace is ``HIVEMIND_WORKSPACE_ID`` if set, else ``workspace_id`` of
``<home>/config.json`` (what capture stamps on events), else ``default``; the agent id is
the install config's ``agent_id`` or capture's machine-derived default.

``<home>/recent-sessions.json`` keeps the last sessions forwarded (for ``hivemind
skillify``): ``{"sessions": [{"session_id", "project", "started_at", "events"}]}``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import queue
import signal
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from hivemind_kafka.producers.agentd import launch as agentd
from hivemind_kafka.producers.sync.skill_sync import (
    ProjectRegistry,
    known_projects,
    project_root,
    record_scope_exposures,
    sync_once,
)
from hivemind_kafka.runtime.settings import Settings
from hivemind_kafka.runtime.stopping import StopDeadline, worker_grace_s
from hivemind_kafka.schemas.events import EventKind, TurnEvent
from hivemind_kafka.schemas.outcomes import SKILLS_IN_SCOPE, skills_in_scope_of

log = logging.getLogger(__name__)

EXPOSURE_WINDOW_S = 600


def edge_identity(settings: Settings) -> tuple[Settings, str, dict]:
    """(settings with the edge workspace resolved, agent id, install config)."""
    from hivemind_kafka.producers.hook.capture import load_config

    config = load_config(str(settings.edge.home_path()))
    workspace = settings.edge.workspace_id
    if workspace == "default":
        workspace = config["workspace_id"]
    return settings.replace(edge={"workspace_id": workspace}), config["agent_id"], config


def _extra(event: TurnEvent) -> dict:
    """A session_start event's ``extra`` (JSON text) as an object; ``{}`` when absent or
    not a JSON object."""
    if not event.extra:
        return {}
    try:
        extra = json.loads(event.extra)
    except ValueError:
        return {}
    return extra if isinstance(extra, dict) else {}


def session_cwd(event: TurnEvent) -> str | None:
    """The ``cwd`` capture kept in a session_start event's ``extra`` (JSON text)."""
    cwd = _extra(event).get("cwd")
    return cwd if isinstance(cwd, str) and cwd.startswith("/") else None


def recorded_scope(event: TurnEvent) -> list[dict] | None:
    """The ``skills_in_scope`` the capture hook recorded on a session_start (the skill
    versions on disk as the session started, and those held out), or ``None`` when it
    recorded none (no cache or scope file yet)."""
    if not isinstance(_extra(event).get(SKILLS_IN_SCOPE), list):
        return None
    return skills_in_scope_of(event)


class SyncLoop:
    """Periodic full syncs plus a quick one per session start (see module docstring)."""

    def __init__(self, settings: Settings, agent_id: str, *, interval_s: float,
                 user_home: Path | None = None, timeout_s: float = 10.0) -> None:
        self.settings = settings
        self.agent_id = agent_id
        self.interval_s = interval_s
        self.user_home = user_home
        self.timeout_s = timeout_s
        self.registry = ProjectRegistry(settings.edge.home_path())
        self._starts: queue.Queue[tuple[str, Path, datetime, list[dict] | None]] = \
            queue.Queue()
        self.passes = 0

    def observe(self, event: TurnEvent) -> None:
        """Forwarder observer: queue session starts of this workspace (never blocks)."""
        if event.kind != EventKind.SESSION_START:
            return
        if event.workspace_id != self.settings.edge.workspace_id:
            return
        cwd = session_cwd(event)
        if cwd is not None:
            self._starts.put((event.session_id, project_root(cwd), event.ts,
                              recorded_scope(event)))

    def run(self, stop: threading.Event) -> None:
        next_full = time.monotonic()
        while not stop.is_set():
            timeout = max(0.0, next_full - time.monotonic())
            try:
                session_id, project, started, scope = self._starts.get(
                    timeout=min(timeout, 0.5))
            except queue.Empty:
                if time.monotonic() >= next_full:
                    self._guarded(self.full_pass)
                    next_full = time.monotonic() + self.interval_s
                continue
            self._guarded(lambda s=session_id, p=project, t=started, c=scope:
                          self.session_pass(s, p, t, c))

    def full_pass(self) -> None:
        """Read the skills topic, refresh the SessionStart pull's cache, and sync every
        known project (none yet: the cache alone, for the first session's pull)."""
        projects = known_projects(self.settings.edge.home_path(), self.user_home)
        result = sync_once(self.settings, agent_id=self.agent_id, projects=projects,
                           timeout_s=self.timeout_s)
        self.passes += 1
        self._log(result, "full")

    def session_pass(self, session_id: str | None, project: Path, started: datetime | None = None,
                     scope: list[dict] | None = None) -> None:
        """Sync the session's project; record its exposures only if it started within
        ``EXPOSURE_WINDOW_S`` (a session start replayed from a backlog says nothing
        about which skills that session had): the ``scope`` its session_start recorded
        when there is one (what was on disk as it started: the sync and the hook's pull
        may since have changed it), else what this sync finds."""
        if not project.is_dir():
            return
        if started is not None and \
                (datetime.now(UTC) - started).total_seconds() > EXPOSURE_WINDOW_S:
            log.info("session start is %s old; syncing without recording exposures",
                     datetime.now(UTC) - started)
            session_id = None
        if self.registry.add(project):
            log.info("new project recorded path=%s", project)
        from_sync = session_id if scope is None else None
        result = sync_once(self.settings, agent_id=self.agent_id, projects=[project],
                           session_id=from_sync, session_project=project,
                           timeout_s=min(self.timeout_s, 5.0))
        if session_id is not None and scope is not None:
            record_scope_exposures(self.settings.edge.home_path(), scope, session_id=session_id,
                                   agent_id=self.agent_id,
                                   workspace_id=self.settings.edge.workspace_id)
        self.passes += 1
        self._log(result, "session")

    def _guarded(self, action) -> None:
        try:
            action()
        except Exception:  # keep syncing on the next pass; forwarding is unaffected
            log.exception("skill sync pass failed")

    def _log(self, result, kind: str) -> None:
        counts = {k: v for k, v in result.report.counts().items() if v}
        if result.bad_keys or result.undecodable:
            counts.update(bad_keys=result.bad_keys, undecodable=result.undecodable)
        if result.error:
            log.warning("sync pass=%s broker unavailable: %s", kind, result.error)
        elif counts.keys() - {"unchanged"}:
            log.info("sync pass=%s %s", kind, " ".join(f"{k}={v}" for k, v in counts.items()))


class RecentSessions:
    """The last ``keep`` sessions forwarded, saved at most every ``every_s`` seconds."""

    def __init__(self, home: Path, *, keep: int = 20, every_s: float = 2.0) -> None:
        self.path = home / "recent-sessions.json"
        self.keep = keep
        self.every_s = every_s
        self._sessions: dict[str, dict] = {}
        self._dirty = False
        self._saved_at = 0.0

    def observe(self, event: TurnEvent) -> None:
        entry = self._sessions.pop(event.session_id, None) or {
            "session_id": event.session_id, "project": event.project,
            "started_at": event.ts.isoformat(), "events": 0}
        if event.kind == EventKind.SESSION_START:
            entry["started_at"] = event.ts.isoformat()
        entry["events"] += 1
        self._sessions[event.session_id] = entry  # most recent last
        while len(self._sessions) > self.keep:
            self._sessions.pop(next(iter(self._sessions)))
        self._dirty = True
        boundary = event.kind in (EventKind.SESSION_START, EventKind.STOP,
                                  EventKind.SESSION_END)
        if boundary or time.monotonic() - self._saved_at >= self.every_s:
            self.save()

    def save(self) -> None:
        if not self._dirty:
            return
        from hivemind_kafka.producers import private

        try:
            private.write_atomic(self.path, json.dumps(
                {"sessions": list(self._sessions.values())}).encode())
        except OSError:
            log.warning("cannot write %s", self.path)
        self._dirty = False
        self._saved_at = time.monotonic()


def run_agentd(settings: Settings, *, sync_interval_s: float | None = None,
               user_home: Path | None = None, stop: threading.Event | None = None) -> int:
    """Run agentd in this process until SIGTERM/SIGINT (or ``stop``). Returns 0, also
    when another agentd already holds the lock. ``sync_interval_s`` defaults to
    ``settings.edge.sync_interval_s``."""
    from hivemind_kafka.producers.agentd.forwarder import Forwarder
    from hivemind_kafka.runtime import metrics

    home = settings.edge.home_path()
    fd = agentd.acquire(home)
    if fd is None:
        log.info("agentd already running pid=%s home=%s", agentd.running_pid(home), home)
        return 0
    stop = stop or threading.Event()
    try:
        settings, agent_id, _config = edge_identity(settings)
        if threading.current_thread() is threading.main_thread():
            # The clean stop (flush, cursor save) is bounded: runtime.stopping. What was
            # not acknowledged stays in the spool.
            deadline = StopDeadline(worker_grace_s(settings.stop_grace_s), "agentd")

            def on_signal(*_: object) -> None:
                deadline.arm()
                stop.set()

            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, on_signal)
        if settings.metrics.port > 0:
            metrics.serve(settings.metrics.host,
                          settings.metrics.port + metrics.PORT_OFFSETS["agentd"])
        sync = SyncLoop(settings, agent_id, user_home=user_home,
                        interval_s=sync_interval_s or settings.edge.sync_interval_s)
        recent = RecentSessions(home)

        def observe(event: TurnEvent) -> None:
            sync.observe(event)
            recent.observe(event)

        sync_thread = threading.Thread(target=sync.run, args=(stop,), name="skill-sync",
                                       daemon=True)
        sync_thread.start()
        log.info("agentd started pid=%d home=%s workspace=%s", os.getpid(),
                 home, settings.edge.workspace_id)
        metrics.set_ready(True)
        Forwarder(settings, observer=observe).run(stop)
        recent.save()
        sync_thread.join(timeout=15)
        log.info("agentd stopped")
        return 0
    finally:
        agentd.release(fd)


def main(argv: list[str] | None = None) -> int:
    """``python -m hivemind_kafka.producers.agentd.daemon [--home H] [--sync-interval S]``."""
    from hivemind_kafka.runtime import logs

    parser = argparse.ArgumentParser(prog="python -m hivemind_kafka.producers.agentd.daemon",
                                     description="agentd: spool -> Kafka, skills -> disk")
    parser.add_argument("--home", help="Hivemind home (default: HIVEMIND_HOME)")
    parser.add_argument("--sync-interval", type=float, default=None,
                        help="seconds between full skill syncs "
                             "(default: HIVEMIND_EDGE_SYNC_INTERVAL_S, 30)")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    if args.home:
        settings = settings.replace(edge={"home": args.home})
    logs.configure(settings.log_level, component="agentd")
    home = settings.edge.home_path()
    home.mkdir(parents=True, exist_ok=True)
    os.chdir(home)  # do not keep the spawning hook's project directory busy
    return run_agentd(settings, sync_interval_s=args.sync_interval, user_home=Path.home())


if __name__ == "__main__":  # ``python -m hivemind_kafka.producers.agentd.daemon``: the agentd process
    import sys

    sys.exit(main())
