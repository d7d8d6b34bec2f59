"""``hivemind capture``: the Claude Code hook. stdin payload -> redacted TurnEvent -> spool.

Guarantees (Claude Code runs this on every prompt and tool call):
- **Never disturbs the agent.** Always exits 0, writes nothing to stdout or stderr (for
  SessionStart and UserPromptSubmit Claude Code would add stdout to the model's context),
  never touches the network and never raises: a payload that is not JSON, names an
  unknown event or lacks a session is skipped with one line in ``<home>/logs/capture.log``
  (coordinates only: event name, session, sizes; never payload text).
- **Nothing unredacted is stored.** Every text field passes :mod:`hivemind_kafka.producers.secrets.redact`
  before the record is appended to the spool; fields are cut to ``max_field_bytes``.
- **Durable and ordered.** One record per hook call is appended to ``<home>/spool`` with
  a per-session ``seq`` assigned atomically with the append (see :mod:`hivemind_kafka.producers.hook.spool`);
  agentd forwards it to Kafka later, so capture works offline.
- **Never waits for another process.** The spool lock is tried for at most 5 ms; if
  another process holds it, the record is written to a side file instead (returned with
  ``seq`` None, assigned when agentd or the next hook adopts it, in order). Everything
  it creates under the home is private (0700 directories, 0600 files).
- **Fast.** Imports only C-level stdlib and our stdlib-only modules: no ``json``, ``re``,
  ``logging``, ``subprocess``, ``argparse`` (each costs milliseconds here). The redaction
  patterns are loaded pre-compiled from ``<home>/cache/`` (rebuilt with ``re`` on a miss,
  e.g. after a Python upgrade). ``python -m bench.capture`` measures it against
  ``python -c pass``.

Configuration: ``<home>/config.json`` written by ``hivemind install`` (workspace_id,
agent_id, agent_kind, max_field_bytes, agentd_autostart); ``HIVEMIND_HOME`` and
``HIVEMIND_WORKSPACE_ID`` override it. This module reads them from the environment
directly: the typed settings object costs too much to build on this path.

Turns: the spool assigns each event's ``turn`` atomically with its ``seq``
(:func:`producers.hook.events.turn_step`: a prompt begins the next turn, a ``/clear``
start resets it).

Edits for git: a PostToolUse of an edit tool (Edit, Write, MultiEdit, NotebookEdit)
records ``{"session_id", "workspace_id", "project_root", "ts"}`` in
``<home>/git/last-edit/<project root>.json`` (the git work tree of the edited file), so
the git hooks ``hivemind install --git-hooks`` adds can signal ``committed`` /
``reverted`` for the Claude Code session that made the edits. One small atomic write per
edit; a failure is logged and never affects the event.

SessionStart pulls skills (:mod:`hivemind_kafka.producers.hook.skill_pull`): the workspace's skill set that
agentd's last sync cached in ``<home>/skills-cache.json`` is materialized into the
session's project (``<project>/.claude/skills``, same rules and writer as the sync)
before the hook returns. Claude Code (2.1.x) has read that directory *before* it runs
SessionStart hooks, so what the hook writes reaches the project's next sessions (and
this one only if Claude Code's skill watcher picks the change up); the event's
``skills_in_scope`` therefore records the skill versions on disk when the hook starts
(``present``) and those held out, i.e. exactly what the session has. No usable cache (none
yet, another workspace's): the session's entry of ``<home>/skills-in-scope.json`` (what
the last sync left on disk) is used instead; a missing or unreadable file adds nothing.

SessionStart also starts agentd (see :func:`ensure_agentd`) unless ``<home>/agentd.lock``
is held, i.e. agentd already runs; ``"agentd_autostart": false`` in config.json disables it.
"""

from __future__ import annotations

import os
import sys
import time

from hivemind_kafka.producers import private
from hivemind_kafka.producers.hook import jsonlite
from hivemind_kafka.producers.hook.events import (
    UnsupportedPayload,
    edited_path,
    last_edit_file,
    machine_agent_id,
    project_name,
    project_root_of,
    skills_in_scope_for,
    to_turn_event,
    turn_step,
)
from hivemind_kafka.producers.hook.spool import Spool, spool_dir

MAX_PAYLOAD_BYTES = 32 * 1024 * 1024
DEFAULT_MAX_FIELD_BYTES = 16 * 1024
LOG_MAX_BYTES = 1024 * 1024
CONFIG_NAME = "config.json"
SCOPE_NAME = "skills-in-scope.json"  # producers.sync.skill_sync.SCOPE_FILE
COUNTER_IDLE_S = 7 * 24 * 3600  # a session resumed after a week idle restarts its seq


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``hivemind capture``; returns 0 whatever happens."""
    home = ""
    try:
        home = hivemind_home(os.environ)
        if os.isatty(0):
            _log(home, "stdin is a terminal: capture expects a Claude Code hook payload")
            return 0
        capture(_read_stdin(), home=home, environ=os.environ)
    except BaseException as exc:  # a hook must never fail the agent
        try:  # noqa: SIM105 - contextlib costs 3 ms on this path
            _log(home or hivemind_home({}), f"capture failed error={type(exc).__name__}")
        except BaseException:  # noqa: S110 - nowhere left to report
            pass
    return 0


def hivemind_home(environ) -> str:
    return os.path.expanduser(environ.get("HIVEMIND_HOME") or "~/.hivemind")


def capture(raw: bytes | None, *, home: str, environ, now: float | None = None) -> dict | None:
    """Map, redact and spool one payload; return the spooled record (with ``seq``) or
    ``None`` when the payload was skipped (and logged)."""
    if raw is None:
        _log(home, f"payload skipped reason=larger-than-{MAX_PAYLOAD_BYTES}-bytes")
        return None
    try:
        payload = jsonlite.loads(raw)
    except ValueError:
        _log(home, f"payload skipped reason=not-json bytes={len(raw)}")
        return None
    except RecursionError:  # nested deeper than the interpreter's stack: not a payload
        _log(home, f"payload skipped reason=nested-too-deep bytes={len(raw)}")
        return None
    config = load_config(home)
    now = time.time() if now is None else now
    cwd = payload.get("cwd") if isinstance(payload, dict) else None
    cwd = cwd if isinstance(cwd, str) and cwd else os.getcwd()
    workspace_id = environ.get("HIVEMIND_WORKSPACE_ID") or config["workspace_id"]
    if isinstance(payload, dict) and payload.get("hook_event_name") == "SessionStart":
        scope_file = _read_scope_file(home)
        pulled = pull_skills(home, cwd, workspace_id=workspace_id,
                             agent_id=config["agent_id"], now=now)
        if pulled is not None:  # what is on disk now, as the session starts
            scope_file = {**(scope_file if isinstance(scope_file, dict) else {}),
                          project_root_of(cwd): pulled}
        scope = skills_in_scope_for(scope_file, cwd, max_bytes=config["max_field_bytes"] // 2)
        if scope is not None:
            payload["skills_in_scope"] = scope
    try:
        record, redactions = to_turn_event(
            payload,
            redactor=load_redactor(home),
            workspace_id=workspace_id,
            agent_id=config["agent_id"],
            agent_kind=config["agent_kind"],
            project=project_name(cwd),
            event_id=os.urandom(16).hex(),
            ts=rfc3339(now),
            max_field_bytes=config["max_field_bytes"],
        )
    except UnsupportedPayload as exc:
        _log(home, f"payload skipped reason=unsupported detail={_coord(str(exc))}")
        return None
    spool = Spool(spool_dir(home))
    assigned = spool.append_event(record, seq_key=record["session_id"],
                                  turn_step=turn_step(payload))
    record["seq"], record["turn"] = assigned if assigned is not None else (None, None)
    path = edited_path(payload)
    if path is not None:
        try:
            record_last_edit(home, project_root_of(os.path.dirname(path)), record)
        except OSError as exc:
            _log(home, f"last edit not recorded error={type(exc).__name__}")
    if record["kind"] == "session_start":
        try:  # housekeeping: the event is spooled already, agentd can start later
            _prune_counters_daily(spool, now)
            if config.get("agentd_autostart", True) is not False:
                ensure_agentd(home)
        except Exception as exc:
            _log(home, f"session start housekeeping failed error={type(exc).__name__}")
    if record["seq"] is None:
        _log(home, f"spool lock busy: record deferred to a side file "
                   f"session={_coord(record['session_id'])} kind={record['kind']}", "INFO")
    if redactions or record.get("truncated"):
        _log(home, f"spooled session={_coord(record['session_id'])} kind={record['kind']} "
                   f"seq={record['seq']} redactions={redactions} "
                   f"truncated={str(record.get('truncated', False)).lower()}", "INFO")
    return record


def record_last_edit(home: str, project_root: str, record: dict) -> str:
    """Write which session last edited ``project_root`` (atomically); returns the path."""
    path = last_edit_file(home, project_root)
    data = jsonlite.dumps({"session_id": record["session_id"],
                           "workspace_id": record["workspace_id"],
                           "agent_id": record["agent_id"], "project_root": project_root,
                           "ts": record["ts"]}).encode()
    private.write_atomic(path, data, fsync=False)
    return path


def read_config(home: str | os.PathLike[str]) -> dict:
    """``<home>/config.json`` as written by ``hivemind install``; ``{}`` when it is
    missing, unreadable or not a JSON object. The one reader (agentd uses it too)."""
    return jsonlite.read_object(os.path.join(home, CONFIG_NAME)) or {}


def load_config(home: str) -> dict:
    """``<home>/config.json`` over defaults; a missing or broken file means defaults."""
    config = read_config(home)
    if not isinstance(config.get("workspace_id"), str) or not config["workspace_id"]:
        config["workspace_id"] = "default"
    if not isinstance(config.get("agent_id"), str) or not config["agent_id"]:
        config["agent_id"] = machine_agent_id(os.uname().nodename, _user())
    if not isinstance(config.get("agent_kind"), str) or not config["agent_kind"]:
        config["agent_kind"] = "coding"
    limit = config.get("max_field_bytes")
    if not isinstance(limit, int) or isinstance(limit, bool) or limit <= 0:
        config["max_field_bytes"] = DEFAULT_MAX_FIELD_BYTES
    return config


def pull_skills(home: str, cwd: str, *, workspace_id: str, agent_id: str,
                now: float) -> list | None:
    """The SessionStart pull (:mod:`hivemind_kafka.producers.hook.skill_pull`): returns the session's scope
    (the skill versions on disk as it starts, and those held out), then brings the
    project up to the cached skill set; ``None`` when there is no usable cache (the
    reason is logged; the scope file then says what the last sync left). Never raises."""
    try:
        from hivemind_kafka.producers.hook.skill_pull import pull

        pulled = pull(home, project_root_of(cwd), workspace_id=workspace_id,
                      agent_id=agent_id, now=now)
    except Exception as exc:  # the hook must not fail: the sync will catch up
        _log(home, f"skill pull failed error={type(exc).__name__}")
        return None
    if pulled.reason and pulled.reason not in ("no-cache", "no-project"):
        _log(home, f"skill pull skipped reason={pulled.reason}", "INFO")
    changed = [f"{label}={','.join(names)}" for label, names in (
        ("created", pulled.created), ("updated", pulled.updated),
        ("removed", pulled.removed), ("conflicts", pulled.conflicts),
        ("refused", pulled.refused), ("deferred", pulled.deferred)) if names]
    if changed:
        _log(home, _coord(f"skills pulled {' '.join(changed)}"), "INFO")
    return pulled.scope


def _read_scope_file(home: str) -> object:
    """The sync's scope file parsed, or ``None`` when missing or unreadable."""
    try:
        with open(os.path.join(home, SCOPE_NAME), "rb") as f:
            return jsonlite.loads(f.read())
    except (OSError, ValueError):
        return None


def load_redactor(home: str):
    """The redactor from the pre-compiled cache, rebuilding the cache on a miss."""
    from hivemind_kafka.producers.secrets.redact import Redactor

    path = os.path.join(home, "cache", f"redact-{sys.hexversion:x}.bin")
    try:
        with open(path, "rb") as f:
            redactor = Redactor.from_compiled(f.read())
        if redactor is not None:
            return redactor
    except OSError:
        pass
    redactor = Redactor.compile()
    write_redactor_cache(home)
    return redactor


def write_redactor_cache(home: str) -> str | None:
    """(Re)write the pre-compiled pattern cache atomically; ``None`` if it cannot."""
    from hivemind_kafka.producers.secrets.redact import Redactor

    cache = os.path.join(home, "cache")
    path = os.path.join(cache, f"redact-{sys.hexversion:x}.bin")
    try:
        private.write_atomic(path, Redactor.compiled_blob(), fsync=False)
        return path
    except Exception as exc:  # the cache is an optimisation: run without it
        _log(home, f"redaction cache not written error={type(exc).__name__}")
        return None


def ensure_agentd(home: str) -> bool:
    """Start agentd detached unless it holds ``<home>/agentd.lock``; True if started.

    Delegates to :func:`producers.agentd.launch.ensure_running` (a non-blocking lock probe, then
    ``posix_spawn`` of ``python -m hivemind_kafka.producers.agentd.daemon --home <home>`` with ``setsid``,
    i.e. ``Popen(start_new_session=True)`` without importing subprocess). Racing
    SessionStarts may both spawn; the loser finds the lock taken and exits.
    """
    from hivemind_kafka.producers.agentd import launch as agentd

    started = agentd.ensure_running(home)
    if started:
        _log(home, "agentd was not running: started it", "INFO")
    return started


def _prune_counters_daily(spool: Spool, now: float) -> None:
    """Drop sequence counters of sessions idle for a week, at most once a day (one stat
    per SessionStart otherwise)."""
    marker = os.path.join(spool.root, "seq", ".pruned")
    try:
        if now - os.stat(marker).st_mtime < 24 * 3600:
            return
    except FileNotFoundError:
        pass
    spool.prune_counters(max_idle_s=COUNTER_IDLE_S, now=now)
    os.close(private.open_file(marker, os.O_WRONLY))
    os.utime(marker, (now, now))


def rfc3339(epoch: float) -> str:
    """``2026-11-26T06:40:28.123Z`` (UTC, milliseconds)."""
    seconds = int(epoch)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + \
        f".{int((epoch - seconds) * 1000):03d}Z"


def _read_stdin() -> bytes | None:
    """All of stdin; ``None`` if it exceeds MAX_PAYLOAD_BYTES (the rest is drained so
    Claude Code's write never blocks on us)."""
    chunks = []
    size = 0
    while True:
        chunk = os.read(0, 1 << 20)
        if not chunk:
            break
        size += len(chunk)
        if size <= MAX_PAYLOAD_BYTES:
            chunks.append(chunk)
    return b"".join(chunks) if size <= MAX_PAYLOAD_BYTES else None


def _user() -> str:
    return os.environ.get("USER") or os.environ.get("LOGNAME") or str(os.getuid())


def _coord(value: str) -> str:
    """A log-safe coordinate: one line, bounded."""
    return value.replace("\n", " ")[:160]


def _log(home: str, message: str, level: str = "WARNING") -> None:
    """Append one line to ``<home>/logs/capture.log`` (rotated at 1 MiB, one backup)."""
    path = os.path.join(home, "logs", "capture.log")
    line = f"{rfc3339(time.time())} {level} producers.hook.capture: {message}\n".encode(
        "utf-8", "replace")
    fd = private.open_file(path, os.O_WRONLY | os.O_APPEND)
    try:
        if os.fstat(fd).st_size > LOG_MAX_BYTES:
            os.replace(path, path + ".1")
        os.write(fd, line)
    finally:
        os.close(fd)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
