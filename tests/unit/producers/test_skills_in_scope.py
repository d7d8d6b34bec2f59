"""Skills in scope: the sync records per project which skill versions this agent has
(present) or is held out of, and the SessionStart hook puts its project's entry into the
event's extra, so exposures reach the turns topic."""

from __future__ import annotations

import json
from pathlib import Path

from hivemind_kafka.producers.hook import capture
from hivemind_kafka.producers.hook.events import project_root_of, skills_in_scope_for
from hivemind_kafka.producers.sync.skill_files import SyncState
from hivemind_kafka.producers.sync.skill_sync import (
    SCOPE_FILE,
    USER_SCOPE,
    load_skills_in_scope,
    project_root,
    skills_dir_of,
    write_skills_in_scope,
)
from hivemind_kafka.schemas.holdout import is_held_out
from tests.unit.producers.test_sync_files import apply, make_skill


def _agent_present_and_held_out(present: str, held: str) -> str:
    for i in range(10000):
        agent = f"agent-{i}"
        if not is_held_out(present, agent) and is_held_out(held, agent):
            return agent
    raise AssertionError("no such agent")


def _synced_project(tmp_path: Path):
    """A git project synced with run-tests v2 (present) and lint v1 (held out)."""
    home = tmp_path / "home"
    project = tmp_path / "app"
    (project / ".git").mkdir(parents=True)
    (project / "src" / "pkg").mkdir(parents=True)
    agent = _agent_present_and_held_out("run-tests", "lint")
    state = SyncState(home / "sync-state.json")
    skills = {"run-tests": make_skill("run-tests", 2), "lint": make_skill("lint", 1)}
    apply(skills, skills_dir_of(project), state, agent)
    live = {"run-tests": 2, "lint": 1}
    write_skills_in_scope(home, live, state, {str(project.resolve()): skills_dir_of(project)},
                          agent_id=agent)
    return home, project, agent, state, live


EXPECTED = [{"name": "lint", "version": 1, "cohort": "held_out"},
            {"name": "run-tests", "version": 2, "cohort": "present"}]


def test_sync_writes_present_and_held_out_skills_per_project(tmp_path):
    home, project, *_ = _synced_project(tmp_path)
    data = json.loads((home / SCOPE_FILE).read_text())
    assert data == {str(project.resolve()): EXPECTED}


def test_user_edited_skill_leaves_the_scope_and_other_projects_are_kept(tmp_path):
    home, project, agent, state, live = _synced_project(tmp_path)
    (skills_dir_of(project) / "run-tests" / "SKILL.md").write_text("my own version")
    user_dir = tmp_path / "user-skills"
    apply({"run-tests": make_skill("run-tests", 2)}, user_dir, state, agent)
    write_skills_in_scope(home, live, state, {USER_SCOPE: user_dir}, agent_id=agent)
    write_skills_in_scope(home, live, state, {str(project.resolve()): skills_dir_of(project)},
                          agent_id=agent)
    scope = load_skills_in_scope(home)
    assert scope[str(project.resolve())] == [EXPECTED[0]]
    assert scope[USER_SCOPE] == EXPECTED


def _session_start(cwd: str) -> bytes:
    return json.dumps({"session_id": "s-1", "transcript_path": "/tmp/t.jsonl", "cwd": cwd,
                       "hook_event_name": "SessionStart", "source": "startup"}).encode()


def _captured_extra(home: Path, payload: bytes) -> dict:
    (home / "config.json").write_text(json.dumps({"workspace_id": "ws-a", "agent_id": "a-1",
                                                  "agentd_autostart": False}))
    record = capture.capture(payload, home=str(home), environ={})
    return json.loads(record["extra"])


def test_session_start_in_a_synced_project_carries_its_skills_in_scope(tmp_path):
    home, project, *_ = _synced_project(tmp_path)
    extra = _captured_extra(home, _session_start(str(project / "src" / "pkg")))
    assert extra["skills_in_scope"] == EXPECTED
    assert extra["source"] == "startup"


def test_other_hook_events_do_not_read_the_scope(tmp_path):
    home, project, *_ = _synced_project(tmp_path)
    payload = json.loads(_session_start(str(project)))
    payload.update(hook_event_name="UserPromptSubmit", prompt="hello")
    extra = _captured_extra(home, json.dumps(payload).encode())
    assert "skills_in_scope" not in extra


def test_session_start_without_a_scope_file_records_nothing(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    extra = _captured_extra(home, _session_start(str(tmp_path)))
    assert "skills_in_scope" not in extra


def test_broken_scope_file_never_breaks_capture(tmp_path):
    home, project, *_ = _synced_project(tmp_path)
    (home / SCOPE_FILE).write_text('{"/x": [')
    extra = _captured_extra(home, _session_start(str(project)))
    assert "skills_in_scope" not in extra


def test_user_entries_fill_in_names_the_project_lacks():
    scope = {"/w/app": [{"name": "a", "version": 1, "cohort": "present"}],
             USER_SCOPE: [{"name": "a", "version": 7, "cohort": "present"},
                          {"name": "b", "version": 2, "cohort": "held_out"}]}
    assert skills_in_scope_for(scope, "/w/app") == [
        {"name": "a", "version": 1, "cohort": "present"},
        {"name": "b", "version": 2, "cohort": "held_out"}]
    assert skills_in_scope_for(scope, "/elsewhere") == scope[USER_SCOPE]
    assert skills_in_scope_for({"/w/app": []}, "/elsewhere") is None


def test_a_cwd_below_a_non_git_project_matches_the_deepest_enclosing_key():
    scope = {"/w": [{"name": "outer", "version": 1, "cohort": "present"}],
             "/w/app": [{"name": "inner", "version": 1, "cohort": "present"}],
             "/w/application": [{"name": "wrong", "version": 1, "cohort": "present"}]}
    assert [e["name"] for e in skills_in_scope_for(scope, "/w/app/deep/dir")] == ["inner"]


def test_scope_list_is_cut_to_its_byte_budget_with_whole_entries():
    scope = {"/w/app": [{"name": f"skill-{i:03d}", "version": i, "cohort": "present"}
                        for i in range(500)]}
    got = skills_in_scope_for(scope, "/w/app", max_bytes=2000)
    assert 10 < len(got) < 500
    assert len(json.dumps(got, separators=(",", ":"))) <= 2000
    assert got == scope["/w/app"][:len(got)]


def test_hook_project_root_agrees_with_the_sync_through_symlinks(tmp_path):
    real = tmp_path / "real"
    (real / ".git").mkdir(parents=True)
    (real / "sub").mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    assert project_root_of(str(link / "sub")) == str(project_root(link / "sub"))
    plain = tmp_path / "plain"
    plain.mkdir()
    assert project_root_of(str(plain)) == str(project_root(plain))
