"""agentd's pure parts: project discovery, session starts, the lock, the status screen."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime

from hivemind_kafka.producers.agentd import launch as agentd
from hivemind_kafka.producers.agentd.daemon import RecentSessions, SyncLoop, session_cwd
from hivemind_kafka.producers.agentd.status import hook_events, render, skills_on_disk
from hivemind_kafka.producers.sync.skill_files import SyncState, content_hash
from hivemind_kafka.producers.sync.skill_sync import ProjectRegistry, known_projects, project_root
from hivemind_kafka.runtime.settings import Settings
from hivemind_kafka.schemas.events import AgentKind, EventKind, TurnEvent

TS = datetime(2026, 11, 26, 7, 0, tzinfo=UTC)


def event(kind: EventKind, *, extra: str | None = None, ws: str = "ws-a",
          session: str = "s1") -> TurnEvent:
    return TurnEvent(event_id=f"{session}-{kind}", workspace_id=ws, session_id=session,
                     agent_id="a", agent_kind=AgentKind.CODING, project="p", seq=0, ts=TS,
                     kind=kind, extra=extra)


def test_session_cwd_reads_absolute_cwd_from_extra_only():
    assert session_cwd(event(EventKind.SESSION_START, extra='{"cwd": "/repo"}')) == "/repo"
    assert session_cwd(event(EventKind.SESSION_START, extra='{"cwd": "rel"}')) is None
    assert session_cwd(event(EventKind.SESSION_START, extra='{"cwd": "/tr')) is None
    assert session_cwd(event(EventKind.SESSION_START)) is None


def test_project_root_is_the_git_work_tree_else_cwd(tmp_path):
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    (tmp_path / "repo" / "src" / "deep").mkdir(parents=True)
    (tmp_path / "plain").mkdir()
    assert project_root(tmp_path / "repo" / "src" / "deep") == (tmp_path / "repo").resolve()
    assert project_root(tmp_path / "plain") == (tmp_path / "plain").resolve()


def test_sync_loop_queues_only_its_workspace_session_starts(tmp_path):
    settings = Settings.from_env({}).replace(edge={"home": str(tmp_path), "workspace_id": "ws-a"})
    loop = SyncLoop(settings, "agent", interval_s=30)
    cwd = json.dumps({"cwd": str(tmp_path)})
    loop.observe(event(EventKind.SESSION_START, extra=cwd))
    loop.observe(event(EventKind.SESSION_START, extra=cwd, ws="ws-b", session="s2"))
    loop.observe(event(EventKind.PROMPT, extra=cwd, session="s3"))
    assert loop._starts.qsize() == 1
    assert loop._starts.get_nowait() == ("s1", tmp_path.resolve(), TS, None)


def test_sync_loop_keeps_the_scope_the_session_start_recorded(tmp_path):
    """agentd records a session's exposures from what its session_start saw on disk, not
    from its own sync afterwards (which the hook's pull may already have changed)."""
    settings = Settings.from_env({}).replace(edge={"home": str(tmp_path), "workspace_id": "ws-a"})
    loop = SyncLoop(settings, "agent", interval_s=30)
    scope = [{"name": "lint", "version": 2, "cohort": "held_out"},
             {"name": "run-tests", "version": 3, "cohort": "present"}]
    loop.observe(event(EventKind.SESSION_START, session="with",
                       extra=json.dumps({"cwd": str(tmp_path), "skills_in_scope": scope})))
    loop.observe(event(EventKind.SESSION_START, session="empty",
                       extra=json.dumps({"cwd": str(tmp_path), "skills_in_scope": []})))
    assert [loop._starts.get_nowait()[3] for _ in range(2)] == [scope, []]


def test_registry_remembers_projects_and_skips_vanished_ones(tmp_path):
    registry = ProjectRegistry(tmp_path / "home")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    assert registry.add(tmp_path / "a") and registry.add(tmp_path / "b")
    assert not registry.add(tmp_path / "a")
    (tmp_path / "b").rmdir()
    assert registry.paths() == [(tmp_path / "a").resolve()]
    assert len(registry.load()) == 2


def test_project_scope_install_counts_as_known_project_but_user_scope_does_not(tmp_path):
    home, user = tmp_path / "home", tmp_path / "user"
    project = tmp_path / "proj"
    project.mkdir()
    (home / "install").mkdir(parents=True)
    for i, path in enumerate([project / ".claude" / "settings.json",
                              user / ".claude" / "settings.json"]):
        (home / "install" / f"{i}.json").write_text(json.dumps({"settings_path": str(path)}))
    (user / ".claude").mkdir(parents=True)
    assert known_projects(home, user) == [project.resolve()]


def test_recent_sessions_keeps_the_latest_and_counts_events(tmp_path):
    recent = RecentSessions(tmp_path, keep=2)
    for session in ("s1", "s2", "s3"):
        recent.observe(event(EventKind.SESSION_START, session=session))
    recent.observe(event(EventKind.STOP, session="s2"))
    saved = json.loads((tmp_path / "recent-sessions.json").read_text())["sessions"]
    assert [(s["session_id"], s["events"]) for s in saved] == [("s3", 1), ("s2", 2)]


def test_agentd_lock_is_exclusive_and_reports_the_holder_pid(tmp_path):
    assert agentd.running_pid(tmp_path) is None
    fd = agentd.acquire(tmp_path)
    assert fd is not None
    try:
        assert agentd.running_pid(tmp_path) == os.getpid()
        assert agentd.acquire(tmp_path) is None
        assert agentd.ensure_running(tmp_path, python="/nonexistent/python") is False
    finally:
        agentd.release(fd)
    assert agentd.running_pid(tmp_path) is None


def test_hook_events_finds_only_hivemind_capture_hooks(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"hooks": {
        "Stop": [{"hooks": [{"type": "command", "command": "/v/bin/hivemind capture"}]}],
        "PreToolUse": [{"matcher": "*", "hooks": [{"type": "command", "command": "lint"}]}],
    }}))
    assert hook_events(path) == ["Stop"]
    path.write_text("{broken")
    assert hook_events(path) is None
    assert hook_events(tmp_path / "missing.json") == []


def test_skills_on_disk_tells_hivemind_edited_and_user_files_apart(tmp_path):
    state = SyncState(tmp_path / "state.json")
    skills = tmp_path / ".claude" / "skills"
    for name, text in (("ours", "a"), ("edited", "b"), ("yours", "c")):
        (skills / name).mkdir(parents=True)
        (skills / name / "SKILL.md").write_text(text)
    state.files[str(skills / "ours" / "SKILL.md")] = {"hash": content_hash(b"a"),
                                                      "name": "ours", "version": 2}
    state.files[str(skills / "edited" / "SKILL.md")] = {"hash": content_hash(b"old"),
                                                        "name": "edited", "version": 1}
    assert {s["name"]: (s["owner"], s["version"]) for s in skills_on_disk(tmp_path, state)} \
        == {"ours": ("hivemind", 2), "edited": ("edited", 1), "yours": ("yours", None)}


def test_status_screen_names_the_problems():
    text = render({
        "home": "/h", "workspace_id": "ws", "agent_id": "a", "agent_kind": "coding",
        "installed": True, "hooks": {},
        "agentd": {"running": False, "pid": None, "autostart": False, "status": None},
        "spool": {"backlog_records": 7, "backlog_bytes": 900, "oldest_age_s": 3600.0,
                  "quarantined": 0},
        "broker": {"bootstrap": "k:9092", "reachable": False, "error": "no answer"},
        "sync": {"last": None, "conflicts": {"/p/.claude/skills/x/SKILL.md":
                                             {"name": "x", "reason": "edited"}}},
        "projects": {"/p": [{"name": "x", "owner": "edited", "version": 1}]},
        "recent_sessions": [],
    })
    assert "none installed" in text and "hivemind agentd --detach" in text
    assert "7 unsent events" in text and "oldest unsent 3600s old" in text
    assert "UNREACHABLE (no answer)" in text and "CONFLICT    x: edited" in text
    assert "pull cache  none yet" in text


def test_status_screen_says_why_the_pull_cache_is_not_used(tmp_path):
    from hivemind_kafka.producers.agentd.status import _cache_facts
    from hivemind_kafka.producers.hook.skill_pull import write_cache

    write_cache(str(tmp_path), {"a": {"version": 1, "cohort": "held_out"}},
                workspace_id="ws-a", agent_id="agent-1", complete=True)
    assert _cache_facts(tmp_path, "ws-a", "agent-1") == {
        "written_at": _cache_facts(tmp_path, "ws-a", "agent-1")["written_at"],
        "complete": True, "present": 0, "held_out": 1, "unusable": None}
    assert _cache_facts(tmp_path, "ws-b", "agent-1")["unusable"] == "cache-of-another-workspace"
