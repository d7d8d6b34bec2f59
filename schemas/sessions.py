"""Sessions and codification candidates, as the sessionizer emits them.

A :class:`Session` is closed once; ``session_uid`` is deterministic (workspace, session
id, generation), so a replay after a crash emits the same uid and every consumer
(Delta sink, codifier) deduplicates on it. A session that receives events after it closed
is re-opened as the next ``generation`` and emitted again under a new uid.
"""

from __future__ import annotations

import hashlib
from enum import StrEnum

import msgspec
from msgspec import Struct

from schemas.events import SCHEMA_VERSION, AgentKind, Ident, TurnEvent, UtcDatetime


class CloseReason(StrEnum):
    STOP = "stop"
    SESSION_END = "session_end"
    IDLE = "idle"


class Session(Struct, frozen=True, kw_only=True, omit_defaults=True):
    session_uid: Ident
    schema_version: int = SCHEMA_VERSION
    workspace_id: Ident
    session_id: Ident
    generation: int = 0
    agent_id: Ident
    agent_kind: AgentKind
    project: str
    started_at: UtcDatetime
    ended_at: UtcDatetime
    closed_at: UtcDatetime  # processing time of the close
    close_reason: CloseReason
    event_count: int
    counts: dict[str, int]  # by EventKind value
    tools_used: list[str]
    error_count: int = 0
    outcome: str | None = None
    late_event_count: int = 0
    duplicate_event_count: int = 0
    # Ordered by seq. Sessions longer than the sessionizer's cap keep the first events
    # and say so in events_truncated; the Delta events table always has them all.
    events: list[TurnEvent] = []
    events_truncated: bool = False


class CandidateReason(StrEnum):
    HUMAN_CORRECTION = "human_correction"
    TOOL_RECOVERY = "tool_recovery"  # a failed tool call followed by a working one
    OUTCOME = "outcome"
    TOOL_USE = "tool_use"  # ended normally with tool calls (backbone's coarse rule)


class Candidate(Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Closed session(s) the codifier should look at.

    ``sessions`` holds one session, or several of one workspace that share a
    ``topic`` (e.g. the same failing tool), so one skill can be drafted from all of them.
    """

    candidate_id: Ident
    schema_version: int = SCHEMA_VERSION
    workspace_id: Ident
    reasons: list[CandidateReason]
    topic: str = ""
    sessions: list[Session]
    created_at: UtcDatetime


def session_uid(workspace_id: str, session_id: str, generation: int) -> str:
    digest = hashlib.blake2b(
        f"{workspace_id}\x00{session_id}\x00{generation}".encode(), digest_size=12
    )
    return digest.hexdigest()


_session_decoder = msgspec.json.Decoder(Session)
_candidate_decoder = msgspec.json.Decoder(Candidate)
_encoder = msgspec.json.Encoder()


def encode(value: Session | Candidate) -> bytes:
    return _encoder.encode(value)


def decode_session(raw: bytes) -> Session:
    return _session_decoder.decode(raw)


def decode_candidate(raw: bytes) -> Candidate:
    return _candidate_decoder.decode(raw)
