"""The SessionStart pull: the hook records the skill versions on disk as the session
starts (Claude Code has loaded the directory before its SessionStart hooks run) and those
held out, then materializes the cached, vetted skill set into the session's project with
the sync's rules, for the sessions after it. Adversarial cases: a user's edit, a
symlinked ``.claude``, a path-like name smuggled into the cache, a cache of another
workspace or agent, a sync holding the lock, an unreadable sync state."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hivemind_kafka.producers.hook import capture
from hivemind_kafka.producers.hook.skill_disk import SKILL_FILE, content_hash, is_valid_name
from hivemind_kafka.producers.hook.skill_pull import (
    CACHE_FILE,
    PULL_MAX_WRITES,
    pull,
    read_cache,
    usable_skills,
    write_cache,
)
from hivemind_kafka.producers.hook.spool import Spool, spool_dir
from hivemind_kafka.producers.sync.skill_files import SyncState, apply_skills, vet_skills
from hivemind_kafka.schemas.skills import is_valid_skill_name
from tests.unit.producers.test_capture import HEAVY
from tests.unit.producers.test_sync_files import (
    WS,
    agent_held_out,
    agent_not_held_out,
    make_skill,
)

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def home(tmp_path) -> Path:
    h = tmp_path / "home"
    h.mkdir()
    return h


def project(tmp_path: Path, name: str = "app") -> Path:
    p = tmp_path / name
    (p / ".git").mkdir(parents=True)
    return p.resolve()


def cache(home: Path, skills: dict, agent: str, *, complete: bool = True,
          holdout_until: float | None = None) -> dict:
    """What a sync pass caches: the vetted set of ``skills`` for ``agent``."""
    entries, _ = vet_skills(skills, workspace_id=WS, agent_id=agent, version="9.9.9")
    write_cache(str(home), entries, workspace_id=WS, agent_id=agent, complete=complete,
                holdout_until=holdout_until)
    return entries


def start(home: Path, cwd: Path, agent: str, session: str = "s-1") -> dict:
    """One SessionStart through capture(), as the hook runs it; the spooled record."""
    (home / "config.json").write_text(json.dumps({"workspace_id": WS, "agent_id": agent,
                                                  "agentd_autostart": False}))
    payload = {"session_id": session, "cwd": str(cwd), "hook_event_name": "SessionStart",
               "source": "startup", "transcript_path": "/dev/null"}
    record = capture.capture(json.dumps(payload).encode(), home=str(home), environ={})
    assert record is not None
    return record


def scope_of(record: dict) -> list | None:
    return json.loads(record["extra"]).get("skills_in_scope")


def skill_md(proj: Path, name: str) -> Path:
    return proj / ".claude" / "skills" / name / SKILL_FILE


def test_session_start_writes_cached_skill_into_a_project_no_sync_has_seen(home, tmp_path):
    agent = agent_not_held_out("run-tests")
    entries = cache(home, {"run-tests": make_skill("run-tests", 3)}, agent)
    proj = project(tmp_path)
    first = start(home, proj / "src", agent, "s-1")  # the session runs in a subdirectory
    assert skill_md(proj, "run-tests").read_text() == entries["run-tests"]["content"]
    assert scope_of(first) == []  # it started without the skill: written for the next
    state = json.loads((home / "sync-state.json").read_text())
    assert state["files"][str(skill_md(proj, "run-tests"))]["version"] == 3
    second = start(home, proj, agent, "s-2")
    assert scope_of(second) == [{"name": "run-tests", "version": 3, "cohort": "present"}]


def test_a_pull_writes_at_most_its_bound_and_the_next_pulls_write_the_rest(home, tmp_path):
    """A project's first session in a workspace with many skills: the hook writes
    PULL_MAX_WRITES files (name order), leaves the rest unrecorded for the next pass, and
    every start still records exactly what was on disk as it began."""
    names = [f"skill-{c}" for c in "abcdef"]
    agent = agent_not_held_out(*names)
    cache(home, {n: make_skill(n, 2) for n in names}, agent)
    proj = project(tmp_path)
    on_disk = []
    for session in ("s-1", "s-2", "s-3"):
        record = start(home, proj, agent, session)
        assert scope_of(record) == [{"name": n, "version": 2, "cohort": "present"}
                                    for n in on_disk]
        on_disk = sorted(p.parent.name for p in (proj / ".claude" / "skills").glob("*/SKILL.md"))
        state = json.loads((home / "sync-state.json").read_text())
        assert sorted(e["name"] for e in state["files"].values()) == on_disk
        if session == "s-1":
            assert on_disk == names[:PULL_MAX_WRITES]
            log = (home / "logs" / "capture.log").read_text()
            assert f"deferred={','.join(names[PULL_MAX_WRITES:])}" in log
    assert on_disk == names


def test_held_out_skill_is_not_written_and_is_recorded_held_out_with_its_version(home,
                                                                                   tmp_path):
    agent = agent_held_out("lint")
    cache(home, {"lint": make_skill("lint", 2)}, agent)
    proj = project(tmp_path)
    record = start(home, proj, agent)
    assert not skill_md(proj, "lint").exists()
    assert scope_of(record) == [{"name": "lint", "version": 2, "cohort": "held_out"}]


def test_a_skill_still_on_disk_when_its_holdout_begins_is_recorded_present_then_removed(
        home, tmp_path):
    agent = agent_not_held_out("lint")
    proj = project(tmp_path)
    entries = cache(home, {"lint": make_skill("lint", 2)}, agent)
    start(home, proj, agent, "s-1")
    # The assignment now holds this agent out (e.g. a new holdout period).
    held = {"lint": {"version": 2, "cohort": "held_out"}}
    write_cache(str(home), held, workspace_id=WS, agent_id=agent, complete=True)
    assert entries["lint"]["cohort"] == "present"
    record = start(home, proj, agent, "s-2")
    assert scope_of(record) == [{"name": "lint", "version": 2, "cohort": "present"}]
    assert not skill_md(proj, "lint").exists()
    assert scope_of(start(home, proj, agent, "s-3")) == [
        {"name": "lint", "version": 2, "cohort": "held_out"}]


def test_new_version_replaces_the_file_and_the_scope_names_the_version_each_session_had(
        home, tmp_path):
    agent = agent_not_held_out("run-tests")
    proj = project(tmp_path)
    cache(home, {"run-tests": make_skill("run-tests", 1)}, agent)
    start(home, proj, agent, "s-1")
    entries = cache(home, {"run-tests": make_skill("run-tests", 2, body="Use `tox`.")}, agent)
    record = start(home, proj, agent, "s-2")
    assert scope_of(record) == [{"name": "run-tests", "version": 1, "cohort": "present"}]
    assert skill_md(proj, "run-tests").read_text() == entries["run-tests"]["content"]
    assert scope_of(start(home, proj, agent, "s-3")) == [
        {"name": "run-tests", "version": 2, "cohort": "present"}]


def test_user_edit_is_never_overwritten_and_leaves_the_scope(home, tmp_path):
    agent = agent_not_held_out("run-tests")
    proj = project(tmp_path)
    cache(home, {"run-tests": make_skill("run-tests", 1)}, agent)
    start(home, proj, agent, "s-1")
    skill_md(proj, "run-tests").write_text("my own notes")
    cache(home, {"run-tests": make_skill("run-tests", 2)}, agent)
    assert scope_of(start(home, proj, agent, "s-2")) == []
    assert skill_md(proj, "run-tests").read_text() == "my own notes"
    assert scope_of(start(home, proj, agent, "s-3")) == []
    state = json.loads((home / "sync-state.json").read_text())
    assert state["conflicts"][str(skill_md(proj, "run-tests"))]["reason"] == "edited"


def test_a_file_the_user_deleted_is_not_recreated_for_the_same_version(home, tmp_path):
    agent = agent_not_held_out("run-tests")
    proj = project(tmp_path)
    cache(home, {"run-tests": make_skill("run-tests", 1)}, agent)
    start(home, proj, agent, "s-1")
    skill_md(proj, "run-tests").unlink()
    assert scope_of(start(home, proj, agent, "s-2")) == []
    assert scope_of(start(home, proj, agent, "s-3")) == []
    assert not skill_md(proj, "run-tests").exists()


@pytest.mark.parametrize("torn", [b"", b"\0" * 1200], ids=["empty", "nul-filled"])
@pytest.mark.parametrize("state_lost", [False, True], ids=["state-kept", "state-lost"])
def test_a_file_a_power_cut_emptied_is_rewritten_not_taken_for_the_users(home, tmp_path,
                                                                         torn, state_lost):
    """The pull renames skill files into place without fsync (the hook's budget): after a
    power cut a new file can read back empty or NUL-filled. Such a file holds nothing of
    anyone's, so the next pull or sync rewrites it instead of reporting a user's edit."""
    agent = agent_not_held_out("run-tests")
    proj = project(tmp_path)
    entries = cache(home, {"run-tests": make_skill("run-tests")}, agent)
    start(home, proj, agent, "s-1")
    skill_md(proj, "run-tests").write_bytes(torn)
    if state_lost:
        (home / "sync-state.json").unlink()
    assert scope_of(start(home, proj, agent, "s-2")) == []  # it had nothing usable
    assert skill_md(proj, "run-tests").read_text() == entries["run-tests"]["content"]
    assert json.loads((home / "sync-state.json").read_text())["conflicts"] == {}
    skill_md(proj, "run-tests").write_bytes(torn)
    state = SyncState.load(home)
    report = apply_skills({"run-tests": make_skill("run-tests")}, proj / ".claude" / "skills",
                          state, workspace_id=WS, agent_id=agent, complete=True,
                          version="9.9.9", anchor=proj)
    assert report.updated == ["run-tests"] and report.conflicts == []


def test_complete_cache_removes_retired_skills_and_a_partial_one_only_tombstones(home,
                                                                                  tmp_path):
    agent = agent_not_held_out("a-skill", "b-skill")
    proj = project(tmp_path)
    cache(home, {"a-skill": make_skill("a-skill"), "b-skill": make_skill("b-skill")}, agent)
    start(home, proj, agent, "s-1")
    # A partial read that reached only a-skill's tombstone: b-skill stays.
    cache(home, {"a-skill": None}, agent, complete=False)
    start(home, proj, agent, "s-2")
    assert not skill_md(proj, "a-skill").exists() and skill_md(proj, "b-skill").exists()
    assert [e["name"] for e in scope_of(start(home, proj, agent, "s-3"))] == ["b-skill"]
    # A complete read without b-skill: it was retired while we were away.
    cache(home, {}, agent)
    start(home, proj, agent, "s-4")
    assert not skill_md(proj, "b-skill").exists()
    assert scope_of(start(home, proj, agent, "s-5")) == []


def test_partial_read_keeps_the_previous_entries_of_names_it_did_not_reach(home):
    agent = agent_not_held_out("a-skill", "b-skill")
    cache(home, {"a-skill": make_skill("a-skill"), "b-skill": make_skill("b-skill")}, agent)
    cache(home, {"a-skill": make_skill("a-skill", 2)}, agent, complete=False)
    data = read_cache(str(home))
    assert data["complete"] is False
    assert {n: e["version"] for n, e in data["skills"].items()} == {"a-skill": 2, "b-skill": 1}


def test_symlinked_claude_dir_is_refused_and_nothing_is_written_through_it(home, tmp_path):
    agent = agent_not_held_out("run-tests")
    cache(home, {"run-tests": make_skill("run-tests")}, agent)
    proj = project(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (proj / ".claude").symlink_to(outside)
    record = start(home, proj, agent)
    assert list(outside.iterdir()) == []
    assert "skills_in_scope" not in json.loads(record.get("extra") or "{}")
    assert "reason=skills-dir-refused" in (home / "logs" / "capture.log").read_text()


def test_a_path_like_name_smuggled_into_the_cache_never_becomes_a_path(home, tmp_path):
    agent = agent_not_held_out("run-tests")
    entries = cache(home, {"run-tests": make_skill("run-tests")}, agent)
    data = read_cache(str(home))
    data["skills"]["../../escaped"] = entries["run-tests"]
    (home / CACHE_FILE).write_text(json.dumps(data))
    proj = project(tmp_path)
    start(home, proj, agent, "s-1")
    record = start(home, proj, agent, "s-2")
    assert not (tmp_path / "escaped").exists() and not (proj / "escaped").exists()
    assert [e["name"] for e in scope_of(record)] == ["run-tests"]


@pytest.mark.parametrize("change,reason", [
    ({"workspace_id": "ws-other"}, "cache-of-another-workspace"),
    ({"agent_id": "someone-else"}, "cache-of-another-agent"),
    ({"format": 99}, "cache-format"),
    ({"holdout_until": 1.0}, "holdout-expired"),
    ({"skills": ["not", "a", "map"]}, "cache-format"),
])
def test_a_cache_not_written_for_this_agent_now_is_not_pulled(home, tmp_path, change, reason):
    agent = agent_not_held_out("run-tests")
    cache(home, {"run-tests": make_skill("run-tests")}, agent)
    data = {**read_cache(str(home)), **change}
    (home / CACHE_FILE).write_text(json.dumps(data))
    proj = project(tmp_path)
    done = pull(str(home), str(proj), workspace_id=WS, agent_id=agent)
    assert (done.scope, done.reason) == (None, reason)
    assert not (proj / ".claude").exists()


def test_malformed_entries_are_dropped_and_the_rest_pulled(home):
    agent = agent_not_held_out("run-tests")
    entries = cache(home, {"run-tests": make_skill("run-tests")}, agent)
    raw = {**read_cache(str(home))}
    raw["skills"] = {**entries, "no-version": {"cohort": "present", "content": "x",
                                               "sha256": "0"},
                     "bool-version": {"version": True, "cohort": "held_out"},
                     "no-content": {"version": 1, "cohort": "present"}, "junk": 7}
    skills, reason = usable_skills(raw, workspace_id=WS, agent_id=agent, now=0.0)
    assert reason == "" and sorted(skills) == ["run-tests"]


def test_pull_gives_up_when_a_sync_holds_the_lock_but_still_records_the_scope(home,
                                                                             tmp_path):
    agent = agent_not_held_out("run-tests")
    cache(home, {"run-tests": make_skill("run-tests", 1)}, agent)
    proj = project(tmp_path)
    pull(str(home), str(proj), workspace_id=WS, agent_id=agent)
    cache(home, {"run-tests": make_skill("run-tests", 2)}, agent)
    fd = os.open(home / "sync.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        done = pull(str(home), str(proj), workspace_id=WS, agent_id=agent, wait_s=0.02)
    finally:
        os.close(fd)
    assert done.reason == "sync-lock-busy"
    assert done.scope == [{"name": "run-tests", "version": 1, "cohort": "present"}]
    assert "skill_version: \"1\"" in skill_md(proj, "run-tests").read_text()


def test_unreadable_sync_state_is_left_alone(home, tmp_path):
    agent = agent_not_held_out("run-tests")
    cache(home, {"run-tests": make_skill("run-tests")}, agent)
    (home / "sync-state.json").write_text("{not json")
    proj = project(tmp_path)
    done = pull(str(home), str(proj), workspace_id=WS, agent_id=agent)
    assert (done.scope, done.reason) == (None, "sync-state-unreadable")
    assert (home / "sync-state.json").read_text() == "{not json"


def test_no_cache_falls_back_to_what_the_last_sync_recorded(home, tmp_path):
    proj = project(tmp_path)
    recorded = [{"name": "lint", "version": 4, "cohort": "held_out"}]
    (home / "skills-in-scope.json").write_text(json.dumps({str(proj): recorded}))
    assert scope_of(start(home, proj, "agent-x")) == recorded


def test_pull_and_sync_write_the_same_bytes_and_state(home, tmp_path):
    """The hook and the sync materialize one vetted set with one code path: a project
    the hook pulled into and one the sync applied to end up alike, file and state."""
    agent = agent_not_held_out("a-skill", "b-skill")
    skills = {"a-skill": make_skill("a-skill", 2), "b-skill": make_skill("b-skill", 5)}
    cache(home, skills, agent)
    pulled, synced = project(tmp_path, "pulled"), project(tmp_path, "synced")
    start(home, pulled, agent)
    state = SyncState.load(home)
    apply_skills(skills, synced / ".claude" / "skills", state, workspace_id=WS, agent_id=agent,
                 complete=True, version="9.9.9", anchor=synced)
    for name in skills:
        assert skill_md(pulled, name).read_bytes() == skill_md(synced, name).read_bytes()
        a = state.files[str(skill_md(pulled, name))]
        b = state.files[str(skill_md(synced, name))]
        assert a == b and a["hash"] == content_hash(skill_md(pulled, name).read_bytes())


def test_session_start_pull_imports_no_heavy_module(home, tmp_path):
    agent = agent_not_held_out("run-tests")
    cache(home, {"run-tests": make_skill("run-tests")}, agent)
    (home / "config.json").write_text(json.dumps({"workspace_id": WS, "agent_id": agent,
                                                  "agentd_autostart": False}))
    capture.write_redactor_cache(str(home))
    proj = project(tmp_path)
    probe = ("import sys\nfrom hivemind_kafka.cli.main import main\nmain(['capture'])\n"
             f"sys.stderr.write(','.join(m for m in {HEAVY!r} if m in sys.modules))\n")
    payload = {"session_id": "s-1", "cwd": str(proj), "hook_event_name": "SessionStart",
               "source": "startup"}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, timeout=60,
                          env={**os.environ, "HIVEMIND_HOME": str(home),
                               "PYTHONPATH": str(ROOT)},
                          input=json.dumps(payload).encode())
    assert done.returncode == 0 and done.stdout == b""
    assert done.stderr.decode() == ""
    assert skill_md(proj, "run-tests").exists()  # the pull ran in that process
    (rec,) = Spool(spool_dir(str(home))).read().records
    assert json.loads(rec.data["extra"])["skills_in_scope"] == []  # none when it started


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="abcz09-_./A \n", max_size=70))
def test_hook_name_check_agrees_with_the_contract(name):
    assert is_valid_name(name) == is_valid_skill_name(name)
