"""The sessionizer as a pure state machine: events and ticks in, closed sessions out.

Guarantees (for one (workspace, session) key, whatever order records arrive in):

* Every event is counted once: an ``event_id`` already seen by this key (in the open
  generation or in a closed one still retained) is dropped and counted as a duplicate, so
  replaying input after a crash emits nothing new.
* A generation closes on its ``stop`` / ``session_end`` event, or on a tick once it is idle
  in event time (``last event ts + idle_gap_s < now``) *and* in processing time
  (``last arrival + arrival_grace_s < now``): a backlog replayed from a spool is not cut
  mid-flight. Equal is not past: a session exactly at its gap stays open.
* A closed generation leaves a marker for ``closed_retention_s``: a trailing stop /
  session_end, or an outcome (joined to the session later in the outcomes table), is
  absorbed (Claude Code sends Stop then SessionEnd); any other new event re-opens the
  session as ``generation + 1`` (a new ``session_uid``), counted *late* if its event time
  is before the closed generation's end and as a *reopen* otherwise (the next turn).
  Past ``closed_retention_s`` the marker is compacted to its generation count (no event
  hashes) until ``resume_retention_s``, so a session resumed days later still gets a new
  uid. An outcome for a key with no state opens nothing.
* Events inside a session are ordered by ``seq``; beyond ``max_events_per_session`` the
  first events (lowest seq) are kept and ``events_truncated`` is set; counts stay exact.

Nothing here does I/O or reads a clock: ``now`` is injected, and the adapter
(``streams.sessionizer.app``) stores :class:`SessionState` bytes in a Faust table.
Functions never raise on valid :class:`TurnEvent` input.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import msgspec
from msgspec import Struct

from runtime.settings import SessionizerSettings
from schemas.events import AgentKind, EventKind, TurnEvent
from schemas.sessions import Candidate, CloseReason, Session, session_uid
from streams.candidates import candidate_reasons, candidate_topic

STATE_VERSION = 1
_CLOSING = {EventKind.STOP: CloseReason.STOP, EventKind.SESSION_END: CloseReason.SESSION_END}
_TOOL_KINDS = frozenset({EventKind.TOOL_CALL, EventKind.TOOL_RESULT})


class SessionState(Struct, kw_only=True):
    """What the table holds per (workspace, session): the open generation's accumulators,
    or a closed marker (``closed_at`` set, accumulators empty), plus the hashes of every
    event id seen while the key has been retained."""

    version: int = STATE_VERSION
    workspace_id: str
    session_id: str
    partition: int  # the input partition; ticks of this partition sweep the key
    generation: int = 0
    seen: list[int] = []  # 64-bit hashes of event ids (all retained generations)
    last_arrival: datetime  # processing time of the latest event for this key
    # Closed marker: set once the current generation has been emitted.
    closed_at: datetime | None = None
    close_reason: CloseReason | None = None
    # Event time of the last closed generation's end: a new event before it is *late*; one
    # after it continues the session (Claude Code sends Stop after every turn).
    closed_end: datetime | None = None
    # A compact marker: past closed_retention_s the seen hashes are dropped and only the
    # generation count is kept (until resume_retention_s), so a session resumed days later
    # continues as the next generation instead of reusing generation 0's uid.
    compact: bool = False
    # Open generation.
    agent_id: str = ""
    agent_kind: AgentKind = AgentKind.OTHER
    project: str = ""
    started_at: datetime | None = None
    ended_at: datetime | None = None  # latest event time
    event_count: int = 0
    counts: dict[str, int] = {}
    tools_used: list[str] = []
    error_count: int = 0
    outcome: str | None = None
    outcome_seq: int = -1
    late_event_count: int = 0
    duplicate_event_count: int = 0
    # Kept events (at most max_events_per_session, the lowest seqs) as msgpack chunks, one
    # per record: a record re-encodes only its own events, not the whole session.
    chunks: list[bytes] = []
    kept: int = 0
    kept_max_seq: int = -1
    events_truncated: bool = False
    # Set when the state had to shrink to fit a record: keep at most this many events.
    events_cap: int | None = None

    @property
    def is_closed(self) -> bool:
        return self.closed_at is not None


@dataclass
class Tally:
    """What one call did, for metrics (the caller owns and resets it)."""

    events: int = 0
    duplicates: int = 0
    late: int = 0
    absorbed: int = 0
    reopened: int = 0


_state_encoder = msgspec.msgpack.Encoder()
_state_decoder = msgspec.msgpack.Decoder(SessionState)
_chunk_decoder = msgspec.msgpack.Decoder(list[TurnEvent])


def encode_state(state: SessionState) -> bytes:
    return _state_encoder.encode(state)


def decode_state(raw: bytes) -> SessionState:
    """Raises ``msgspec.DecodeError`` on bytes that are not a SessionState."""
    return _state_decoder.decode(raw)


def state_key(workspace_id: str, session_id: str) -> bytes:
    """The table key: unambiguous for any pair of identifiers."""
    return msgspec.json.encode([workspace_id, session_id])


def event_hash(event_id: str) -> int:
    """A stable 63-bit hash of an event id (dedup memory is 8 bytes per event)."""
    return _from_bytes(_blake2b(event_id.encode(), digest_size=8).digest(), "big") >> 1


_blake2b = hashlib.blake2b
_from_bytes = int.from_bytes


def on_events(state: SessionState | None, events: Iterable[TurnEvent], *, partition: int,
              now: datetime, settings: SessionizerSettings,
              tally: Tally | None = None) -> tuple[SessionState | None, list[Session]]:
    """Apply one record's events (all of one workspace and session) to ``state``.

    Returns the new state (the input is not modified) and the sessions closed by these
    events, in close order: a record holding ``stop`` then a new prompt emits the closed
    generation and leaves the next one open.
    """
    tally = tally if tally is not None else Tally()
    ordered = sorted(events, key=lambda e: e.seq)
    if not ordered:
        return state, []
    if state is None:
        if all(e.kind == EventKind.OUTCOME for e in ordered):
            # An outcome for a session no longer retained (an SDR reply days later): it
            # belongs to the outcomes table, joined by session id; it opens no session.
            tally.events += len(ordered)
            tally.absorbed += len(ordered)
            return None, []
        first = ordered[0]
        state = SessionState(workspace_id=first.workspace_id, session_id=first.session_id,
                             partition=partition, last_arrival=now)
    else:
        state = _copy(state)
    state.partition = partition
    state.last_arrival = now
    seen = set(state.seen)
    emitted: list[Session] = []
    fresh: list[TurnEvent] = []  # this record's kept events, chunked at the end
    cap = settings.max_events_per_session
    tally.events += len(ordered)
    for event in ordered:
        h = event_hash(event.event_id)
        if h in seen:
            tally.duplicates += 1
            if state.closed_at is None:
                state.duplicate_event_count += 1
            continue
        seen.add(h)
        state.seen.append(h)
        if state.closed_at is not None:
            if event.kind in _CLOSING or event.kind == EventKind.OUTCOME:
                # Trailing stop/session_end, or an outcome arriving after the close (the
                # outcomes table joins it by session id): no new generation.
                tally.absorbed += 1
                continue
            late = state.closed_end is not None and event.ts <= state.closed_end
            _reopen(state)
            if late:
                tally.late += 1
                state.late_event_count += 1
            else:
                tally.reopened += 1
        _add(state, event, cap, fresh)
        reason = _CLOSING.get(event.kind)
        if reason is not None:
            emitted.append(_close(state, reason, now, fresh))
    _flush(state, fresh)
    return state, emitted


def on_tick(state: SessionState, *, now: datetime,
            settings: SessionizerSettings) -> tuple[SessionState | None, list[Session]]:
    """Close ``state`` if idle, drop it once its closed marker has expired.

    Returns ``(None, [])`` for an expired marker (the caller deletes the key), the same
    state object when nothing is due, or a new closed state and the emitted session.
    """
    if state.is_closed:
        if not is_marker_expired(state, now=now, settings=settings):
            return state, []
        if state.compact:
            return None, []
        compact = _copy(state)
        compact.seen, compact.compact = [], True
        return compact, []
    if not is_idle(state, now=now, settings=settings):
        return state, []
    state = _copy(state)
    return state, [_close(state, CloseReason.IDLE, now, [])]


def is_idle(state: SessionState, *, now: datetime, settings: SessionizerSettings) -> bool:
    """Open, past its gap in event time and past the arrival grace in processing time."""
    return not state.is_closed and next_deadline(state, settings) < now


def is_marker_expired(state: SessionState, *, now: datetime,
                      settings: SessionizerSettings) -> bool:
    return state.is_closed and next_deadline(state, settings) < now


def next_deadline(state: SessionState, settings: SessionizerSettings) -> datetime:
    """The time after which a tick has work for ``state`` (a close or a delete)."""
    if state.closed_at is not None:
        keep = settings.resume_retention_s if state.compact else settings.closed_retention_s
        return state.closed_at + timedelta(seconds=keep)
    idle_at = (state.ended_at or state.last_arrival) + timedelta(seconds=settings.idle_gap_s)
    grace_at = state.last_arrival + timedelta(seconds=settings.arrival_grace_s)
    return max(idle_at, grace_at)


def shrink_to_fit(state: SessionState, max_bytes: int) -> tuple[SessionState, bytes]:
    """``state`` and its encoding, keeping fewer (the lowest-seq) events until it fits in
    ``max_bytes`` (events with huge payloads can outgrow a Kafka record long before
    ``max_events_per_session``); the generation is marked truncated, counts stay exact,
    and later events are not kept either. The input is not modified."""
    raw = encode_state(state)
    if len(raw) <= max_bytes or not state.kept:
        return state, raw
    state = _copy(state)
    events = kept_events(state)
    while len(raw) > max_bytes and events:
        events = events[:len(events) // 2]
        state.chunks, state.kept, state.kept_max_seq = [], 0, -1
        _flush(state, list(events))
        state.events_truncated = True
        state.events_cap = len(events)
        raw = encode_state(state)
    return state, raw


def kept_events(state: SessionState, fresh: list[TurnEvent] | None = None) -> list[TurnEvent]:
    """The open generation's kept events ordered by seq (arrival order among equal seqs)."""
    events: list[TurnEvent] = []
    for chunk in state.chunks:
        events.extend(_chunk_decoder.decode(chunk))
    if fresh:
        events.extend(fresh)
    events.sort(key=_seq)
    return events


def candidate_for(session: Session) -> Candidate | None:
    """The codification candidate for one closed session, or None when it is not one.

    ``candidate_id`` is derived from ``session_uid``, so a replayed close yields the same id;
    ``topic`` is the grouping signature the codifier batches on.
    """
    reasons = candidate_reasons(session)
    if not reasons:
        return None
    return Candidate(candidate_id=candidate_id(session.session_uid),
                     workspace_id=session.workspace_id, reasons=reasons,
                     topic=candidate_topic(session), sessions=[session],
                     created_at=session.closed_at)


def candidate_id(uid: str) -> str:
    return hashlib.blake2b(f"candidate\x00{uid}".encode(), digest_size=12).hexdigest()


def _copy(state: SessionState) -> SessionState:
    return msgspec.structs.replace(
        state, seen=list(state.seen), counts=dict(state.counts),
        tools_used=list(state.tools_used), chunks=list(state.chunks))


def _add(state: SessionState, event: TurnEvent, cap: int, fresh: list[TurnEvent]) -> None:
    ts, kind = event.ts, event.kind
    if state.event_count == 0:
        state.agent_id, state.agent_kind, state.project = (
            event.agent_id, event.agent_kind, event.project)
        state.started_at = state.ended_at = ts
    elif ts > state.ended_at:  # type: ignore[operator]  # set with the first event
        state.ended_at = ts
    elif ts < state.started_at:  # type: ignore[operator]
        state.started_at = ts
    state.event_count += 1
    counts = state.counts
    counts[kind] = counts.get(kind, 0) + 1  # a StrEnum: encodes as its value
    if kind in _TOOL_KINDS:
        name = event.tool_name
        if name and name not in state.tools_used:
            state.tools_used.append(name)
        if kind is EventKind.TOOL_RESULT and event.is_error:
            state.error_count += 1
    elif kind is EventKind.OUTCOME and event.outcome and event.seq >= state.outcome_seq:
        state.outcome, state.outcome_seq = event.outcome, event.seq
    if state.events_cap is not None:
        cap = min(cap, state.events_cap)
    if state.kept + len(fresh) < cap:
        fresh.append(event)
        return
    state.events_truncated = True
    if cap > 0 and event.seq < max(state.kept_max_seq, max((e.seq for e in fresh), default=-1)):
        # Rare (out of order past the cap): evict the highest seq to keep the lowest ones.
        events = kept_events(state, fresh)
        bisect.insort_right(events, event, key=_seq)
        events.pop()
        state.chunks, state.kept, state.kept_max_seq = [], 0, -1
        fresh[:] = events


def _flush(state: SessionState, fresh: list[TurnEvent]) -> None:
    """Store this record's kept events as one chunk."""
    if not fresh:
        return
    fresh.sort(key=_seq)
    state.chunks.append(_state_encoder.encode(fresh))
    state.kept += len(fresh)
    state.kept_max_seq = max(state.kept_max_seq, fresh[-1].seq)
    fresh.clear()


def _seq(event: TurnEvent) -> int:
    return event.seq


def _close(state: SessionState, reason: CloseReason, now: datetime,
           fresh: list[TurnEvent]) -> Session:
    """Emit the open generation and turn ``state`` into its closed marker."""
    started = state.started_at or now
    session = Session(
        session_uid=session_uid(state.workspace_id, state.session_id, state.generation),
        workspace_id=state.workspace_id, session_id=state.session_id,
        generation=state.generation, agent_id=state.agent_id or "unknown",
        agent_kind=state.agent_kind, project=state.project, started_at=started,
        ended_at=state.ended_at or started, closed_at=now, close_reason=reason,
        event_count=state.event_count, counts=dict(state.counts),
        tools_used=list(state.tools_used), error_count=state.error_count,
        outcome=state.outcome, late_event_count=state.late_event_count,
        duplicate_event_count=state.duplicate_event_count, events=kept_events(state, fresh),
        events_truncated=state.events_truncated,
    )
    fresh.clear()
    _reset_generation(state)
    state.closed_at, state.close_reason = now, reason
    state.closed_end = session.ended_at
    return session


def _reopen(state: SessionState) -> None:
    state.generation += 1
    state.compact = False
    state.closed_at = state.close_reason = None
    _reset_generation(state)


def _reset_generation(state: SessionState) -> None:
    state.agent_id, state.agent_kind, state.project = "", AgentKind.OTHER, ""
    state.started_at = state.ended_at = None
    state.event_count = state.error_count = 0
    state.late_event_count = state.duplicate_event_count = 0
    state.counts, state.tools_used = {}, []
    state.chunks, state.kept, state.kept_max_seq = [], 0, -1
    state.outcome, state.outcome_seq, state.events_truncated = None, -1, False
    state.events_cap = None
