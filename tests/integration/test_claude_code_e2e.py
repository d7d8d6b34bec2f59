"""The real Claude Code CLI, end to end, offline: hooks -> spool -> agentd -> Kafka -> Delta,
then a published skill synced to disk shows up in the next session's prompt.

Claude Code talks only to tests.support.claude_stub (ANTHROPIC_BASE_URL); any other HTTP(S)
it might attempt goes to a dead proxy. Needs the CLI installed with
``npm install --prefix .cache/claude-code @anthropic-ai/claude-code`` (``make claude-code``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from producers import agentd
from schemas.events import EventKind, decode_turn_record
from schemas.holdout import is_held_out
from schemas.outcomes import Cohort, decode_exposure
from schemas.skills import Decision, Skill, SkillProvenance
from sinks.skills_publisher import SkillsPublisher
from tests.support.claude_stub import ClaudeStub, bash_then_answer
from tests.support.polling import wait_until
from tests.support.topic_reader import read_topic

ROOT = Path(__file__).resolve().parents[2]
CLAUDE = ROOT / ".cache" / "claude-code" / "node_modules" / ".bin" / "claude"
SKILL = "hivemind-e2e-check"
SKILL_DESCRIPTION = "Verify the Hivemind end to end marker file"

pytestmark = [
    pytest.mark.integration,
    pytest.mark.claude,
    pytest.mark.skipif(not CLAUDE.exists(), reason=(
        f"Claude Code CLI not installed at {CLAUDE}: run `make claude-code` or "
        "`npm install --prefix .cache/claude-code @anthropic-ai/claude-code`")),
]


def hivemind(env: dict, *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cli.main", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)


def claude(env: dict, stub: ClaudeStub, project: Path, prompt: str) -> subprocess.CompletedProcess:
    run_env = {**env, "ANTHROPIC_BASE_URL": stub.base_url, "ANTHROPIC_API_KEY": "sk-test-any",
               "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "IS_SANDBOX": "1",
               "DISABLE_AUTOUPDATER": "1",
               # Anything but the stub goes to a closed port: nothing reaches the internet.
               "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9",
               "NO_PROXY": "127.0.0.1,localhost"}
    return subprocess.run([str(CLAUDE), "-p", prompt, "--dangerously-skip-permissions"],
                          cwd=project, env=run_env, capture_output=True, text=True,
                          timeout=180)


def claude_version() -> str:
    return subprocess.run([str(CLAUDE), "--version"], capture_output=True, text=True,
                          timeout=60).stdout.strip()


def test_claude_code_session_is_captured_and_next_session_sees_synced_skill(settings, tmp_path):
    from sinks.delta_writer import read_table, run_sink

    home, user_home, project = tmp_path / "hm", tmp_path / "user", tmp_path / "proj"
    for d in (home, user_home, project):
        d.mkdir()
    agent = next(f"agent-{i}" for i in range(1000) if not is_held_out(SKILL, f"agent-{i}"))
    (home / "config.json").write_text(json.dumps({"agent_id": agent}))  # install keeps it
    t = settings.topics
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(user_home),
           "HIVEMIND_HOME": str(home), "HIVEMIND_BOOTSTRAP": settings.kafka.bootstrap,
           "HIVEMIND_WORKSPACE_ID": "ws-test", "HIVEMIND_KAFKA_PARTITIONS": "3",
           "HIVEMIND_TOPICS_TURNS": t.turns, "HIVEMIND_TOPICS_SKILLS": t.skills,
           "HIVEMIND_TOPICS_DLQ": t.dlq, "HIVEMIND_TOPICS_SESSIONS": t.sessions,
           "HIVEMIND_TOPICS_CANDIDATES": t.candidates, "HIVEMIND_TOPICS_TICKS": t.ticks,
           "HIVEMIND_EDGE_LINGER_MS": "50"}
    installed = hivemind(env, "install", "--scope", "project", "--project", str(project),
                         "--workspace", "ws-test")
    assert installed.returncode == 0, installed.stdout + installed.stderr
    hooks = json.loads((project / ".claude" / "settings.json").read_text())["hooks"]
    assert {"SessionStart", "PreToolUse", "Stop", "SessionEnd"} <= set(hooks)

    stop_sink = threading.Event()
    sink = threading.Thread(target=run_sink, args=(settings,),
                            kwargs={"stop": stop_sink, "tables": ["events"]}, daemon=True)
    sink.start()
    stub = ClaudeStub(bash_then_answer("echo hivemind-e2e > marker.txt", "Marker written."))
    try:
        with stub:
            first = claude(env, stub, project, "Write the marker file.")
            assert first.returncode == 0, first.stderr[-2000:]
            assert "Marker written." in first.stdout
            assert (project / "marker.txt").read_text().strip() == "hivemind-e2e"

            # Hooks fired and agentd (spawned by SessionStart) forwarded the session.
            def session_events():
                events = [e for _k, v in read_topic(settings, t.turns)
                          for e in decode_turn_record(v)]
                kinds = {e.kind for e in events}
                return EventKind.SESSION_END in kinds and events
            events = wait_until(session_events, 60, "the Claude Code session in Kafka")
            session_id = events[0].session_id
            assert {e.session_id for e in events} == {session_id}
            assert sorted(e.seq for e in events) == list(range(len(events)))
            by_kind = {e.kind: e for e in events}
            assert {EventKind.SESSION_START, EventKind.PROMPT, EventKind.TOOL_CALL,
                    EventKind.TOOL_RESULT, EventKind.STOP, EventKind.SESSION_END} <= set(by_kind)
            assert by_kind[EventKind.TOOL_CALL].tool_name == "Bash"
            assert "hivemind-e2e" in by_kind[EventKind.TOOL_CALL].tool_input
            assert by_kind[EventKind.PROMPT].text == "Write the marker file."
            assert {e.agent_id for e in events} == {agent}

            # ... and the Delta sink wrote each of them once.
            ids = sorted(e.event_id for e in events)
            wait_until(lambda: sorted(read_table(settings, "events").column("event_id")
                                      .to_pylist()) == ids, 60, "the events in Delta")

            listing = f"- {SKILL}: {SKILL_DESCRIPTION}"
            assert not any(listing in r.text() for r in stub.messages_requests())
            with SkillsPublisher(settings) as pub:
                pub.publish(Skill(
                    workspace_id="ws-test", name=SKILL, description=SKILL_DESCRIPTION,
                    body="Run `cat marker.txt` and expect `hivemind-e2e`.", version=1,
                    provenance=SkillProvenance(source_session_ids=[session_id],
                                               codifier="offline", decision=Decision.KEEP,
                                               created_at=datetime.now(UTC))))
            synced = hivemind(env, "sync")
            assert synced.returncode == 0, synced.stdout + synced.stderr
            assert (project / ".claude" / "skills" / SKILL / "SKILL.md").exists()

            seen = len(stub.messages_requests())
            second = claude(env, stub, project, "Check the marker file.")
            assert second.returncode == 0, second.stderr[-2000:]
            later = stub.messages_requests()[seen:]
            assert later and any(listing in r.text() for r in later), (
                f"no request of the second session lists {listing!r}")
            assert stub.unanswered() == [], [r.path for r in stub.unanswered()]

            # The second session's exposure: the skill was present when it started.
            def second_exposure():
                path = home / "exposures.jsonl"
                rows = [decode_exposure(x) for x in path.read_bytes().splitlines()] \
                    if path.exists() else []
                return [r for r in rows if r.skill_name == SKILL and r.session_id != session_id]
            rows = wait_until(second_exposure, 60, "the second session's exposure row")
            assert {r.cohort for r in rows} == {Cohort.PRESENT}
    finally:
        stop_sink.set()
        hivemind(env, "agentd", "--stop")
        leftover = agentd.running_pid(home)
        if leftover:
            os.kill(leftover, signal.SIGKILL)
        sink.join(30)
    print(f"claude version: {claude_version()}")
