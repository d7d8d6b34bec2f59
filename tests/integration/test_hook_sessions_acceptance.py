"""Acceptance, held-out style: Claude Code sessions replayed through the installed hook
command (``hivemind capture``, one process per hook event, as Claude Code runs it) ->
spool -> forwarder -> the real broker -> the sessionizer worker -> Delta.

Properties: sessions whose correction comes as the *next turn's* prompt (with a Stop after
every turn) yield human-correction candidates; so does a rejected edit followed by a plain
prompt, which is also counted on the session as a rejected edit; a pleasantry ("no
problem") does not; and a late ``hivemind signal`` for a closed session (workspace and
Kafka taken from the install, as the hook does) lands in the outcomes table, changes the
session's result, and makes the session a candidate with its own candidate id."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from hivemind_kafka.analytics.attribution import session_results
from hivemind_kafka.analytics.lake import read_measure_tables
from hivemind_kafka.cli.main import main as hivemind
from hivemind_kafka.producers.agentd.forwarder import Forwarder
from hivemind_kafka.producers.hook.spool import Spool, spool_dir
from hivemind_kafka.schemas.outcomes import OutcomeResult
from hivemind_kafka.schemas.sessions import (
    CandidateReason,
    decode_candidate,
    decode_session,
    session_uid,
)
from hivemind_kafka.sinks.delta_writer import run_sink
from hivemind_kafka.streams.sessionizer.logic import candidate_id
from tests.conftest import make_settings
from tests.integration.test_sessionizer_worker import Reader, Worker
from tests.support.polling import wait_until

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
WS = "ws-acme"


def hook(home: Path, project: Path, session_id: str, event: str, **fields) -> None:
    """One hook call, exactly as Claude Code makes it: payload on stdin, cwd the project."""
    payload = {"session_id": session_id, "transcript_path": f"/tmp/{session_id}.jsonl",
               "cwd": str(project), "permission_mode": "default", "hook_event_name": event,
               **fields}
    env = {k: v for k, v in os.environ.items() if not k.startswith("HIVEMIND_")}
    env["HIVEMIND_HOME"] = str(home)
    done = subprocess.run([sys.executable, "-P", "-m", "hivemind_kafka.cli.main", "capture"], cwd=ROOT,
                          env=env, input=json.dumps(payload).encode(), capture_output=True,
                          timeout=60)
    assert done.returncode == 0 and done.stdout == b"" and done.stderr == b"", done


class Session:
    """Replays one Claude Code session through the hook, a turn at a time."""

    def __init__(self, home: Path, project: Path, session_id: str) -> None:
        self.home, self.project, self.id = home, project, session_id
        self.calls = 0
        self.send("SessionStart", source="startup", model="claude-sonnet-4-5")

    def send(self, event: str, **fields) -> None:
        hook(self.home, self.project, self.id, event, **fields)

    def tool(self, name: str, tool_input: dict, output: str | None, *, asked: bool = False,
             error: bool = False) -> None:
        self.calls += 1
        use_id = f"toolu_{self.id}_{self.calls}"
        self.send("PreToolUse", tool_name=name, tool_input=tool_input, tool_use_id=use_id)
        if asked:
            self.send("PermissionRequest", tool_name=name, tool_input=tool_input,
                      permission_suggestions=[])
        if output is None:
            return  # rejected: Claude Code sends no PostToolUse
        if error:
            self.send("PostToolUseFailure", tool_name=name, tool_input=tool_input,
                      tool_use_id=use_id, error=output, is_interrupt=False)
        elif name == "Bash":
            self.send("PostToolUse", tool_name=name, tool_input=tool_input, tool_use_id=use_id,
                      tool_response={"stdout": output, "stderr": "", "interrupted": False})
        else:
            self.send("PostToolUse", tool_name=name, tool_input=tool_input, tool_use_id=use_id,
                      tool_response={"filePath": tool_input.get("file_path"),
                                     "success": True})

    def end(self) -> None:
        self.send("SessionEnd", reason="prompt_input_exit")


def bash(command: str, output: str | None, **kw) -> tuple:
    return ("Bash", {"command": command, "description": "run it"}, output), kw


def run(s: Session, prompt: str, *steps: tuple, answer: str = "Done.") -> None:
    s.send("UserPromptSubmit", prompt=prompt)
    for (name, tool_input, output), kw in steps:
        s.tool(name, tool_input, output, **kw)
    s.send("Stop", stop_hook_active=False, last_assistant_message=answer)


def edit(path: str, new: str, output: str | None = "ok", **kw) -> tuple:
    return ("Edit", {"file_path": path, "old_string": "pass", "new_string": new}, output), kw


def test_hook_sessions_with_corrections_across_turns_become_candidates_and_late_signals_join(
        broker, tmp_path, monkeypatch):
    settings = make_settings(broker.bootstrap, tmp_path, edge={"linger_ms": 50},
                             sessionizer={"tick_interval_s": 0.5, "arrival_grace_s": 1})
    from hivemind_kafka.runtime.kafka import ensure_topics

    ensure_topics(settings)
    home = settings.edge.home_path()
    home.mkdir(parents=True)
    (home / "config.json").write_text(json.dumps({
        "workspace_id": WS, "agent_id": "cc-dev-1", "agent_kind": "coding",
        "bootstrap": broker.bootstrap, "agentd_autostart": False}))
    project = tmp_path / "shop"
    (project / ".git").mkdir(parents=True)
    src = str(project / "src")

    # Held-out style sessions: every turn ends with a Stop; corrections are next turns.
    corrected = []
    for i, (first, fix) in enumerate([("pytest -q", "python -m pytest -q"),
                                      ("npm run build", "nvm use 20 && npm run build")]):
        s = Session(home, project, f"cc-corr-{i}")
        run(s, "run the checks", bash(first, "command failed\nexit code 127"),
            answer="It failed.")
        run(s, "what does that error mean?", answer="The tool is not on PATH.")
        run(s, f"No, use `{fix}` instead", bash(fix, "ok: 42 passed"), answer="Green.")
        s.end()
        corrected.append(s.id)
    rejected = Session(home, project, "cc-reject")
    run(rejected, "add a slugify helper", edit(f"{src}/app.py", "def slugify", None, asked=True),
        answer="The edit was not applied.")
    run(rejected, "put it in src/utils/strings.py", edit(f"{src}/utils/strings.py",
                                                          "def slugify", asked=True))
    rejected.end()
    polite = Session(home, project, "cc-polite")
    run(polite, "run the tests", bash("python -m pytest", "3 passed"))
    run(polite, "no problem, thanks! show git status", bash("git status", "clean"))
    polite.end()
    quiet = Session(home, project, "cc-late")  # tools, no signal: not a candidate... yet
    run(quiet, "bump the version", bash("bumpversion patch", "1.2.4"))
    quiet.end()
    assert Spool(spool_dir(str(home))).stats().records > 40

    stop = threading.Event()
    forwarder = Forwarder(settings, stats_interval_s=0.2)
    threads = [threading.Thread(target=forwarder.run, args=(stop,), daemon=True),
               threading.Thread(target=run_sink, args=(settings,), daemon=True,
                                kwargs={"stop": stop, "tables": ["sessions", "outcomes"]})]
    worker = Worker(settings, tmp_path / "sessionizer.log")
    sessions = Reader(settings, settings.topics.sessions)
    candidates = Reader(settings, settings.topics.candidates)
    for t in threads:
        t.start()
    worker.start()
    try:
        wait_until(lambda: Spool(spool_dir(str(home))).stats().records == 0, 60,
                   "the spool forwarded")
        names = [*corrected, rejected.id, polite.id, quiet.id]
        sessions.poll_until(
            lambda: {decode_session(m.value()).session_id for m in sessions.messages}
            >= set(names), timeout_s=120, what="every session closed", worker=worker)
        got = {decode_session(m.value()).session_id: decode_session(m.value())
               for m in sessions.messages}
        for sid in names:  # one session each, across all its turns, closed by SessionEnd
            assert got[sid].generation == 0 and got[sid].close_reason == "session_end", sid
            assert got[sid].workspace_id == WS
        assert got[corrected[0]].turn_count == 3
        assert sorted({e.turn for e in got[corrected[0]].events}) == [0, 1, 2, 3]
        r = got[rejected.id]
        assert (r.edits_proposed, r.edits_accepted, r.edits_rejected) == (2, 1, 1)

        def reasons() -> dict[str, list[str]]:
            return {decode_candidate(m.value()).sessions[0].session_id:
                    decode_candidate(m.value()).reasons for m in candidates.messages}
        expected = {*corrected, rejected.id}
        candidates.poll_until(lambda: set(reasons()) >= expected, timeout_s=60,
                              what="the human-correction candidates", worker=worker)
        for sid in expected:
            assert CandidateReason.HUMAN_CORRECTION in reasons()[sid], sid
        assert polite.id not in reasons() and quiet.id not in reasons()

        def result_of_quiet():
            t = read_measure_tables(settings)
            if t.sessions is None:
                return None
            found = {r.session_id: r.result for r in session_results(t.sessions, t.outcomes)}
            return found.get(quiet.id)
        assert wait_until(result_of_quiet, 90, "the quiet session in Delta") \
            is OutcomeResult.UNKNOWN

        # Days later, a human says the change was merged: `hivemind signal` as a user runs
        # it, with no workspace or Kafka given (the install's are used).
        monkeypatch.delenv("HIVEMIND_WORKSPACE_ID", raising=False)
        monkeypatch.delenv("HIVEMIND_BOOTSTRAP", raising=False)
        monkeypatch.setenv("HIVEMIND_HOME", str(home))
        for env, value, field in settings.describe():
            if field.startswith("topics."):
                monkeypatch.setenv(env, value)
        assert hivemind(["signal", "--session", quiet.id, "--outcome", "merged"]) == 0

        wait_until(lambda: result_of_quiet() is OutcomeResult.SUCCESS, 90,
                   "the late signal joined to its session")
        uid = session_uid(WS, quiet.id, 0)
        candidates.poll_until(lambda: quiet.id in reasons(), timeout_s=60,
                              what="the late outcome's candidate", worker=worker)
        [late] = [decode_candidate(m.value()) for m in candidates.messages
                  if decode_candidate(m.value()).sessions[0].session_id == quiet.id]
        assert late.candidate_id == candidate_id(uid) and late.reasons == [CandidateReason.OUTCOME]
        assert late.sessions[0].reemitted and late.sessions[0].outcome == "merged"
        # The sessions table keeps one row per uid: the re-emission was not stored twice.
        rows = read_measure_tables(settings).sessions.to_pylist()
        assert sum(1 for row in rows if row["session_id"] == quiet.id) == 1
    finally:
        stop.set()
        for t in threads:
            t.join(30)
        sessions.close()
        candidates.close()
        worker.kill()
