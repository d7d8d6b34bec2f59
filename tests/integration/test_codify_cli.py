"""``hivemind skills list|show|retire`` against the real broker."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hivemind_kafka.cli.main import main
from hivemind_kafka.runtime.settings import to_env
from hivemind_kafka.schemas.skills import Decision, Skill, SkillProvenance
from hivemind_kafka.sinks.skills_publisher import SkillsPublisher, read_skill_log

pytestmark = pytest.mark.integration


def skill(name: str, version: int = 1) -> Skill:
    return Skill(workspace_id="ws-test", name=name, description="Use when pytest is missing.",
                 body="```\npython -m pytest\n```\n", version=version,
                 provenance=SkillProvenance(source_session_ids=["s1"], candidate_id="c1",
                                            codifier="offline", decision=Decision.KEEP,
                                            created_at=datetime(2026, 11, 26, tzinfo=UTC)))


def test_list_show_retire_round_trip(settings, monkeypatch, capsys):
    for key, value in to_env(settings).items():
        monkeypatch.setenv(key, value)
    with SkillsPublisher(settings) as pub:
        pub.publish(skill("run-pytest"))
        pub.publish(skill("run-pytest", 2))
        pub.publish(skill("other-skill"))

    assert main(["skills", "list"]) == 0
    out = capsys.readouterr().out
    assert "run-pytest" in out and "other-skill" in out and "  2 KEEP" in out

    assert main(["skills", "show", "run-pytest"]) == 0
    shown = capsys.readouterr()
    out = shown.out
    assert out.startswith("---\nname: run-pytest\ndescription: \"Use when pytest is missing.\"")
    assert "python -m pytest" in out and 'skill_version: "2"' in out
    assert "version 2" in shown.err  # the provenance, kept out of the SKILL.md text

    assert main(["skills", "retire", "run-pytest", "--reason", "harmful"]) == 0
    assert read_skill_log(settings)[("ws-test", "run-pytest")] is None
    capsys.readouterr()
    assert main(["skills", "show", "run-pytest"]) == 1
    assert "retired" in capsys.readouterr().out
    assert main(["skills", "retire", "run-pytest"]) == 1  # nothing live to retire
