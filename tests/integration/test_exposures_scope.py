"""Exposures end to end over the real broker: the sync records which skill versions this
agent has per project, a `hivemind capture` SessionStart in that project is spooled with
them, the forwarder sends it on the turns topic, and the sink's exposures table holds one
assignment row per skill with its cohort (present / held_out) and version."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hivemind_kafka.analytics.lake import read_table
from hivemind_kafka.producers.agentd.forwarder import Forwarder
from hivemind_kafka.producers.hook.spool import Spool, spool_dir
from hivemind_kafka.producers.sync.skill_sync import sync_once
from hivemind_kafka.runtime.kafka import ensure_topics
from hivemind_kafka.schemas.holdout import is_held_out
from hivemind_kafka.schemas.skills import Decision, Skill, SkillProvenance
from hivemind_kafka.sinks.delta_writer import run_sink
from hivemind_kafka.sinks.skills_publisher import SkillsPublisher
from tests.conftest import make_settings
from tests.support.polling import wait_until

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def skill(name: str, version: int) -> Skill:
    return Skill(workspace_id="ws-test", name=name, description=f"How to {name} here",
                 body=f"# {name}\n\nDo it.\n", version=version,
                 provenance=SkillProvenance(source_session_ids=["s0"], codifier="offline",
                                            decision=Decision.KEEP,
                                            created_at=datetime.now(UTC)))


def agent_present_and_held_out(present: str, held: str) -> str:
    return next(f"agent-{i}" for i in range(10000)
                if not is_held_out(present, f"agent-{i}") and is_held_out(held, f"agent-{i}"))


def run_hook(home: Path, payload: dict) -> None:
    env = {k: v for k, v in os.environ.items() if k != "HIVEMIND_WORKSPACE_ID"}
    env["HIVEMIND_HOME"] = str(home)
    done = subprocess.run([sys.executable, "-m", "hivemind_kafka.cli.main", "capture"], cwd=ROOT, env=env,
                          input=json.dumps(payload).encode(), capture_output=True, timeout=60)
    assert done.returncode == 0 and done.stdout == b"" and done.stderr == b"", done


def test_session_start_exposures_reach_the_delta_table_with_cohorts_and_versions(broker, tmp_path):
    settings = make_settings(broker.bootstrap, tmp_path, edge={"linger_ms": 50})
    ensure_topics(settings)
    home = settings.edge.home_path()
    project = tmp_path / "app"
    (project / ".git").mkdir(parents=True)
    (project / "src").mkdir()
    agent = agent_present_and_held_out("run-tests", "lint-fix")
    with SkillsPublisher(settings) as pub:
        pub.publish(skill("run-tests", 3))
        pub.publish(skill("lint-fix", 2))

    # 1. The sync writes the skill files and the scope of this project.
    result = sync_once(settings, agent_id=agent, projects=[project])
    assert result.complete and result.report.held_out == ["lint-fix"]

    # 2. The Claude Code hook, as installed, for a session in a subdirectory of it.
    (home / "config.json").write_text(json.dumps({
        "workspace_id": "ws-test", "agent_id": agent, "agent_kind": "coding",
        "agentd_autostart": False}))
    common = {"session_id": "sess-exp-1", "transcript_path": "/tmp/t.jsonl",
              "cwd": str(project / "src")}
    run_hook(home, {**common, "hook_event_name": "SessionStart", "source": "startup"})
    run_hook(home, {**common, "hook_event_name": "Stop", "stop_hook_active": False,
                    "last_assistant_message": "done"})
    spool = Spool(spool_dir(home))
    assert spool.stats().records == 2

    # 3. The forwarder (agentd's sender) ships the spool to the turns topic; 4. the sink.
    stop = threading.Event()
    forwarder = Forwarder(settings, stats_interval_s=0.2)
    threads = [threading.Thread(target=forwarder.run, args=(stop,), daemon=True),
               threading.Thread(target=run_sink, args=(settings,), daemon=True,
                                kwargs={"stop": stop, "tables": ["exposures"]})]
    for t in threads:
        t.start()
    try:
        wait_until(lambda: spool.stats().records == 0, 60, "the spool forwarded")

        def scope_rows():
            table = read_table(settings, "exposures")
            rows = table.to_pylist() if table is not None else []
            return rows if len(rows) >= 2 else None

        rows = wait_until(scope_rows, 90, "two exposure rows in the lake")
    finally:
        stop.set()
        for t in threads:
            t.join(20)
    assert sorted((r["exposure_id"], r["session_id"], r["agent_id"], r["skill_name"],
                   r["skill_version"], r["cohort"], r["invoked"]) for r in rows) == [
        ("sess-exp-1/lint-fix/scope", "sess-exp-1", agent, "lint-fix", 2, "held_out", False),
        ("sess-exp-1/run-tests/scope", "sess-exp-1", agent, "run-tests", 3, "present", False),
    ]
    assert {r["workspace_id"] for r in rows} == {"ws-test"}
