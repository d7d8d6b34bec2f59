"""Builders of multi-turn sessions as the sessionizer emits them (real contracts, no mocks).

A session is a list of turns; a turn is a list of steps, and each turn is closed by a
``stop`` as Claude Code sends one after every assistant turn::

    session_of([
        [prompt("add a retry"), edit("src/http.py"), response("done")],
        [prompt("no, use tenacity instead"), edit("src/http.py", "tenacity"), response("ok")],
    ])
"""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta

from hivemind_kafka.schemas.events import AgentKind, EventKind, TurnEvent
from hivemind_kafka.schemas.sessions import CloseReason, Session, session_uid

T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
_ids = itertools.count()


def prompt(text: str) -> dict:
    return {"kind": EventKind.PROMPT, "text": text}


def response(text: str = "Done.") -> dict:
    return {"kind": EventKind.RESPONSE, "text": text}


def outcome(label: str) -> dict:
    return {"kind": EventKind.OUTCOME, "outcome": label}


def call(name: str, tool_input: dict, output: str | None = "ok", *, error: bool = False,
         asked: bool = False, interrupt: bool = False, denied: bool = False) -> list[dict]:
    """One tool call as Claude Code's hooks report it: PreToolUse, then PermissionRequest
    (``asked``: no tool_use_id, same tool and input), then the result (``output`` None:
    no result at all, i.e. the request was rejected), or PermissionDenied (``denied``)."""
    use_id = f"toolu_{next(_ids)}"
    text = json.dumps(tool_input)
    steps = [{"kind": EventKind.TOOL_CALL, "tool_name": name, "tool_use_id": use_id,
              "tool_input": text}]
    if asked:
        steps.append({"kind": EventKind.PERMISSION_REQUEST, "tool_name": name,
                      "tool_input": text})
    if denied:
        steps.append({"kind": EventKind.PERMISSION_DENIED, "tool_name": name,
                      "tool_use_id": use_id, "tool_input": text, "reason": "auto mode"})
    elif interrupt:
        steps.append({"kind": EventKind.TOOL_RESULT, "tool_name": name, "tool_use_id": use_id,
                      "tool_output": "Interrupted by user", "is_error": True,
                      "is_interrupt": True})
    elif output is not None:
        steps.append({"kind": EventKind.TOOL_RESULT, "tool_name": name, "tool_use_id": use_id,
                      "tool_output": output, "is_error": error})
    return steps


def bash(command: str, output: str | None = "ok", **kw) -> list[dict]:
    return call("Bash", {"command": command}, output, **kw)


def edit(path: str, new: str = "x", output: str | None = "ok", **kw) -> list[dict]:
    return call("Edit", {"file_path": path, "old_string": "a", "new_string": new}, output, **kw)


def events_of(turns: list[list], *, sid: str, workspace: str = "ws-test",
              kind: AgentKind = AgentKind.CODING, start_seq: int = 0,
              end: bool = True) -> list[TurnEvent]:
    flat: list[dict] = [{"kind": EventKind.SESSION_START, "reason": "startup"}]
    for turn in turns:
        for step in turn:
            flat.extend(step if isinstance(step, list) else [step])
        flat.append({"kind": EventKind.STOP, "reason": "end_turn"})
    if end:
        flat.append({"kind": EventKind.SESSION_END, "reason": "prompt_input_exit"})
    events, number = [], 0
    for i, fields in enumerate(flat):
        number += fields["kind"] is EventKind.PROMPT
        seq = start_seq + i
        events.append(TurnEvent(
            event_id=f"{sid}-e{seq}-{next(_ids)}", workspace_id=workspace, session_id=sid,
            agent_id="agent-1", agent_kind=kind, project="shop-api", seq=seq,
            ts=T0 + timedelta(seconds=seq), turn=number, **fields))
    return events


def session_of(turns: list[list], *, sid: str | None = None, outcome_label: str | None = None,
               kind: AgentKind = AgentKind.CODING, carried: list[TurnEvent] | None = None
               ) -> Session:
    sid = sid or f"s{next(_ids)}"
    own = events_of(turns, sid=sid, kind=kind,
                    start_seq=(carried[-1].seq + 1) if carried else 0)
    events = [*(carried or []), *own]
    counts: dict[str, int] = {}
    for e in own:
        counts[e.kind.value] = counts.get(e.kind.value, 0) + 1
    return Session(
        session_uid=session_uid("ws-test", sid, 1 if carried else 0), workspace_id="ws-test",
        session_id=sid, generation=1 if carried else 0, agent_id="agent-1", agent_kind=kind,
        project="shop-api", started_at=own[0].ts, ended_at=own[-1].ts, closed_at=own[-1].ts,
        close_reason=CloseReason.SESSION_END, event_count=len(own), counts=counts,
        tools_used=sorted({e.tool_name for e in own if e.tool_name}),
        outcome=outcome_label, events=events, carried_event_count=len(carried or []),
        turn_count=counts.get("prompt", 0))
