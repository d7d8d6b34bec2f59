"""agentd as a real process: started by capture's SessionStart, forwards, syncs, stops.

Hook payloads go through ``hivemind capture`` on stdin exactly as Claude Code sends them;
the SessionStart spawns agentd detached (producers.agentd.launch.ensure_running), which forwards
the session to Kafka, learns the project from the session's cwd, syncs the workspace's
skills into it and records the session's exposure. SIGTERM (``hivemind agentd --stop``)
stops it cleanly with the spool drained.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hivemind_kafka.producers.agentd import launch as agentd
from hivemind_kafka.producers.hook.spool import Spool, spool_dir
from hivemind_kafka.schemas.events import decode_turn_record
from hivemind_kafka.schemas.holdout import is_held_out
from hivemind_kafka.schemas.outcomes import Cohort, decode_exposure
from hivemind_kafka.schemas.skills import Decision, Skill, SkillProvenance
from hivemind_kafka.sinks.skills_publisher import SkillsPublisher
from tests.support.polling import wait_until
from tests.support.topic_reader import read_topic

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def edge_env(settings, home: Path, user_home: Path) -> dict[str, str]:
    t = settings.topics
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(user_home),
        "HIVEMIND_HOME": str(home), "HIVEMIND_BOOTSTRAP": settings.kafka.bootstrap,
        "HIVEMIND_WORKSPACE_ID": "ws-test", "HIVEMIND_KAFKA_PARTITIONS": "3",
        "HIVEMIND_TOPICS_TURNS": t.turns, "HIVEMIND_TOPICS_SKILLS": t.skills,
        "HIVEMIND_TOPICS_DLQ": t.dlq, "HIVEMIND_TOPICS_SESSIONS": t.sessions,
        "HIVEMIND_TOPICS_CANDIDATES": t.candidates, "HIVEMIND_TOPICS_TICKS": t.ticks,
        "HIVEMIND_EDGE_LINGER_MS": "50",
    }


def hook(env: dict, payload: dict, cwd: Path) -> None:
    """Run the hook as Claude Code does: the console script, in the session's cwd."""
    script = Path(sys.executable).parent / "hivemind"
    proc = subprocess.run([str(script), "capture"], cwd=cwd, env=env,
                          input=json.dumps(payload).encode(), capture_output=True, timeout=30)
    assert proc.returncode == 0 and proc.stdout == b""


def test_session_start_spawns_agentd_which_forwards_syncs_and_stops(settings, tmp_path):
    home, user_home, project = tmp_path / "hm", tmp_path / "user", tmp_path / "proj"
    for d in (home, user_home, project):
        d.mkdir()
    # A project with packages named like ours must not shadow them in agentd.
    for package in ("hivemind_kafka", "producers", "runtime"):
        (project / package).mkdir()
        (project / package / "__init__.py").write_text("raise SystemExit('shadowed')\n")
    agent = next(f"agent-{i}" for i in range(1000) if not is_held_out("run-tests", f"agent-{i}"))
    (home / "config.json").write_text(json.dumps({"workspace_id": "ws-test",
                                                  "agent_id": agent}))
    with SkillsPublisher(settings) as pub:
        pub.publish(Skill(workspace_id="ws-test", name="run-tests", description="Run tests",
                          body="Use make test.", version=1,
                          provenance=SkillProvenance(source_session_ids=["s0"],
                                                     codifier="offline",
                                                     decision=Decision.KEEP,
                                                     created_at=datetime.now(UTC))))
    env = edge_env(settings, home, user_home)
    sid = "sess-agentd-1"
    base = {"session_id": sid, "cwd": str(project), "transcript_path": "/dev/null"}
    try:
        hook(env, {**base, "hook_event_name": "SessionStart", "source": "startup"}, project)
        pid = wait_until(lambda: agentd.running_pid(home), 20, "agentd to take its lock")
        hook(env, {**base, "hook_event_name": "UserPromptSubmit", "prompt": "run the tests"}, project)
        hook(env, {**base, "hook_event_name": "PreToolUse", "tool_name": "Bash",
                   "tool_use_id": "tu1", "tool_input": {"command": "make test"}}, project)
        hook(env, {**base, "hook_event_name": "PostToolUse", "tool_name": "Bash",
                   "tool_use_id": "tu1", "tool_response": {"stdout": "ok", "stderr": ""}}, project)
        hook(env, {**base, "hook_event_name": "Stop", "last_assistant_message": "done"}, project)

        def kinds():
            events = [e for _k, v in read_topic(settings, settings.topics.turns)
                      for e in decode_turn_record(v) if e.session_id == sid]
            return sorted(e.seq for e in events) == [0, 1, 2, 3, 4] and events
        events = wait_until(kinds, 30, "the session's five events in Kafka")
        assert {e.workspace_id for e in events} == {"ws-test"}

        skill_md = project / ".claude" / "skills" / "run-tests" / "SKILL.md"
        wait_until(skill_md.exists, 30, "the skill synced into the session's project")
        exposures = wait_until(lambda: (home / "exposures.jsonl").exists() and [
            decode_exposure(line) for line in (home / "exposures.jsonl").read_bytes().splitlines()],
            30, "the session's exposure row")
        assert [(x.session_id, x.skill_name, x.cohort) for x in exposures] == [
            (sid, "run-tests", Cohort.PRESENT)]

        second = subprocess.run([sys.executable, "-m", "hivemind_kafka.producers.agentd.daemon", "--home", str(home)],
                                cwd=ROOT, env=env, capture_output=True, timeout=30)
        assert second.returncode == 0 and agentd.running_pid(home) == pid

        stop = subprocess.run([sys.executable, "-m", "hivemind_kafka.cli.main", "agentd", "--stop"], cwd=ROOT,
                              env=env, capture_output=True, text=True, timeout=40)
        assert stop.returncode == 0, stop.stdout + stop.stderr
        assert agentd.running_pid(home) is None
        assert Spool(spool_dir(home)).stats().records == 0
        status = subprocess.run([sys.executable, "-m", "hivemind_kafka.cli.main", "skillify", "--json"],
                                cwd=ROOT, env=env, capture_output=True, text=True, timeout=30)
        facts = json.loads(status.stdout)
        assert facts["broker"]["reachable"] and not facts["agentd"]["running"]
        assert facts["projects"][str(project.resolve())] == [
            {"name": "run-tests", "owner": "hivemind", "version": 1}]
        assert [s["session_id"] for s in facts["recent_sessions"]] == [sid]
    finally:
        leftover = agentd.running_pid(home)
        if leftover:
            os.kill(leftover, signal.SIGKILL)
