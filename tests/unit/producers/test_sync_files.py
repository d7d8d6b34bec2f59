"""Skill files on disk: rendering, atomic writes, conflicts, tombstones, holdout."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import yaml

from hivemind_kafka.producers.sync.skill_files import SyncState, apply_skills, skill_status
from hivemind_kafka.schemas.holdout import is_held_out
from hivemind_kafka.schemas.skills import (
    Decision,
    PublishedSkill,
    Skill,
    SkillProvenance,
    render_skill_md,
)

WS = "ws-a"
PUBLISHED = datetime(2026, 11, 26, 7, 0, tzinfo=UTC)


def make_skill(name: str = "run-tests", version: int = 1, *, workspace: str = WS,
               description: str = "Run the test suite the way this repo expects",
               body: str = "# Run tests\n\nUse `make test`.\n") -> PublishedSkill:
    skill = Skill(
        workspace_id=workspace, name=name, description=description, body=body,
        version=version,
        provenance=SkillProvenance(source_session_ids=["s1", "s2"], codifier="offline",
                                   decision=Decision.KEEP, created_at=PUBLISHED),
    )
    return PublishedSkill(skill=skill, published_at=PUBLISHED)


def agent_not_held_out(*names: str) -> str:
    """An agent id outside the holdout cohort of every given skill name."""
    for i in range(1000):
        agent = f"agent-{i}"
        if not any(is_held_out(n, agent) for n in names):
            return agent
    raise AssertionError("no agent outside the holdout")


def agent_held_out(name: str) -> str:
    for i in range(10000):
        if is_held_out(name, f"agent-{i}"):
            return f"agent-{i}"
    raise AssertionError("no held-out agent")


def apply(skills, skills_dir: Path, state: SyncState, agent: str, complete: bool = True):
    return apply_skills(skills, skills_dir, state, workspace_id=WS, agent_id=agent,
                        complete=complete, version="9.9.9")


def front_matter(text: str) -> dict:
    assert text.startswith("---\n")
    head, _, body = text[4:].partition("\n---\n")
    return yaml.safe_load(head) | {"__body__": body}


def test_rendered_front_matter_parses_as_yaml_with_string_metadata():
    text = render_skill_md(make_skill(description='Quotes " and: colons # too', version=3),
                           version="1.2.3")
    meta = front_matter(text)
    assert meta["name"] == "run-tests"
    assert meta["description"] == 'Quotes " and: colons # too'
    assert meta["metadata"] == {
        "hivemind_version": "1.2.3", "skill_version": "3", "source_sessions": "s1,s2",
        "codifier": "offline", "published_at": PUBLISHED.isoformat(),
    }
    assert all(isinstance(v, str) for v in meta["metadata"].values())
    assert "Use `make test`." in meta["__body__"]


def test_new_skill_is_written_under_its_own_name(tmp_path):
    state = SyncState(tmp_path / "state.json")
    agent = agent_not_held_out("run-tests")
    report = apply({"run-tests": make_skill()}, tmp_path / "skills", state, agent)
    path = tmp_path / "skills" / "run-tests" / "SKILL.md"
    assert report.created == ["run-tests"]
    assert front_matter(path.read_text())["name"] == "run-tests"
    assert not [p for p in path.parent.iterdir() if p.name != "SKILL.md"]  # no temp left


def test_same_version_twice_is_unchanged_and_file_untouched(tmp_path):
    state = SyncState(tmp_path / "state.json")
    agent = agent_not_held_out("run-tests")
    apply({"run-tests": make_skill()}, tmp_path / "skills", state, agent)
    path = tmp_path / "skills" / "run-tests" / "SKILL.md"
    mtime = path.stat().st_mtime_ns
    report = apply({"run-tests": make_skill()}, tmp_path / "skills", state, agent)
    assert report.unchanged == ["run-tests"] and not report.updated
    assert path.stat().st_mtime_ns == mtime


def test_new_version_replaces_an_unedited_file(tmp_path):
    state = SyncState(tmp_path / "state.json")
    agent = agent_not_held_out("run-tests")
    apply({"run-tests": make_skill()}, tmp_path / "skills", state, agent)
    report = apply({"run-tests": make_skill(version=2, body="v2 body")},
                   tmp_path / "skills", state, agent)
    text = (tmp_path / "skills" / "run-tests" / "SKILL.md").read_text()
    assert report.updated == ["run-tests"]
    assert "v2 body" in text and front_matter(text)["metadata"]["skill_version"] == "2"


def test_edited_file_survives_new_version_and_is_reported_once(tmp_path):
    state = SyncState(tmp_path / "state.json")
    agent = agent_not_held_out("run-tests")
    apply({"run-tests": make_skill()}, tmp_path / "skills", state, agent)
    path = tmp_path / "skills" / "run-tests" / "SKILL.md"
    path.write_text(path.read_text() + "\nmy local tweak\n")
    edited = path.read_bytes()
    first = apply({"run-tests": make_skill(version=2)}, tmp_path / "skills", state, agent)
    again = apply({"run-tests": make_skill(version=2)}, tmp_path / "skills", state, agent)
    assert path.read_bytes() == edited
    assert [c.reason for c in first.conflicts] == ["edited"]
    assert len(first.new_conflicts) == 1 and not again.new_conflicts
    assert len(again.conflicts) == 1


def test_edited_file_is_not_deleted_by_tombstone(tmp_path):
    state = SyncState(tmp_path / "state.json")
    agent = agent_not_held_out("run-tests")
    apply({"run-tests": make_skill()}, tmp_path / "skills", state, agent)
    path = tmp_path / "skills" / "run-tests" / "SKILL.md"
    path.write_text("mine now")
    report = apply({"run-tests": None}, tmp_path / "skills", state, agent)
    assert path.read_text() == "mine now"
    assert report.conflicts and not report.removed


def test_user_authored_skill_with_same_name_is_never_overwritten(tmp_path):
    path = tmp_path / "skills" / "run-tests" / "SKILL.md"
    path.parent.mkdir(parents=True)
    path.write_text("---\nname: run-tests\ndescription: mine\n---\nhands off\n")
    state = SyncState(tmp_path / "state.json")
    report = apply({"run-tests": make_skill()}, tmp_path / "skills", state,
                   agent_not_held_out("run-tests"))
    assert "hands off" in path.read_text()
    assert [c.reason for c in report.conflicts] == ["not_written_by_hivemind"]


def test_tombstone_removes_unedited_skill_directory(tmp_path):
    state = SyncState(tmp_path / "state.json")
    agent = agent_not_held_out("run-tests")
    apply({"run-tests": make_skill()}, tmp_path / "skills", state, agent)
    report = apply({"run-tests": None}, tmp_path / "skills", state, agent)
    assert report.removed == ["run-tests"]
    assert not (tmp_path / "skills" / "run-tests").exists()
    assert not state.files


def test_tombstone_keeps_directory_holding_user_files(tmp_path):
    state = SyncState(tmp_path / "state.json")
    agent = agent_not_held_out("run-tests")
    apply({"run-tests": make_skill()}, tmp_path / "skills", state, agent)
    (tmp_path / "skills" / "run-tests" / "notes.md").write_text("user notes")
    apply({"run-tests": None}, tmp_path / "skills", state, agent)
    assert not (tmp_path / "skills" / "run-tests" / "SKILL.md").exists()
    assert (tmp_path / "skills" / "run-tests" / "notes.md").read_text() == "user notes"


def test_skill_missing_from_complete_read_is_removed_but_not_from_partial(tmp_path):
    state = SyncState(tmp_path / "state.json")
    agent = agent_not_held_out("run-tests", "lint")
    apply({"run-tests": make_skill(), "lint": make_skill("lint")}, tmp_path / "skills",
          state, agent)
    partial = apply({"lint": make_skill("lint")}, tmp_path / "skills", state, agent,
                    complete=False)
    assert not partial.removed and (tmp_path / "skills" / "run-tests").exists()
    full = apply({"lint": make_skill("lint")}, tmp_path / "skills", state, agent)
    assert full.removed == ["run-tests"]


def test_held_out_agent_gets_no_file_and_status_held_out(tmp_path):
    state = SyncState(tmp_path / "state.json")
    agent = agent_held_out("run-tests")
    report = apply({"run-tests": make_skill()}, tmp_path / "skills", state, agent)
    assert report.held_out == ["run-tests"] and not report.created
    assert not (tmp_path / "skills" / "run-tests").exists()
    assert skill_status("run-tests", 1, tmp_path / "skills", state,
                        agent_id=agent) == "held_out"


def test_other_workspace_or_mismatched_name_is_refused(tmp_path):
    state = SyncState(tmp_path / "state.json")
    agent = agent_not_held_out("run-tests", "lint")
    report = apply({"run-tests": make_skill(workspace="ws-b"),
                    "lint": make_skill("run-tests")}, tmp_path / "skills", state, agent)
    assert sorted(report.invalid) == ["lint", "run-tests"]
    assert not (tmp_path / "skills").exists()


def test_invalid_name_never_becomes_a_path(tmp_path):
    state = SyncState(tmp_path / "state.json")
    report = apply({"../escape": None}, tmp_path / "skills", state, "agent-1")
    assert report.invalid == ["../escape"]
    assert list(tmp_path.iterdir()) == []


def test_user_deleted_file_is_not_recreated_until_next_version(tmp_path):
    state = SyncState(tmp_path / "state.json")
    agent = agent_not_held_out("run-tests")
    apply({"run-tests": make_skill()}, tmp_path / "skills", state, agent)
    path = tmp_path / "skills" / "run-tests" / "SKILL.md"
    path.unlink()
    same = apply({"run-tests": make_skill()}, tmp_path / "skills", state, agent)
    assert same.kept_deleted == ["run-tests"] and not path.exists()
    newer = apply({"run-tests": make_skill(version=2)}, tmp_path / "skills", state, agent)
    assert newer.created == ["run-tests"] and path.exists()


def test_status_tracks_present_edited_and_absent(tmp_path):
    state = SyncState(tmp_path / "state.json")
    agent = agent_not_held_out("run-tests")
    skills_dir = tmp_path / "skills"
    assert skill_status("run-tests", 1, skills_dir, state, agent_id=agent) == "absent"
    apply({"run-tests": make_skill()}, skills_dir, state, agent)
    assert skill_status("run-tests", 1, skills_dir, state, agent_id=agent) == "present"
    assert skill_status("run-tests", 2, skills_dir, state, agent_id=agent) == "absent"
    (skills_dir / "run-tests" / "SKILL.md").write_text("edited")
    assert skill_status("run-tests", 1, skills_dir, state, agent_id=agent) == "conflict"


def test_state_round_trips_through_its_file(tmp_path):
    state = SyncState.load(tmp_path)
    agent = agent_not_held_out("run-tests")
    apply({"run-tests": make_skill()}, tmp_path / "skills", state, agent)
    state.live = {"run-tests": 1}
    state.save()
    again = SyncState.load(tmp_path)
    assert again.files == state.files and again.live == {"run-tests": 1}
    (tmp_path / "sync-state.json").write_text("{not json")
    assert SyncState.load(tmp_path).files == {}
