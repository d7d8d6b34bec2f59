"""``hivemind skillify``: what Hivemind is doing on this machine, on one screen.

:func:`collect` gathers facts from local files only (install config and state, Claude
Code settings files, the agentd lock and status file, the spool, sync state, projects),
plus one metadata request to Kafka with a short timeout. It never raises for a missing
or unreadable file (the fact reads ``None``/empty) and never writes anything.
:func:`render` turns the facts into text; ``--json`` prints them as they are.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from hivemind_kafka.producers.agentd import launch as agentd
from hivemind_kafka.producers.hook import jsonlite
from hivemind_kafka.producers.sync.skill_files import (
    SKILL_FILE,
    SkillsDir,
    SyncState,
    UnsafePath,
    content_hash,
)
from hivemind_kafka.producers.sync.skill_sync import (
    installed_settings_files,
    known_projects,
    skills_dir_of,
)
from hivemind_kafka.runtime.settings import Settings

RECENT_SESSIONS = "recent-sessions.json"




def hook_events(settings_file: Path) -> list[str] | None:
    """Hook events whose hooks run ``hivemind capture``; None if the file is unreadable."""
    from hivemind_kafka.producers.install.claude_code import is_our_command

    data = jsonlite.read_object(settings_file) if settings_file.exists() else {}
    if data is None:
        return None
    hooks = data.get("hooks")
    if not isinstance(hooks, dict):
        hooks = {}
    found = []
    for event, entries in hooks.items():
        for entry in entries if isinstance(entries, list) else []:
            inner = entry.get("hooks", []) if isinstance(entry, dict) else []
            if any(isinstance(h, dict) and is_our_command(h.get("command")) for h in inner):
                found.append(event)
                break
    return found


def broker_reachable(settings: Settings, timeout_s: float) -> tuple[str | None, str | None]:
    """(bootstrap, error): error is None when a metadata request succeeded in time."""
    from hivemind_kafka.producers.agentd.forwarder import resolve_edge_bootstrap
    from hivemind_kafka.runtime.errors import BrokerUnavailable

    try:
        bootstrap = resolve_edge_bootstrap(settings)
    except BrokerUnavailable as exc:
        return None, str(exc)
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    from hivemind_kafka.runtime.kafka import admin_config, with_bootstrap

    conf = admin_config(with_bootstrap(settings, bootstrap))
    conf["socket.connection.setup.timeout.ms"] = max(1000, int(timeout_s * 1000))
    try:
        AdminClient(conf).list_topics(timeout=timeout_s)
    except KafkaException as exc:
        return bootstrap, f"no answer within {timeout_s:g}s ({exc.args[0].name()})"
    return bootstrap, None


def skills_on_disk(project: Path, state: SyncState) -> list[dict]:
    """Each skill directory of the project: name, who owns it, version if Hivemind's."""
    skills_dir = skills_dir_of(project)
    out = []
    fs = SkillsDir(skills_dir, Path(project).resolve())
    for skill_md in sorted(skills_dir.glob(f"*/{SKILL_FILE}")):
        recorded = state.files.get(str(skill_md))
        try:  # never through a symlink, never blocking on a FIFO
            data = fs.read(skill_md.parent.name)
        except (OSError, UnsafePath):
            continue
        if data is None:
            continue
        current = content_hash(data)
        if recorded is None:
            owner = "yours"
        elif recorded.get("hash") == current:
            owner = "hivemind"
        else:
            owner = "edited"
        out.append({"name": skill_md.parent.name, "owner": owner,
                    "version": recorded.get("version") if recorded else None})
    return out


def collect(settings: Settings, *, user_home: Path | None, broker_timeout_s: float = 2.0
            ) -> dict:
    from hivemind_kafka.producers.agentd.daemon import edge_identity
    from hivemind_kafka.producers.hook.spool import Spool, spool_dir

    home = settings.edge.home_path()
    settings, agent_id, config = edge_identity(settings)
    pid = agentd.running_pid(home)
    spool = Spool(spool_dir(home)).stats()
    bootstrap, broker_error = broker_reachable(settings, broker_timeout_s)
    state = SyncState.load(home)
    projects = known_projects(home, user_home)
    settings_files = installed_settings_files(home, user_home)
    settings_files += [skills_dir_of(p).parent / "settings.json" for p in projects]
    hooks = {}
    for path in dict.fromkeys(settings_files):
        events = hook_events(path)
        if events is None or events:
            hooks[str(path)] = events
    recent = (jsonlite.read_object(home / RECENT_SESSIONS) or {}).get("sessions", [])
    return {
        "home": str(home), "workspace_id": settings.edge.workspace_id, "agent_id": agent_id,
        "agent_kind": config.get("agent_kind"), "installed": bool(config.get("version")),
        "hooks": hooks,
        "user_settings": str(user_home / ".claude" / "settings.json") if user_home else None,
        "agentd": {"running": pid is not None, "pid": pid or None,
                   "autostart": config.get("agentd_autostart", True),
                   "status": jsonlite.read_object(home / "agentd.json")},
        "spool": {"backlog_records": spool.records, "backlog_bytes": spool.bytes,
                  "oldest_age_s": round(spool.oldest_age_s, 1),
                  "quarantined": spool.quarantined},
        "broker": {"bootstrap": bootstrap, "reachable": broker_error is None,
                   "error": broker_error},
        "sync": {"last": state.last_sync or None, "conflicts": state.conflicts},
        "cache": _cache_facts(home, settings.edge.workspace_id, agent_id),
        "projects": {str(p): skills_on_disk(p, state) for p in projects},
        "recent_sessions": recent[-10:] if isinstance(recent, list) else [],
    }


def _cache_facts(home: Path, workspace_id: str, agent_id: str) -> dict | None:
    """What the SessionStart pull would materialize (producers.hook.skill_pull), or None."""
    import time

    from hivemind_kafka.producers.hook.skill_pull import read_cache, usable_skills

    cache = read_cache(str(home))
    if not isinstance(cache, dict):
        return None
    skills, reason = usable_skills(cache, workspace_id=workspace_id, agent_id=agent_id,
                                   now=time.time())
    entries = [e for e in (skills or {}).values() if isinstance(e, dict)]
    return {"written_at": cache.get("written_at"), "complete": cache.get("complete"),
            "present": sum(e.get("cohort") == "present" for e in entries),
            "held_out": sum(e.get("cohort") == "held_out" for e in entries),
            "unusable": reason or None}


def _age(iso: str | None) -> str:
    if not iso:
        return "never"
    try:
        seconds = (datetime.now(UTC) - datetime.fromisoformat(iso)).total_seconds()
    except ValueError:
        return iso
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit} ago"
    return f"{max(0, seconds):.0f}s ago"


def render(s: dict) -> str:
    lines = [f"Hivemind on this machine  (home {s['home']})",
             f"  workspace   {s['workspace_id']}   agent {s['agent_id']}"
             f"   kind {s['agent_kind']}"]
    if not s["hooks"]:
        lines.append("  hooks       none installed: run `hivemind install` "
                     "(--scope user|project)")
    for path, events in s["hooks"].items():
        what = "unreadable JSON" if events is None else f"{len(events)} events"
        scope = "user" if path == s.get("user_settings") else "project"
        lines.append(f"  hooks       {scope} scope: {path}  ({what})")
    a = s["agentd"]
    st = a.get("status") or {}
    if a["running"]:
        link = "connected" if st.get("connected") else "not connected"
        lines.append(f"  agentd      running (pid {a['pid']}), {link}, last delivery "
                     f"{_age(st.get('last_delivery_at'))}")
    else:
        hint = ("starts with the next Claude Code session" if a["autostart"]
                else "start it with `hivemind agentd --detach`")
        lines.append(f"  agentd      not running ({hint})")
    if st.get("last_error") and not st.get("connected"):
        lines.append(f"              last error: {st['last_error'][:100]}")
    sp = s["spool"]
    oldest = f", oldest unsent {sp['oldest_age_s']:.0f}s old" if sp["backlog_records"] else ""
    lines.append(f"  spool       {sp['backlog_records']} unsent events "
                 f"({sp['backlog_bytes']} bytes){oldest}"
                 + (f", {sp['quarantined']} quarantined" if sp["quarantined"] else ""))
    b = s["broker"]
    lines.append(f"  kafka       {b['bootstrap'] or '-'}: "
                 + ("reachable" if b["reachable"] else f"UNREACHABLE ({b['error']})"))
    last = s["sync"]["last"] or {}
    sync_note = "" if last.get("complete", True) else " (incomplete read)"
    lines.append(f"  last sync   {_age(last.get('at'))}{sync_note}"
                 + (f", error: {last['error'][:80]}" if last.get("error") else ""))
    c = s.get("cache")
    if c is None:
        lines.append("  pull cache  none yet (agentd's next sync writes it)")
    elif c["unusable"]:
        lines.append(f"  pull cache  not used by SessionStart: {c['unusable']}")
    else:
        lines.append(f"  pull cache  {c['present']} skills to pull, {c['held_out']} held out, "
                     f"written {_age(c['written_at'])}"
                     + ("" if c["complete"] else " (incomplete read)"))
    if not s["projects"]:
        lines.append("  projects    none yet (a session with hooks installed adds its project)")
    for project, skills in s["projects"].items():
        names = ", ".join(f"{k['name']}" + (f" v{k['version']}" if k["version"] else "")
                          + ("" if k["owner"] == "hivemind" else f" ({k['owner']})")
                          for k in skills) or "no skills"
        lines.append(f"  project     {project}: {names}")
    for path, conflict in s["sync"]["conflicts"].items():
        lines.append(f"  CONFLICT    {conflict.get('name')}: {conflict.get('reason')} "
                     f"({path}); Hivemind leaves it alone")
    if s["recent_sessions"]:
        lines.append("  recent sessions")
        for r in reversed(s["recent_sessions"]):
            lines.append(f"    {_age(r.get('started_at'))}  {r.get('session_id', '?')[:12]}  "
                         f"{r.get('events', 0)} events  {r.get('project', '')}")
    return "\n".join(lines)

