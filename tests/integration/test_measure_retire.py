"""`hivemind report --retire` on the real broker: a measurably harmful skill is tombstoned
on the skills topic with its evidence recorded; helpful and null skills stay live."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pytest
from confluent_kafka import Consumer, TopicPartition
from deltalake import write_deltalake
from prometheus_client import REGISTRY

from hivemind_kafka.cli.main import main as hivemind
from hivemind_kafka.runtime.kafka import consumer_config
from hivemind_kafka.schemas.holdout import HoldoutDesign
from hivemind_kafka.schemas.skills import Decision, Skill, SkillProvenance, parse_skill_key
from hivemind_kafka.sinks.skills_publisher import SkillsPublisher

pytestmark = pytest.mark.integration


START = datetime(2026, 9, 7, tzinfo=UTC)
EFFECTS = {"helps": 0.2, "nothing": 0.0, "hurts": -0.2}


def _fleet() -> tuple[dict[str, pa.Table], list[tuple[str, str]]]:
    """One workspace, 30 agents, 21 days, 2 sessions a day, the three skills above in
    scope of every session under the default switchback (cohorts recorded)."""
    design = HoldoutDesign()
    rng = np.random.default_rng(4)
    ts = pa.timestamp("us", tz="UTC")
    sessions, outcomes, exposures = [], [], []
    for a in range(30):
        agent = f"agent-{a:02d}"
        for d in range(21):
            for k in range(2):
                sid = f"s-{agent}-{d}-{k}"
                start = START + timedelta(days=d, hours=9 + 4 * k)
                p = 0.5
                for name, effect in EFFECTS.items():
                    held = design.is_held_out(name, agent, start)
                    p += -effect / 2 if held else effect / 2  # present minus held = effect
                    exposures.append((sid, agent, name, "held_out" if held else "present", start))
                sessions.append((sid, agent, start))
                ok = rng.random() < min(max(p, 0.02), 0.98)
                outcomes.append((sid, "success" if ok else "failure", start + timedelta(hours=2)))
    tables = {
        "sessions": pa.table({"workspace_id": ["ws-r"] * len(sessions),
                              "session_id": [s[0] for s in sessions],
                              "agent_id": [s[1] for s in sessions],
                              "started_at": pa.array([s[2] for s in sessions], ts)}),
        "outcomes": pa.table({"outcome_id": [f"o-{o[0]}" for o in outcomes],
                              "workspace_id": ["ws-r"] * len(outcomes),
                              "session_id": [o[0] for o in outcomes],
                              "label": [o[1] for o in outcomes], "result": [o[1] for o in outcomes],
                              "source": ["signal"] * len(outcomes),
                              "ts": pa.array([o[2] for o in outcomes], ts)}),
        "skills": pa.table({"workspace_id": ["ws-r"] * 3, "name": list(EFFECTS),
                            "version": [1, 1, 1], "retired": [False] * 3,
                            "published_at": pa.array([START - timedelta(days=1)] * 3, ts)}),
        "exposures": pa.table({"workspace_id": ["ws-r"] * len(exposures),
                               "session_id": [e[0] for e in exposures],
                               "agent_id": [e[1] for e in exposures],
                               "skill_name": [e[2] for e in exposures],
                               "skill_version": [1] * len(exposures),
                               "cohort": [e[3] for e in exposures],
                               "invoked": [False] * len(exposures),
                               "ts": pa.array([e[4] for e in exposures], ts)}),
    }
    return tables, [("ws-r", name) for name in EFFECTS]


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
    tables, skills = _fleet()
    harmful = [("ws-r", "hurts")]
    lake = settings.lake.uri
    for name, table in tables.items():
        write_deltalake(f"{lake}/{name}", table)
    with SkillsPublisher(settings) as publisher:
        for ws, name in skills:
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
    assert all(latest[k] is not None for k in skills if k not in harmful)
    evidence = [json.loads(line) for line in
                (settings.edge.home_path() / "retirements.jsonl").read_text().splitlines()]
    assert [(e["workspace_id"], e["skill_name"]) for e in evidence] == harmful
    assert evidence[0]["effect_high"] < 0
    assert evidence[0]["held_out_clusters"] >= 10
    assert REGISTRY.get_sample_value("hivemind_measure_retirements_total",
                                     {"outcome": "retired"}) == before + 1
