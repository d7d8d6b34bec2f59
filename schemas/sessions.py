"""Sessions and codification candidates, as the sessionizer emits them.

A :class:`Session` is what an agent means by one: Claude Code's ``session_id`` from
``SessionStart`` to ``SessionEnd`` (or to the idle gap), over any number of turns; a
``stop`` ends a turn, not the session. ``session_uid`` is deterministic (workspace,
session id, generation), so a replay after a crash emits the same uid and every consumer
(Delta sink, codifier) deduplicates on it. A session that receives events after it
closed (``--resume``, a late event) or a ``/clear`` in the same session id opens the next
``generation``, emitted under a new uid.

Versions: **1** the first contract (v1 sessionizers closed a generation at every
``stop``: ``close_reason`` ``stop`` only appears on v1 rows); **2**
(:data:`SESSION_SCHEMA_VERSION`) adds ``turn_count``, the edit counts, ``corrections``,
``carried_event_count`` and ``reemitted``, all with defaults, so v1 records still decode.
"""

from __future__ import annotations

import hashlib
from enum import StrEnum

import msgspec
from msgspec import Struct

from hivemind_kafka.schemas.events import (
    AgentKind,
    Ident,
    TurnEvent,
    UtcDatetime,
    WorkspaceId,
    check_ts,
    check_version,
    check_workspace_id,
)

SESSION_SCHEMA_VERSION = 2
SESSION_VERSIONS = frozenset({1, SESSION_SCHEMA_VERSION})


class CloseReason(StrEnum):
    STOP = "stop"  # v1 only: a v1 sessionizer closed at every stop (the end of a turn)
    SESSION_END = "session_end"
    IDLE = "idle"
    CLEAR = "clear"  # a /clear (session_start reason=clear) in the same session id


EDIT_TOOLS = frozenset({"Edit", "Write", "MultiEdit", "NotebookEdit"})


class Session(Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One closed generation of one agent session.

    Edit counts (v2) cover the calls of :data:`EDIT_TOOLS` in this generation (subagents
    included): ``edits_proposed`` every such call the agent made; ``edits_accepted`` the
    ones that ran (a ``tool_result`` that is not an interrupt); ``edits_rejected`` the
    ones the human refused: a ``permission_request`` with no result by the close, a
    ``permission_denied``, or an interrupted result. The rest (a call that failed on its
    own, or had no result and no request by the close) is neither. Edit-acceptance is
    ``accepted / (accepted + rejected)``.

    ``corrections`` counts the human's correction prompts (streams.candidates). ``events``
    starts with ``carried_event_count`` events of the previous generation when the session
    was resumed within the sessionizer's retention (context for candidate selection and
    the codifier; not counted in ``event_count``). ``reemitted`` marks a repeat of an
    already emitted session carrying a late learnable ``outcome`` to the codifier: stores
    keep the first emission of a ``session_uid``.
    """

    session_uid: Ident
    schema_version: int = SESSION_SCHEMA_VERSION
    workspace_id: WorkspaceId
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
    # v2
    turn_count: int = 0  # prompts in this generation
    edits_proposed: int = 0
    edits_accepted: int = 0
    edits_rejected: int = 0
    corrections: int = 0
    carried_event_count: int = 0
    reemitted: bool = False

    def __post_init__(self) -> None:
        check_version(self.schema_version, SESSION_VERSIONS, "Session")
        check_workspace_id(self.workspace_id)
        check_ts("started_at", self.started_at)
        check_ts("ended_at", self.ended_at)


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
    schema_version: int = SESSION_SCHEMA_VERSION
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
