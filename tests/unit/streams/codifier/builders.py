"""Small builders of sessions and candidates for codifier tests (real contracts, no mocks).

A session is written as a list of steps::

    session([prompt("run the tests"),
             bash("pytest", "ERROR: file not found", error=True),
             bash("python -m pytest", "3 passed"),
             outcome("tests_passed")])
"""

from __future__ import annotations

import hashlib
import itertools
import json
from datetime import UTC, datetime, timedelta

from hivemind_kafka.schemas.events import AgentKind, EventKind, TurnEvent
from hivemind_kafka.schemas.sessions import Candidate, CloseReason, Session, session_uid
from hivemind_kafka.streams.candidates import candidate_reasons, candidate_topic

T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
_ids = itertools.count()


def prompt(text: str) -> dict:
    return {"kind": EventKind.PROMPT, "text": text}


def response(text: str) -> dict:
    return {"kind": EventKind.RESPONSE, "text": text}


def tool(name: str, tool_input: dict, output: str, *, error: bool = False) -> list[dict]:
    use_id = f"tu{next(_ids)}"
    return [
        {"kind": EventKind.TOOL_CALL, "tool_name": name, "tool_use_id": use_id,
         "tool_input": json.dumps(tool_input)},
        {"kind": EventKind.TOOL_RESULT, "tool_name": name, "tool_use_id": use_id,
         "tool_output": output, "is_error": error},
    ]


def bash(command: str, output: str, *, error: bool = False) -> list[dict]:
    return tool("Bash", {"command": command}, output, error=error)


def outcome(label: str) -> dict:
    return {"kind": EventKind.OUTCOME, "outcome": label}


def session(steps: list, *, workspace: str = "ws-test", session_id: str | None = None,
            project: str = "shop-api", close: CloseReason = CloseReason.STOP,
            kind: AgentKind = AgentKind.CODING) -> Session:
    sid = session_id or f"s{next(_ids)}"
    flat: list[dict] = []
    for step in steps:
        flat.extend(step if isinstance(step, list) else [step])
    flat.append({"kind": EventKind.STOP, "reason": "end_turn"})
    events = []
    for seq, fields in enumerate(flat):
        events.append(TurnEvent(
            event_id=f"{sid}-e{seq}", workspace_id=workspace, session_id=sid, agent_id="agent-1",
            agent_kind=kind, project=project, seq=seq, ts=T0 + timedelta(seconds=seq),
            **fields))
    counts: dict[str, int] = {}
    for e in events:
        counts[e.kind.value] = counts.get(e.kind.value, 0) + 1
    return Session(
        session_uid=session_uid(workspace, sid, 0), workspace_id=workspace, session_id=sid,
        agent_id="agent-1", agent_kind=kind, project=project, started_at=events[0].ts,
        ended_at=events[-1].ts, closed_at=events[-1].ts, close_reason=close,
        event_count=len(events), counts=counts,
        tools_used=sorted({e.tool_name for e in events if e.tool_name}),
        error_count=sum(1 for e in events if e.is_error),
        outcome=next((e.outcome for e in events if e.outcome), None), events=events,
    )


def candidate(*sessions: Session, topic: str | None = None) -> Candidate:
    first = sessions[0]
    reasons = []
    for s in sessions:
        reasons.extend(r for r in candidate_reasons(s) if r not in reasons)
    cid = hashlib.blake2b("".join(s.session_uid for s in sessions).encode(),
                          digest_size=10).hexdigest()
    return Candidate(candidate_id=f"c-{cid}", workspace_id=first.workspace_id, reasons=reasons,
                     topic=candidate_topic(first) if topic is None else topic,
                     sessions=list(sessions), created_at=first.closed_at)


def recovery_session(workspace: str = "ws-test", *, failed: str = "pytest tests/",
                     error: str = "bash: pytest: command not found",
                     worked: str = "python -m pytest tests/", ok_output: str = "12 passed in 0.4s",
                     project: str = "shop-api", session_id: str | None = None) -> Session:
    return session([prompt("run the unit tests"), bash(failed, error, error=True),
                    bash(worked, ok_output), response("All 12 tests pass.")],
                   workspace=workspace, project=project, session_id=session_id)
