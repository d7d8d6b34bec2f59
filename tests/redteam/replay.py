"""Replay scripted sessions through the real entry points, with no broker.

* Claude Code sessions go through :func:`hivemind_kafka.producers.hook.capture.capture`, called the way the
  installed hook's ``main`` calls it (the raw stdin bytes, a temporary ``HIVEMIND_HOME``
  with ``config.json``, agentd autostart off), one call per hook event Claude Code would
  fire (SessionStart, UserPromptSubmit, PreToolUse, PostToolUse / PostToolUseFailure,
  Stop per turn, SessionEnd). What left the hook is read back with the forwarder's own
  reader (:class:`producers.hook.spool.Spool`, then ``event_from_dict``); every file the hook
  wrote under the home (spool, logs, counters; the pattern cache aside) is kept as bytes
  for the leak checks.
* Support and SDR sessions go through :class:`producers.sdk.Fleet` with a small real
  producer (:class:`RecordingProducer`) in place of Kafka's: what the SDK hands to
  ``produce()`` is exactly what would reach the broker.
* Closed sessions come from :mod:`hivemind_kafka.streams.sessionizer.logic` (``on_events`` per record,
  then a tick far in the future), candidates from its ``candidate_for`` and the codifier's
  ``group_candidates``.

Only public entry points are used, so the defences may change their internals freely.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from hivemind_kafka.schemas.events import EventKind, TurnEvent, decode_turn_record, event_from_dict
from hivemind_kafka.schemas.sessions import Candidate, CandidateReason, Session
from tests.redteam.corpus import ScriptedSession, Step, Turn

WORKSPACE = "redteam"
T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


@dataclass
class Capture:
    """What one replay produced: the events downstream sees, grouped as the records that
    carried them, and the raw bytes that left the stage (disk or wire)."""

    records: list[list[TurnEvent]] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)
    dicts: list[dict] = field(default_factory=list)

    @property
    def events(self) -> list[TurnEvent]:
        return [e for r in self.records for e in r]


# --------------------------------------------------------------------------- hook path


def _tool_response(step: Step) -> object:
    if step.tool == "Bash":
        return {"stdout": step.output, "stderr": "", "interrupted": False, "isImage": False}
    if step.tool == "Read":
        n = step.output.count("\n") + 1
        return {"type": "text", "file": {"filePath": step.input.get("file_path", ""),
                                         "content": step.output, "numLines": n,
                                         "startLine": 1, "totalLines": n}}
    if step.tool == "WebFetch":
        return {"bytes": len(step.output.encode()), "code": 200, "codeText": "OK",
                "result": step.output, "durationMs": 812, "url": step.input.get("url", "")}
    if step.tool.startswith("mcp__"):
        return [{"type": "text", "text": step.output}]
    return step.output


def hook_payloads(session: ScriptedSession, *, session_id: str, cwd: str) -> list[dict]:
    """The hook payloads Claude Code sends for ``session`` (one Stop per turn)."""
    common = {"session_id": session_id, "transcript_path": f"/tmp/claude/{session_id}.jsonl",
              "cwd": cwd, "permission_mode": "default"}
    out: list[dict] = [{**common, "hook_event_name": "SessionStart", "source": "startup",
                        "model": "claude-sonnet-4-5"}]
    n = 0
    for turn in session.turns:
        out.append({**common, "hook_event_name": "UserPromptSubmit", "prompt": turn.prompt})
        for step in turn.steps:
            n += 1
            use_id = f"toolu_01{session_id[-12:]}{n:04d}"
            base = {**common, "tool_name": step.tool, "tool_input": step.input, "tool_use_id": use_id}
            out.append({**base, "hook_event_name": "PreToolUse"})
            if step.error:
                out.append({**base, "hook_event_name": "PostToolUseFailure", "error": step.output,
                            "is_interrupt": False})
            else:
                out.append({**base, "hook_event_name": "PostToolUse",
                            "tool_response": _tool_response(step)})
        out.append({**common, "hook_event_name": "Stop", "stop_hook_active": False,
                    "last_assistant_message": turn.reply})
    out.append({**common, "hook_event_name": "SessionEnd", "reason": "prompt_input_exit"})
    return out


class EdgeHomes:
    """Temporary Hivemind homes, one per replay, sharing a warmed pattern cache (as
    ``hivemind install`` leaves it) so each replay pays what a hook call pays."""

    def __init__(self) -> None:
        self.root = tempfile.mkdtemp(prefix="hivemind-redteam-")
        self._n = 0
        self._cache: str | None = None

    def new(self, agent_kind: str = "coding") -> str:
        self._n += 1
        home = os.path.join(self.root, f"home-{self._n}")
        os.makedirs(home, mode=0o700)
        with open(os.path.join(home, "config.json"), "w") as f:
            json.dump({"workspace_id": WORKSPACE, "agent_id": "redteam-agent",
                       "agent_kind": agent_kind, "agentd_autostart": False}, f)
        if self._cache and os.path.isdir(self._cache):
            shutil.copytree(self._cache, os.path.join(home, "cache"))
        return home

    def remember_cache(self, home: str) -> None:
        cache = os.path.join(home, "cache")
        if self._cache is None and os.path.isdir(cache):
            self._cache = os.path.join(self.root, "cache-template")
            shutil.copytree(cache, self._cache)

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> EdgeHomes:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def capture_payloads(payloads: Iterable[dict], *, home: str, t0: datetime = T0) -> Capture:
    """Run the hook function on each payload (JSON bytes, as stdin), then read the spool
    the way the forwarder does."""
    from hivemind_kafka.producers.hook.capture import capture
    from hivemind_kafka.producers.hook.spool import Spool, spool_dir

    environ = {"HIVEMIND_HOME": home}
    for i, payload in enumerate(payloads):
        raw = json.dumps(payload).encode()
        capture(raw, home=home, environ=environ, now=(t0 + timedelta(seconds=i)).timestamp())
    out = Capture()
    spool = Spool(spool_dir(home))
    batch = spool.read(max_records=100_000)
    for rec in batch.records:
        out.dicts.append(rec.data)
        out.records.append([event_from_dict(rec.data)])
    for dirpath, _dirs, filenames in os.walk(home):
        if os.path.relpath(dirpath, home).split(os.sep)[0] == "cache":
            continue  # the compiled pattern cache: no session data
        for name in filenames:
            with open(os.path.join(dirpath, name), "rb") as f:
                out.raw.append(f.read())
    return out


def replay_hook(session: ScriptedSession, homes: EdgeHomes, *, session_id: str | None = None,
                t0: datetime = T0) -> Capture:
    home = homes.new(session.agent_kind)
    sid = session_id or f"{session.id}-{os.urandom(4).hex()}"
    cap = capture_payloads(hook_payloads(session, session_id=sid,
                                         cwd=f"/home/dev/{session.project}"), home=home, t0=t0)
    homes.remember_cache(home)
    shutil.rmtree(home, ignore_errors=True)
    return cap


# --------------------------------------------------------------------------- SDK path


class RecordingProducer:
    """The producer interface :class:`producers.sdk.Fleet` uses (``produce``, ``poll``,
    ``flush``), acknowledging every record at once and keeping it."""

    def __init__(self) -> None:
        self.values: list[bytes] = []
        self._reports: list[Any] = []

    def produce(self, topic: str, key: bytes | None = None, value: bytes | None = None,
                on_delivery: Any = None, **_: Any) -> None:
        self.values.append(value or b"")
        if on_delivery is not None:
            self._reports.append(on_delivery)

    def poll(self, timeout: float = 0) -> int:
        reports, self._reports = self._reports, []
        for report in reports:
            report(None, None)
        return len(reports)

    def flush(self, timeout: float = 0) -> int:
        self.poll()
        return 0


class SdkReplayer:
    """One :class:`producers.sdk.Fleet` per agent kind over a :class:`RecordingProducer`."""

    def __init__(self) -> None:
        from hivemind_kafka.runtime.settings import Settings

        self.settings = Settings()
        self._fleets: dict[str, tuple[Any, RecordingProducer]] = {}

    def _fleet(self, kind: str, project: str) -> tuple[Any, RecordingProducer]:
        from hivemind_kafka.producers.sdk import Fleet

        key = f"{kind}/{project}"
        if key not in self._fleets:
            producer = RecordingProducer()
            fleet = Fleet(self.settings, workspace_id=WORKSPACE, agent_id=f"redteam-{kind}",
                          agent_kind=kind, project=project, producer=producer)
            self._fleets[key] = (fleet, producer)
        return self._fleets[key]

    def replay(self, session: ScriptedSession, *, session_id: str | None = None) -> Capture:
        fleet, producer = self._fleet(session.agent_kind, session.project)
        start = len(producer.values)
        sid = session_id or f"{session.id}-{os.urandom(4).hex()}"
        with fleet.session(sid) as rec:
            for turn in session.turns:
                rec.prompt(turn.prompt)
                for step in turn.steps:
                    call = rec.tool_call(step.tool, step.input)
                    rec.tool_result(call, step.output, is_error=step.error)
                if turn.reply:
                    rec.response(turn.reply)
        fleet.flush_session(sid)
        out = Capture()
        for value in producer.values[start:]:
            out.raw.append(value)
            out.records.append(decode_turn_record(value))
        return out

    def close(self) -> None:
        for fleet, _ in self._fleets.values():
            fleet.close()
        self._fleets.clear()

    def __enter__(self) -> SdkReplayer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --------------------------------------------------------------------------- direct


def direct_events(session: ScriptedSession, *, session_id: str | None = None) -> list[TurnEvent]:
    """The session as unredacted events, with no edge at all (the "before any
    redaction" baseline for grounding)."""
    sid = session_id or session.id
    kind = session.agent_kind
    fields: list[dict] = [{"kind": EventKind.SESSION_START}]
    n = 0
    for turn in session.turns:
        fields.append({"kind": EventKind.PROMPT, "text": turn.prompt})
        for step in turn.steps:
            n += 1
            use_id = f"tu-{n}"
            fields.append({"kind": EventKind.TOOL_CALL, "tool_name": step.tool,
                           "tool_use_id": use_id, "tool_input": json.dumps(step.input)})
            fields.append({"kind": EventKind.TOOL_RESULT, "tool_name": step.tool,
                           "tool_use_id": use_id, "tool_output": step.output,
                           "is_error": step.error})
        if kind == "coding":
            fields.append({"kind": EventKind.STOP, "text": turn.reply, "reason": "end_turn"})
        elif turn.reply:
            fields.append({"kind": EventKind.RESPONSE, "text": turn.reply})
    if kind != "coding":
        fields.append({"kind": EventKind.STOP})
    return [TurnEvent(event_id=f"{sid}-{seq}", workspace_id=WORKSPACE, session_id=sid,
                      agent_id=f"redteam-{kind}", agent_kind=kind, project=session.project,  # type: ignore[arg-type]
                      seq=seq, ts=T0 + timedelta(seconds=seq), source="redteam", **f)
            for seq, f in enumerate(fields)]


def replay(session: ScriptedSession, *, homes: EdgeHomes, sdk: SdkReplayer) -> Capture:
    """Through the edge this kind of agent uses: the hook (coding) or the SDK."""
    if session.agent_kind == "coding":
        return replay_hook(session, homes)
    return sdk.replay(session)


def line_session(context: str, line: str, *, sid: str, kind: str = "coding") -> ScriptedSession:
    """One line (a secret or a look-alike) where it shows up in a session."""
    if context == "prompt":
        turn = Turn(prompt=line, steps=[], reply="Looking into it.")
    else:
        step = {
            "command": Step(tool="Bash", input={"command": line, "description": "run it"},
                            output="done"),
            "file": Step(tool="Read", input={"file_path": "/home/dev/payments-api/.env"},
                         output=line),
            "output": Step(tool="Bash", input={"command": "cat logs/app.log"}, output=line),
            "error": Step(tool="Bash", input={"command": "./scripts/deploy.sh"},
                          output="Exit code 1\n" + line, error=True),
        }[context]
        turn = Turn(prompt="check why the deploy fails", steps=[step], reply="Found it.")
    return ScriptedSession(id=sid, agent_kind=kind, project="payments-api", turns=[turn])  # type: ignore[arg-type]


# --------------------------------------------------------------------------- sessions


def sessionize(records: Iterable[list[TurnEvent]]) -> list[Session]:
    """Closed sessions, as the sessionizer emits them for these records."""
    from hivemind_kafka.runtime.settings import SessionizerSettings
    from hivemind_kafka.streams.sessionizer.logic import on_events, on_tick

    settings = SessionizerSettings()
    states: dict[tuple[str, str], Any] = {}
    out: list[Session] = []
    last = T0
    for batch in records:
        if not batch:
            continue
        key = (batch[0].workspace_id, batch[0].session_id)
        now = max(e.ts for e in batch) + timedelta(seconds=1)
        last = max(last, now)
        state, emitted = on_events(states.get(key), batch, partition=0, now=now,
                                   settings=settings)
        states[key] = state
        out.extend(emitted)
    later = last + timedelta(days=1)
    for state in states.values():
        if state is not None and not state.is_closed:
            _, closed = on_tick(state, now=later, settings=settings)
            out.extend(closed)
    return out


def candidate_groups(sessions: Iterable[Session]) -> list[Any]:
    """The codifier's groups for these sessions' candidates (possibly none)."""
    from hivemind_kafka.streams.codifier.logic import group_candidates
    from hivemind_kafka.streams.sessionizer.logic import candidate_for

    cands = [c for c in (candidate_for(s) for s in sessions) if c is not None]
    return group_candidates(cands)


def claimed_group(sessions: list[Session], case_id: str) -> Any:
    """One group holding every session a draft claims to come from (all generations)."""
    from hivemind_kafka.streams.candidates import candidate_reasons
    from hivemind_kafka.streams.codifier.logic import CandidateGroup

    reasons: list[CandidateReason] = []
    for s in sessions:
        reasons.extend(r for r in candidate_reasons(s) if r not in reasons)
    cand = Candidate(candidate_id=f"claimed-{case_id}"[:256], workspace_id=WORKSPACE,
                     reasons=reasons or [CandidateReason.TOOL_USE], sessions=sessions,
                     created_at=max(s.closed_at for s in sessions))
    return CandidateGroup(cand, [cand.candidate_id])
