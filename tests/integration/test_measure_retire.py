"""`hivemind report --retire` on the real broker: a measurably harmful skill is tombstoned
on the skills topic with its evidence recorded; helpful and null skills stay live."""

from __future__ import annotations

import json
import time

import pytest
from confluent_kafka import Consumer, TopicPartition
from deltalake import write_deltalake
from prometheus_client import REGISTRY

from analytics.simulator import START, SimConfig, simulate
from cli.main import main as hivemind
from runtime.kafka import consumer_config
from schemas.skills import Decision, Skill, SkillProvenance, parse_skill_key
from sinks.skills_publisher import SkillsPublisher

pytestmark = pytest.mark.integration


def _skill(ws: str, name: str) -> Skill:
    return Skill(workspace_id=ws, name=name, description=f"{name} description", body="body",
                 version=1, provenance=SkillProvenance(source_session_ids=["s"], codifier="offline",
                                                       decision=Decision.KEEP, created_at=START))


def _last_values(settings, timeout: float = 30.0) -> dict[tuple[str, str], bytes | None]:
    """The latest value per key on the skills topic (read to the high watermarks)."""
    consumer = Consumer(consumer_config(settings, f"retire-check-{time.monotonic_ns()}"))
    try:
        meta = consumer.list_topics(settings.topics.skills, timeout=10)
        parts = [TopicPartition(settings.topics.skills, p, 0)
                 for p in meta.topics[settings.topics.skills].partitions]
        ends = {p.partition: consumer.get_watermark_offsets(p, timeout=10)[1] for p in parts}
        consumer.assign(parts)
        latest: dict[tuple[str, str], bytes | None] = {}
        done = {p for p, end in ends.items() if end == 0}
        deadline = time.monotonic() + timeout
        while len(done) < len(ends) and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            latest[parse_skill_key(msg.key())] = msg.value()
            if msg.offset() + 1 >= ends[msg.partition()]:
                done.add(msg.partition())
        assert len(done) == len(ends), "skills topic not read to its end"
        return latest
    finally:
        consumer.close()


def test_report_retire_tombstones_only_the_harmful_skill(settings, tmp_path, monkeypatch, capsys):
    fleet = simulate(SimConfig(workspaces=1, skills_per_workspace=3, sessions_per_workspace=6000,
                               agents_per_workspace=400, seed=4))
    harmful = [k for k, effect in fleet.truth.items() if effect < 0]
    assert len(harmful) == 1
    lake = settings.lake.uri
    for name, table in (("sessions", fleet.sessions), ("outcomes", fleet.outcomes),
                        ("skills", fleet.skills), ("exposures", fleet.exposures)):
        write_deltalake(f"{lake}/{name}", table)
    with SkillsPublisher(settings) as publisher:
        for ws, name in fleet.truth:
            publisher.publish(_skill(ws, name))

    for env, value, _field in settings.describe():
        if "Secret(" not in value and value != "None":
            monkeypatch.setenv(env, value)
    before = REGISTRY.get_sample_value("hivemind_measure_retirements_total",
                                       {"outcome": "retired"}) or 0.0
    assert hivemind(["report", "--retire"]) == 0
    out = capsys.readouterr().out
    assert f"retire {harmful[0][0]}/{harmful[0][1]}: retired" in out

    latest = _last_values(settings)
    assert {k for k, v in latest.items() if v is None} == set(harmful)
    assert all(latest[k] is not None for k in fleet.truth if k not in harmful)
    evidence = [json.loads(line) for line in
                (settings.edge.home_path() / "retirements.jsonl").read_text().splitlines()]
    assert [(e["workspace_id"], e["skill_name"]) for e in evidence] == harmful
    assert evidence[0]["effect_high"] < 0
    assert REGISTRY.get_sample_value("hivemind_measure_retirements_total",
                                     {"outcome": "retired"}) == before + 1
