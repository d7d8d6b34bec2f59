"""Turn events: the one contract every agent writes to ``hivemind.turns``.

A *record* on ``hivemind.turns`` is either a :class:`TurnBatch` (several events of one
session, the shape the SDK and the forwarder send, so the stream pays per session batch
rather than per event) or a single :class:`TurnEvent`. Both are keyed by
``workspace_id``, so one workspace's events stay ordered on one partition.

Time is an aware UTC datetime in code and RFC 3339 on the wire. ``event_id`` is unique
per event and is what every consumer deduplicates on.

Versions (``schema_version`` on each record; readers accept every version listed):

* **1**: the first contract.
* **2** (:data:`TURN_EVENT_SCHEMA_VERSION`): adds ``turn`` (the turn index, see
  :class:`TurnEvent`), ``is_interrupt`` on tool results, the ``permission_request`` and
  ``permission_denied`` kinds, and ``reason`` on ``session_start`` (how it started). Every
  v2 field is optional, so v1 records still decode (their ``turn`` is derived by the
  sessionizer from the prompt order) and a v1 reader skips the new fields; a v1 reader
  dead-letters the two new kinds, so upgrade the sessionizer before the edge.

Any other ``schema_version`` (0, 3, 999) is a contract violation: a reader never guesses
at a version it does not know.

Bounds every record of every topic keeps (violations are contract violations, so they
are dead-lettered by the first stage that decodes them):

* **Workspace ids** (:data:`WorkspaceId`): 1 to :data:`WORKSPACE_ID_MAX_BYTES` (80) bytes
  of UTF-8, no control or other non-printable characters (``str.isprintable``), no space
  at either end. A workspace id names a directory of the lake, ``workspace_id=<id>`` with
  every byte outside ``[A-Za-z0-9._-]`` percent-encoded (at most 3 characters per byte),
  so a directory name never exceeds 13 + 3 x 80 = 253 bytes, under the 255-byte limit of a
  path component: 80 ASCII characters, 26 CJK characters, 20 emoji. The directory name is
  the id's reversible encoding (percent-decoding it gives the id back); the id itself is
  also a column of every table.
* **Timestamps** (:data:`TS_MIN` .. :data:`TS_MAX`): from 2000-01-01 (inclusive) to
  2100-01-01 (exclusive), UTC. A clock at year 1 or 9999 is a bug, not an event.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

import msgspec
from msgspec import Meta, Struct

SCHEMA_VERSION = 1  # version 1 of every contract; a contract that changed has its own constant
TURN_EVENT_SCHEMA_VERSION = 2

# Identifiers: printable, bounded, no path separators surprises for keys.
Ident = Annotated[str, Meta(min_length=1, max_length=256)]
UtcDatetime = Annotated[datetime, Meta(tz=True)]

# A workspace id names a lake directory: see the module docstring for why 80 bytes.
WORKSPACE_ID_MAX_BYTES = 80
WorkspaceId = Annotated[str, Meta(min_length=1, max_length=WORKSPACE_ID_MAX_BYTES)]
WORKSPACE_ID_RULE = (f"1 to {WORKSPACE_ID_MAX_BYTES} bytes of UTF-8 (80 ASCII or 26 CJK "
                     "characters), printable, no space at either end")
TS_MIN = datetime(2000, 1, 1, tzinfo=UTC)
TS_MAX = datetime(2100, 1, 1, tzinfo=UTC)
TURN_EVENT_VERSIONS = frozenset({1, TURN_EVENT_SCHEMA_VERSION})

# Ids already checked: a stream repeats a few workspaces, so the check runs once per id.
_good_workspace_ids: set[str] = set()


def workspace_id_problem(value: str) -> str | None:
    """Why ``value`` is not a valid workspace id (None: it is). See the module docstring."""
    if value in _good_workspace_ids:
        return None
    if not value or len(value.encode("utf-8", "surrogatepass")) > WORKSPACE_ID_MAX_BYTES:
        return f"workspace id must be {WORKSPACE_ID_RULE}"
    if not value.isprintable() or value != value.strip():
        return f"workspace id must be {WORKSPACE_ID_RULE}"
    try:
        value.encode()
    except UnicodeEncodeError:  # lone surrogates
        return f"workspace id must be {WORKSPACE_ID_RULE}"
    if len(_good_workspace_ids) > 10_000:
        _good_workspace_ids.clear()
    _good_workspace_ids.add(value)
    return None


def check_workspace_id(value: str) -> None:
    """Raise ``ValueError`` (a ``msgspec.ValidationError`` when decoding) for a bad id."""
    problem = workspace_id_problem(value)
    if problem is not None:
        raise ValueError(f"{problem}; got {len(value.encode('utf-8', 'surrogatepass'))} bytes")


def check_ts(name: str, value: datetime) -> None:
    """Raise ``ValueError`` for a timestamp outside [TS_MIN, TS_MAX)."""
    if not TS_MIN <= value < TS_MAX:
        raise ValueError(f"{name} {value.isoformat()} is outside the accepted range "
                         f"[{TS_MIN.date()}, {TS_MAX.date()})")


def check_version(value: int, accepted: frozenset[int], contract: str) -> None:
    """Raise ``ValueError`` for a ``schema_version`` this reader does not know."""
    if value not in accepted:
        raise ValueError(f"{contract} schema_version {value} is unknown: this reader "
                         f"accepts {sorted(accepted)}")


class AgentKind(StrEnum):
    CODING = "coding"
    SUPPORT = "support"
    SDR = "sdr"
    OTHER = "other"


class EventKind(StrEnum):
    SESSION_START = "session_start"
    PROMPT = "prompt"
    TOOL_CALL = "tool_call"
    TOOL_RESULT = "tool_result"
    RESPONSE = "response"
    STOP = "stop"
    SESSION_END = "session_end"
    OUTCOME = "outcome"
    # v2: a tool call waiting for the human's approval, and one the auto mode denied.
    PERMISSION_REQUEST = "permission_request"
    PERMISSION_DENIED = "permission_denied"


class TurnEvent(Struct, frozen=True, kw_only=True, omit_defaults=True, gc=False):
    """One prompt, tool call, tool result, response, stop, end or outcome of one agent.

    Payload fields are structured where the kind defines them and ``None`` otherwise:

    ==================  ==============================================================
    kind                payload fields
    ==================  ==============================================================
    session_start       ``reason``: how it started (Claude Code: ``startup``, ``resume``,
                        ``compact``, ``clear``; ``clear`` starts a new session)
    prompt / response   ``text``
    tool_call           ``tool_name``, ``tool_use_id``, ``tool_input`` (JSON text)
    permission_request  ``tool_name``, ``tool_input``, ``tool_use_id`` when the source
                        knows it (Claude Code does not: the request follows the
                        ``tool_call`` of the same tool and input). A request with no
                        ``tool_result`` by the session's close was rejected.
    permission_denied   ``tool_name``, ``tool_use_id``, ``tool_input``, ``reason`` (an
                        automatic denial: the call did not run)
    tool_result         ``tool_name``, ``tool_use_id``, ``tool_output``, ``is_error``,
                        ``is_interrupt`` (the human interrupted the call)
    stop                ``reason``, ``text`` (last assistant message): the end of a
                        *turn*, never of the session
    session_end         ``reason``: the end of the session
    outcome             ``outcome`` (a label, see schemas.outcomes), ``text``
    ==================  ==============================================================

    ``turn`` (v2) is the session's turn index: a turn begins with a user ``prompt``, so
    ``turn`` is the number of prompts of the session up to and including this event (0
    before the first prompt). The edge assigns it with ``seq`` (the spool, the SDK); it
    is None on v1 records and on events from sources that do not count turns (the
    sessionizer then derives it from the prompt order).

    Anything else the source sent is kept as JSON text in ``extra``. ``truncated`` says a
    field was cut to the capture size limit (the cut is marked in the text itself).

    Events are not tracked by the cyclic garbage collector (``gc=False``): a worker holds a
    batch's events (100k at 2,000 records of 50) while it allocates, and tracked events
    made collections take a fifth of the processor's CPU (``python -m bench.processor``).
    Safe because every field is a scalar, so an event cannot be part of a reference cycle
    (a unit test keeps it so).
    """

    event_id: Ident
    schema_version: int = TURN_EVENT_SCHEMA_VERSION
    workspace_id: WorkspaceId
    session_id: Ident
    agent_id: Ident
    agent_kind: AgentKind
    project: Annotated[str, Meta(max_length=512)]
    seq: Annotated[int, Meta(ge=0)]
    ts: UtcDatetime
    kind: EventKind
    text: str | None = None
    tool_name: str | None = None
    tool_use_id: str | None = None
    tool_input: str | None = None
    tool_output: str | None = None
    is_error: bool | None = None
    outcome: str | None = None
    reason: str | None = None
    # Claude Code subagents: the subagent's type; agent_id stays the parent agent's id.
    subagent_type: str | None = None
    source: str | None = None  # "claude-code-hook" | "sdk" | "simulator" | ...
    truncated: bool = False
    extra: str | None = None
    # v2
    turn: Annotated[int, Meta(ge=0)] | None = None
    is_interrupt: bool | None = None

    def __post_init__(self) -> None:
        check_version(self.schema_version, TURN_EVENT_VERSIONS, "TurnEvent")
        check_workspace_id(self.workspace_id)
        check_ts("ts", self.ts)


class TurnBatch(Struct, frozen=True, kw_only=True):
    """Several events of one session in one Kafka record (the high-throughput shape)."""

    schema_version: int = TURN_EVENT_SCHEMA_VERSION
    workspace_id: WorkspaceId
    session_id: Ident
    events: list[TurnEvent]

    def __post_init__(self) -> None:
        check_version(self.schema_version, TURN_EVENT_VERSIONS, "TurnBatch")
        check_workspace_id(self.workspace_id)


_batch_decoder = msgspec.json.Decoder(TurnBatch)
_event_decoder = msgspec.json.Decoder(TurnEvent)
_encoder = msgspec.json.Encoder()


def decode_turn_record(raw: bytes) -> list[TurnEvent]:
    """Decode one ``hivemind.turns`` value (a batch or a single event) into events.

    Raises ``msgspec.DecodeError`` (not JSON) or ``msgspec.ValidationError`` (contract);
    both subclass ``msgspec.MsgspecError``. A batch must be non-empty and hold events of
    its own workspace and session only.
    """
    if b'"events"' in raw:
        batch = _batch_decoder.decode(raw)
        for event in batch.events:
            if event.workspace_id != batch.workspace_id or event.session_id != batch.session_id:
                raise msgspec.ValidationError(
                    "batch holds an event of another workspace or session "
                    f"(event_id={event.event_id})"
                )
        if not batch.events:
            raise msgspec.ValidationError("batch holds no events")
        return batch.events
    return [_event_decoder.decode(raw)]


def encode_batch(events: list[TurnEvent]) -> bytes:
    """Encode events of one session as one ``hivemind.turns`` record."""
    first = events[0]
    return _encoder.encode(
        TurnBatch(workspace_id=first.workspace_id, session_id=first.session_id, events=events)
    )


def encode_event(event: TurnEvent) -> bytes:
    return _encoder.encode(event)


def event_from_dict(data: dict) -> TurnEvent:
    """Validate a plain dict (e.g. a spooled hook record) against the contract."""
    return msgspec.convert(data, TurnEvent, strict=False)


def turn_key(workspace_id: str) -> bytes:
    """The Kafka key of a turns record: the workspace, so its events stay on one partition."""
    return workspace_id.encode()
