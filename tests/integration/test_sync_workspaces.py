"""Skill sync against the real broker: workspace isolation, tombstones, user edits."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from prometheus_client import REGISTRY

from hivemind_kafka.producers.sync.skill_files import SyncState
from hivemind_kafka.producers.sync.skill_sync import (
    read_skills_views,
    read_workspace_skills,
    sync_once,
)
from hivemind_kafka.schemas.holdout import is_held_out
from hivemind_kafka.schemas.outcomes import Cohort, decode_exposure
from hivemind_kafka.schemas.skills import Decision, Skill, SkillProvenance
from hivemind_kafka.sinks.skills_publisher import SkillsPublisher

pytestmark = pytest.mark.integration


def skill(ws: str, name: str, version: int = 1, body: str = "Do the thing.") -> Skill:
    return Skill(workspace_id=ws, name=name, description=f"How to {name} here",
                 body=f"# {name}\n\n{body}\n", version=version,
                 provenance=SkillProvenance(source_session_ids=["s1"], codifier="offline",
                                            decision=Decision.KEEP,
                                            created_at=datetime.now(UTC)))


def agent_outside_holdout(*names: str) -> str:
    return next(f"agent-{i}" for i in range(1000)
                if not any(is_held_out(n, f"agent-{i}") for n in names))


def agent_inside_holdout(name: str) -> str:
    return next(f"agent-{i}" for i in range(10000) if is_held_out(name, f"agent-{i}"))


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_machine_gets_only_its_workspace_and_tombstone_removes(settings, tmp_path):
    project = tmp_path / "proj"
    project.mkdir()
    agent = agent_outside_holdout("run-tests", "lint-fix", "deploy-app")
    with SkillsPublisher(settings) as pub:
        pub.publish(skill("ws-test", "run-tests"))
        pub.publish(skill("ws-test", "lint-fix"))
        pub.publish(skill("ws-other", "deploy-app"))
    result = sync_once(settings, agent_id=agent, projects=[project])
    skills_dir = project / ".claude" / "skills"
    assert result.complete and result.error is None
    assert sorted(p.name for p in skills_dir.iterdir()) == ["lint-fix", "run-tests"]
    assert "name: run-tests" in (skills_dir / "run-tests" / "SKILL.md").read_text()

    with SkillsPublisher(settings) as pub:
        pub.retire("ws-test", "lint-fix", reason="superseded")
    result = sync_once(settings, agent_id=agent, projects=[project])
    assert result.report.removed == ["lint-fix"]
    assert sorted(p.name for p in skills_dir.iterdir()) == ["run-tests"]


def test_edited_file_survives_new_version_and_is_reported(settings, tmp_path):
    project = tmp_path / "proj"
    project.mkdir()
    agent = agent_outside_holdout("run-tests")
    with SkillsPublisher(settings) as pub:
        pub.publish(skill("ws-test", "run-tests"))
    sync_once(settings, agent_id=agent, projects=[project])
    path = project / ".claude" / "skills" / "run-tests" / "SKILL.md"
    path.write_text(path.read_text() + "\nLocal note: use -x.\n")
    edited = path.read_bytes()
    conflicts_before = metric("hivemind_sync_conflicts_total")

    with SkillsPublisher(settings) as pub:
        pub.publish(skill("ws-test", "run-tests", version=2, body="New way."))
    result = sync_once(settings, agent_id=agent, projects=[project])
    assert path.read_bytes() == edited
    assert [(c.name, c.version, c.reason) for c in result.report.conflicts] == [
        ("run-tests", 2, "edited")]
    assert metric("hivemind_sync_conflicts_total") == conflicts_before + 1
    state = SyncState.load(settings.edge.home_path())
    assert state.conflicts[str(path)]["version"] == 2


def test_read_sees_every_record_of_a_multi_record_batch(settings):
    """tansu reports the high watermark as the last *batch* base offset + 1: the reader
    must still see every skill of a batch produced in one go."""
    from confluent_kafka import Producer

    from hivemind_kafka.runtime.kafka import producer_config
    from hivemind_kafka.schemas.skills import encode_skill, skill_key

    producer = Producer(producer_config(settings, **{"linger.ms": 200}))
    names = [f"skill-{i}" for i in range(12)]
    for name in names:
        producer.produce(settings.topics.skills, encode_skill(skill("ws-test", name)),
                         skill_key("ws-test", name))
    assert producer.flush(15) == 0
    view = read_workspace_skills(settings, "ws-test")
    assert view.complete and sorted(view.skills) == sorted(names)


def test_one_pass_over_several_workspaces_reads_what_each_read_alone_does(settings):
    with SkillsPublisher(settings) as pub:
        pub.publish(skill("ws-a", "run-tests"))
        pub.publish(skill("ws-b", "run-tests", version=2))
        pub.publish(skill("ws-b", "lint"))
        pub.retire("ws-b", "lint", reason="harmful")
    views = read_skills_views(settings, ["ws-a", "ws-b", "ws-none"])
    for ws, view in views.items():
        alone = read_workspace_skills(settings, ws)
        assert view.complete and alone.complete
        assert view.skills == alone.skills, ws
    assert sorted(views["ws-a"].skills) == ["run-tests"]
    assert views["ws-b"].skills["lint"] is None
    assert views["ws-b"].skills["run-tests"].skill.version == 2
    assert views["ws-none"].skills == {}


def test_holdout_agent_gets_no_file_and_exposures_say_so(settings, tmp_path):
    project = tmp_path / "proj"
    project.mkdir()
    held = agent_inside_holdout("run-tests")
    with SkillsPublisher(settings) as pub:
        pub.publish(skill("ws-test", "run-tests", version=3))
    result = sync_once(settings, agent_id=held, projects=[project], session_id="sess-1",
                       session_project=project)
    assert result.report.held_out == ["run-tests"]
    assert not (project / ".claude" / "skills" / "run-tests").exists()
    lines = (settings.edge.home_path() / "exposures.jsonl").read_bytes().splitlines()
    rows = [decode_exposure(line) for line in lines]
    assert [(r.session_id, r.skill_name, r.skill_version, r.cohort, r.agent_id)
            for r in rows] == [("sess-1", "run-tests", 3, Cohort.HELD_OUT, held)]


def test_unreachable_broker_changes_nothing(settings, tmp_path):
    project = tmp_path / "proj"
    project.mkdir()
    agent = agent_outside_holdout("run-tests")
    with SkillsPublisher(settings) as pub:
        pub.publish(skill("ws-test", "run-tests"))
    sync_once(settings, agent_id=agent, projects=[project])
    dead = settings.replace(kafka={"bootstrap": "127.0.0.1:1"})
    result = sync_once(dead, agent_id=agent, projects=[project], timeout_s=1.0)
    assert result.error is not None and not result.report.removed
    assert (project / ".claude" / "skills" / "run-tests" / "SKILL.md").exists()


def test_skills_show_prints_the_file_sync_writes(settings, tmp_path, capsys):
    """`hivemind skills show` and sync share one renderer and one read: stdout is the
    SKILL.md agents load, byte for byte (a description holding YAML line breaks too)."""
    import argparse

    from hivemind_kafka.cli.skills_cmd import run_show

    project = tmp_path / "proj"
    project.mkdir()
    agent = agent_outside_holdout("run-tests")
    hostile = skill("ws-test", "run-tests", version=2, body="Run `make test`.\u2028Then lint.")
    hostile = Skill(**{**{f: getattr(hostile, f) for f in hostile.__struct_fields__},
                       "description": 'Tests: "quoted"\u2028next\x85line # not a comment'})
    with SkillsPublisher(settings) as pub:
        pub.publish(hostile)
    assert sync_once(settings, agent_id=agent, projects=[project]).complete
    written = (project / ".claude" / "skills" / "run-tests" / "SKILL.md").read_bytes()
    capsys.readouterr()
    code = run_show(argparse.Namespace(name="run-tests", workspace="ws-test"), settings)
    out = capsys.readouterr()
    assert code == 0
    assert out.out.encode() == written
    assert "provenance: version 2" in out.err


def test_skill_log_survives_hostile_keys_and_sees_a_whole_batch(settings):
    """The publisher's reader (skills list/show, the codifier's library) on the same read
    as sync: a key that is not UTF-8 or has no slash, an undecodable value, and a
    multi-record batch whose last records lie past tansu's reported high watermark."""
    from confluent_kafka import Producer

    from hivemind_kafka.runtime.kafka import producer_config
    from hivemind_kafka.schemas.skills import encode_skill, skill_key
    from hivemind_kafka.sinks.skills_publisher import list_skills, read_skill_log

    producer = Producer(producer_config(settings, **{"linger.ms": 200}))
    producer.produce(settings.topics.skills, encode_skill(skill("ws-test", "a-skill")),
                     b"acme/\xff\xfe")
    producer.produce(settings.topics.skills, encode_skill(skill("ws-test", "a-skill")),
                     b"no-slash")
    producer.produce(settings.topics.skills, b"\x00garbage", skill_key("ws-test", "junk"))
    names = [f"skill-{i}" for i in range(12)]
    for name in names:
        producer.produce(settings.topics.skills, encode_skill(skill("ws-test", name)),
                         skill_key("ws-test", name))
    assert producer.flush(15) == 0
    assert sorted(name for (_, name) in read_skill_log(settings)) == sorted(names)
    assert [s.name for s in list_skills(settings, "ws-test")] == sorted(names)
