"""The real Claude Code CLI, end to end, offline: the loop learns from a real session and
gives the lesson back to the next ones, with nothing published by test code.

Session 1 runs a tool and ends its turn (``Stop``); resumed (``claude --resume``), it gets
the user's correction, the corrected tool call, ``Stop``, ``SessionEnd``. The installed
hooks capture it, agentd (started by the first SessionStart) forwards it, and the real
workers (sessionizer, Delta sink, offline codifier, as ``hivemind up`` runs them) turn
the correction into a skill on the skills topic. agentd's sync caches it; the next
SessionStart in a new project pulls it into ``.claude/skills`` (no sync has seen that
project), and the session after lists it to the model, which invokes it. The exposure
rows in Delta name the version each session had. A second test rejects a proposed edit
through Claude Code's own permission prompt and finds the rejection in the session's edit
counts and in the edit-acceptance headline on the lake.

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
from pathlib import Path

import pytest

from hivemind_kafka.producers.agentd import launch as agentd
from hivemind_kafka.producers.hook.skill_pull import read_cache
from hivemind_kafka.runtime.settings import to_env
from hivemind_kafka.runtime.supervisor import Supervisor, child_env
from hivemind_kafka.schemas.events import EventKind, decode_turn_record
from hivemind_kafka.schemas.holdout import is_held_out
from hivemind_kafka.sinks.skills_publisher import list_skills
from hivemind_kafka.streams.codifier.offline import draft_offline
from tests.support import claude_cli
from tests.support.claude_cli import StreamSession, run_print
from tests.support.claude_stub import (
    ClaudeStub,
    Text,
    ToolUse,
    last_prompt,
    last_tool_use,
    skill_listing,
    tool_results,
)
from tests.support.polling import wait_until
from tests.support.topic_reader import read_topic
from tests.unit.streams.codifier.builders import bash, candidate, prompt, session

ROOT = Path(__file__).resolve().parents[2]
WS = "ws-test"
FIRST = "echo hivemind-e2e > marker.txt"
FIXED = "printf 'hivemind-e2e\\n' > marker.txt"
CORRECTION = "No, use printf instead of echo for the marker file."

pytestmark = [
    pytest.mark.integration,
    pytest.mark.claude,
    pytest.mark.skipif(not claude_cli.CLAUDE.exists(), reason=claude_cli.MISSING),
]


def hivemind(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hivemind_kafka.cli.main", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


def edge_env(settings, home: Path, user_home: Path) -> dict[str, str]:
    """What the user's shell gives Claude Code, hence its hooks and the agentd they start."""
    t = settings.topics
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(user_home),
            "HIVEMIND_HOME": str(home), "HIVEMIND_BOOTSTRAP": settings.kafka.bootstrap,
            "HIVEMIND_WORKSPACE_ID": WS, "HIVEMIND_KAFKA_PARTITIONS": "3",
            "HIVEMIND_TOPICS_TURNS": t.turns, "HIVEMIND_TOPICS_SKILLS": t.skills,
            "HIVEMIND_TOPICS_DLQ": t.dlq, "HIVEMIND_TOPICS_SESSIONS": t.sessions,
            "HIVEMIND_TOPICS_CANDIDATES": t.candidates, "HIVEMIND_TOPICS_TICKS": t.ticks,
            "HIVEMIND_EDGE_LINGER_MS": "50", "HIVEMIND_EDGE_SYNC_INTERVAL_S": "1"}


def install(env: dict, user_home: Path) -> None:
    installed = hivemind(env, "install", "--workspace", WS)  # ~/.claude/settings.json
    assert installed.returncode == 0, installed.stdout + installed.stderr
    hooks = json.loads((user_home / ".claude" / "settings.json").read_text())["hooks"]
    assert {"SessionStart", "PreToolUse", "PermissionRequest", "Stop", "SessionEnd"} <= set(hooks)


def workers(settings, tmp_path: Path, *components: str) -> Supervisor:
    sup = Supervisor(env=child_env(to_env(settings)), log_dir=tmp_path / "logs",
                     components=list(components))
    sup.start()
    return sup


def stop_agentd(env: dict, home: Path) -> None:
    hivemind(env, "agentd", "--stop")
    leftover = agentd.running_pid(home)
    if leftover:
        os.kill(leftover, signal.SIGKILL)


def turn_events(settings, session_id: str) -> list:
    return [e for _k, v in read_topic(settings, settings.topics.turns)
            for e in decode_turn_record(v) if e.session_id == session_id]


def delta_rows(settings, table: str) -> list[dict]:
    from hivemind_kafka.sinks.delta_writer import read_table

    try:
        return read_table(settings, table).to_pylist()
    except Exception:  # not created yet
        return []


def main_requests(stub: ClaudeStub, since: int) -> list:
    """The main-loop Messages requests after the first ``since`` (side requests, e.g. for
    a title, offer no tools)."""
    return [r for r in stub.messages_requests()[since:] if "Bash" in r.tool_names]


def expected_skill() -> str:
    """The name the offline codifier gives this correction (computed, not assumed)."""
    draft = draft_offline(candidate(session(
        [prompt("Write the marker file."), bash(FIRST, ""), prompt(CORRECTION),
         bash(FIXED, "")], workspace=WS)))
    return draft.name


def agent_for(skill: str) -> str:
    """An agent id the holdout gives ``skill`` to (so the lesson can come back to it)."""
    return next(f"agent-{i}" for i in range(1000) if not is_held_out(skill, f"agent-{i}"))


def marker_script(skill: str):
    """The model: writes the marker with echo; after the correction, with printf; in a
    session that lists ``skill``, invokes it first (Claude Code sends its body back)."""
    def script(body: dict):
        if "Bash" not in {t.get("name") for t in body.get("tools") or []}:
            return Text("ok")  # side requests (titles...)
        asked = last_prompt(body)
        if asked:
            if "printf" in asked:
                return ToolUse("Bash", {"command": FIXED, "description": "write it"})
            if f"- {skill}:" in "\n".join(_strings(body)):
                return ToolUse("Skill", {"skill": skill}, text="Using the team's skill.")
            return ToolUse("Bash", {"command": FIRST, "description": "write it"})
        previous = last_tool_use(body) or {}
        if previous.get("name") == "Skill":
            return ToolUse("Bash", {"command": FIXED, "description": "write it as the skill says"})
        return Text(f"Marker written ({tool_results(body)} tool results).")
    return script


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def test_correction_in_a_resumed_session_becomes_a_skill_the_next_sessions_are_given(
        settings, tmp_path):
    settings = settings.replace(sessionizer={"tick_interval_s": 0.5, "arrival_grace_s": 1},
                                lake={"flush_seconds": 0.5})
    home, user_home = tmp_path / "hm", tmp_path / "user"
    shop, fresh = tmp_path / "shop", tmp_path / "fresh"
    for d in (home, user_home, shop / ".git", fresh / ".git"):
        d.mkdir(parents=True)
    skill = expected_skill()
    agent = agent_for(skill)
    (home / "config.json").write_text(json.dumps({"agent_id": agent}))  # install keeps it
    env = edge_env(settings, home, user_home)
    install(env, user_home)
    sup = workers(settings, tmp_path, "sessionizer", "sink", "codifier")
    stub = ClaudeStub(marker_script(skill))
    try:
        with stub:
            # Session 1: a tool, a Stop; resumed: the correction, the fixed call, a Stop.
            first = run_print(env, stub, shop, "Write the marker file.")
            sid = first["session_id"]
            resumed = run_print(env, stub, shop, CORRECTION, resume=sid)
            assert resumed["session_id"] == sid
            assert (shop / "marker.txt").read_text() == "hivemind-e2e\n"

            events = wait_until(lambda: (lambda ev: sum(e.kind == EventKind.SESSION_END
                                                        for e in ev) == 2 and ev)(
                turn_events(settings, sid)), 60, "both runs of session 1 in Kafka")
            assert sorted(e.seq for e in events) == list(range(len(events)))
            starts = [e.reason for e in sorted(events, key=lambda e: e.seq)
                      if e.kind == EventKind.SESSION_START]
            assert starts == ["startup", "resume"]
            prompts = [(e.turn, e.text) for e in events if e.kind == EventKind.PROMPT]
            assert prompts == [(1, "Write the marker file."), (2, CORRECTION)]
            assert sum(e.kind == EventKind.STOP for e in events) == 2
            assert {e.agent_id for e in events} == {agent}

            # The workers learn it: nothing in this test publishes a skill.
            def learned():
                sup.poll()
                return [s for s in list_skills(settings) if s.workspace_id == WS]
            (published,) = wait_until(learned, 180, "the codifier's skill on the topic")
            assert published.name == skill and published.version == 1
            assert sid in published.provenance.source_session_ids
            assert FIXED in published.body and CORRECTION in published.body
            listing = skill_listing(skill, published.description)

            # agentd's sync caches it for the SessionStart pull.
            wait_until(lambda: ((read_cache(str(home)) or {}).get("skills") or {})
                       .get(skill, {}).get("version") == 1, 60, "the skill in agentd's cache")

            # Session 2a, in a project no sync has seen: its SessionStart pulls the skill.
            assert not (fresh / ".claude").exists()
            seen = len(stub.messages_requests())
            pulled = run_print(env, stub, fresh, "Write the marker file.")
            skill_md = fresh / ".claude" / "skills" / skill / "SKILL.md"
            assert skill_md.exists()
            log = (home / "logs" / "capture.log").read_text()
            assert f"skills pulled created={skill}" in log
            # What the session started with: its first main-loop request (a watcher
            # reload could list the skill later on; the scope is about the start).
            listed_2a = listing in main_requests(stub, seen)[0].text()

            # Session 2b, same project: Claude Code lists the skill and the model uses it.
            seen = len(stub.messages_requests())
            given = run_print(env, stub, fresh, "Write the marker file.")
            later = main_requests(stub, seen)
            assert later and listing in later[0].text(), f"{listing!r} not in the first request"
            assert any("The user said:" in r.text() for r in later[1:]), \
                "the skill's body never reached the model after the Skill call"
            assert stub.unanswered() == [], [r.path for r in stub.unanswered()]

            # Exposures in Delta: exactly what each session had when it started.
            def exposures():
                sup.poll()
                rows = [r for r in delta_rows(settings, "exposures") if r["skill_name"] == skill]
                by = {(r["session_id"], r["invoked"]) for r in rows}
                return (given["session_id"], True) in by and \
                    (given["session_id"], False) in by and rows
            rows = wait_until(exposures, 90, "session 2b's exposure rows in Delta")
            scope_2b = [r for r in rows if r["session_id"] == given["session_id"]
                        and not r["invoked"]]
            assert [(r["skill_version"], r["cohort"]) for r in scope_2b] == [(1, "present")]
            scope_2a = [r for r in rows if r["session_id"] == pulled["session_id"]
                        and not r["invoked"]]
            # 2a is recorded as present exactly when Claude Code listed the skill to it
            # (2.1.x reads the directory before it runs SessionStart hooks: it does not).
            assert bool(scope_2a) == listed_2a, (scope_2a, listed_2a)
            assert not any(r["session_id"] == sid for r in rows)
    finally:
        stop_agentd(env, home)
        sup.stop(grace_s=20)
    print(f"claude {claude_cli.version()}: skill {skill!r} listed to the session that "
          f"pulled it: {listed_2a}")


def test_rejected_edit_is_recorded_and_counts_in_edit_acceptance(settings, tmp_path):
    from hivemind_kafka.analytics.headline import Metric, headline_metrics
    from hivemind_kafka.analytics.lake import read_table

    settings = settings.replace(sessionizer={"tick_interval_s": 0.5, "arrival_grace_s": 1},
                                lake={"flush_seconds": 0.5})
    home, user_home, shop = tmp_path / "hm", tmp_path / "user", tmp_path / "shop"
    for d in (home, user_home, shop / ".git"):
        d.mkdir(parents=True)
    (shop / "app.py").write_text("def handler(event):\n    pass\n")
    (home / "config.json").write_text(json.dumps({"agent_id": "agent-edits"}))
    env = edge_env(settings, home, user_home)
    install(env, user_home)
    sup = workers(settings, tmp_path, "sessionizer", "sink")
    app, utils = str(shop / "app.py"), str(shop / "utils.py")

    def script(body: dict):
        if "Edit" not in {t.get("name") for t in body.get("tools") or []}:
            return Text("ok")
        asked = last_prompt(body)
        if "utils.py" in asked:
            return ToolUse("Write", {"file_path": utils, "content": "def slugify(s):\n"
                                     "    return s.lower().replace(' ', '-')\n"})
        if asked:
            return ToolUse("Read", {"file_path": app}, text="Reading app.py first.")
        previous = last_tool_use(body) or {}
        if previous.get("name") == "Read":
            return ToolUse("Edit", {"file_path": app, "old_string": "    pass",
                                    "new_string": "    return slugify(event)"})
        return Text("Done." if previous.get("name") == "Write" else "The edit was rejected.")

    try:
        with ClaudeStub(script) as stub, StreamSession(
                env, stub, shop, decide=lambda tool, _input: tool != "Edit") as cc:
            cc.turn("Add a slugify helper to app.py.")
            cc.turn("Put it in utils.py instead.")
            sid = cc.session_id
        # The human's answers went through Claude Code's permission prompt.
        assert [(tool, allowed) for tool, _i, allowed in cc.asked] == [
            ("Edit", False), ("Write", True)]
        assert "return slugify" not in (shop / "app.py").read_text()
        assert (shop / "utils.py").exists()

        def captured():
            ev = turn_events(settings, sid)
            return any(e.kind == EventKind.SESSION_END for e in ev) and ev
        events = wait_until(captured, 60, "the session in Kafka")
        asked = [e for e in events if e.kind == EventKind.PERMISSION_REQUEST]
        assert [e.tool_name for e in asked] == ["Edit", "Write"]
        edit_call = next(e for e in events
                         if e.kind == EventKind.TOOL_CALL and e.tool_name == "Edit")
        assert not any(e.kind == EventKind.TOOL_RESULT and e.tool_use_id == edit_call.tool_use_id
                       for e in events), "a rejected edit has no result"

        def closed():
            sup.poll()
            return [r for r in delta_rows(settings, "sessions") if r["session_id"] == sid]
        (row,) = wait_until(closed, 90, "the closed session in Delta")
        assert (row["turn_count"], row["edits_proposed"], row["edits_accepted"],
                row["edits_rejected"]) == (2, 2, 1, 1)

        sessions = read_table(settings, "sessions", workspace=WS)  # the lake, every column
        assert sessions is not None
        acceptance = headline_metrics(sessions, read_table(settings, "outcomes")).get(
            WS, Metric.EDIT_ACCEPTANCE)
        assert acceptance is not None
        assert (acceptance.total.successes, acceptance.total.trials) == (1, 2)
        assert acceptance.total.rate.estimate == 0.5
        assert acceptance.total.rate.low < 0.5 < acceptance.total.rate.high
    finally:
        stop_agentd(env, home)
        sup.stop(grace_s=20)
