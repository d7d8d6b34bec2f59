"""The library against hostile skills-topic records: a version whose workspace or name is
not its key's stays out (counted); the key's earlier state stands. Written before the rule."""

from __future__ import annotations

from datetime import UTC, datetime

from hivemind_kafka.schemas.skills import Decision, Skill, SkillProvenance
from hivemind_kafka.streams.codifier.library import Library


def _skill() -> Skill:
    return Skill(workspace_id="ws-a", name="run-tests", description="Run the tests",
                 body="Run `python -m pytest`.", version=1,
                 provenance=SkillProvenance(source_session_ids=["s1"], candidate_id="c1",
                                            codifier="offline", decision=Decision.KEEP,
                                            created_at=datetime(2026, 1, 1, tzinfo=UTC)))


def test_a_skill_under_another_workspaces_key_is_ignored_and_counted():
    skill = _skill()
    library = Library()
    assert library.apply(("ws-other", skill.name), skill) is False
    assert library.apply((skill.workspace_id, "another-name"), skill) is False
    assert library.mismatched == 2
    assert library.skills() == [] and library.get("ws-other", skill.name) is None
    assert not library.has_candidate("c1")


def test_a_matching_skill_is_applied_and_a_tombstone_for_an_unknown_key_is_harmless():
    skill = _skill()
    library = Library()
    assert library.apply(("ws-nobody", "never-published"), None) is True
    assert library.apply((skill.workspace_id, skill.name), skill) is True
    assert library.get(skill.workspace_id, skill.name) == skill
    assert library.mismatched == 0
