"""The sessionizer as a pure state machine: events and ticks in, closed sessions out.

A session is what the agent means by one: one (workspace, session id) from its start to
its ``session_end``, or to the idle gap. A ``stop`` ends a *turn* inside the session
(Claude Code sends one after every assistant turn), never the session: the human's
correction of what the agent did comes as the next turn's prompt and must land in the
same session. Guarantees, for one (workspace, session id) key, whatever order records
arrive in:

* Every event is counted once: an ``event_id`` already seen by this key (in the open
  generation or in a closed one still retained) is dropped and counted as a duplicate, so
  replaying input after a crash emits nothing new.
* A generation closes on its ``session_end``, on a ``session_start`` with reason
  ``clear`` (Claude Code's ``/clear`` in the same session id: the open generation closes
  as ``clear`` and the start opens the next one; a ``/clear`` that comes with a new
  session id is simply another key), or on a tick once it is idle in event time
  (``last event ts + idle_gap_s < now``) *and* in processing time (``last arrival +
  arrival_grace_s < now``): a backlog replayed from a spool is not cut mid-flight. Equal
  is not past: a session exactly at its gap stays open. ``stop`` never closes, so a
  ``stop`` arriving before the turn it ends cannot split a session; ``session_start``
  with ``resume``/``compact`` continues the open generation.
* Every event carries its turn index on the emitted Session: the edge's ``turn`` (v2
  events) as sent, else derived from the seq order (a prompt begins the next turn).
  Edit counts (schemas.sessions) are accumulated exactly, whatever the truncation.
* A closed generation leaves a marker for ``closed_retention_s``: a trailing ``stop`` /
  ``session_end`` is absorbed, and so is an outcome (the outcomes table joins it to the
  session later); any other new event re-opens the session as ``generation + 1`` (a new
  ``session_uid``), counted *late* if its event time is before the closed generation's
  end and as a *reopen* otherwise (``--resume``, the human back after the idle gap).
  Past ``closed_retention_s`` the marker is compacted to its generation count and end (no
  event hashes) and kept until ``max(resume_retention_s, outcome_horizon_s)``, so a
  session resumed days later still gets a new uid and a late outcome is still known to
  be within or beyond the horizon. An outcome for a key with no state opens nothing.
* For ``closed_events_retention_s`` (at most ``closed_retention_s``) a marker whose
  session had tool calls also keeps the emitted session. A re-opened generation (not a
  ``clear``) then carries its last ``max_events_per_session // 4`` events (at most a
  quarter of ``max_record_bytes``) as context at the head of its ``events``
  (``carried_event_count``; candidate selection sees the whole conversation). A *late
  learnable outcome* (schemas.outcomes, ``streams.candidates.is_learnable_outcome``)
  within that time, for a session that was not a candidate, re-emits the session once,
  same ``session_uid``, with the ``outcome`` and ``reemitted`` set, so it becomes a
  candidate with the same ``candidate_id``; stores keep the first emission.
* Outcomes after the close are counted by disposition (:class:`Tally`): joined later by
  the outcomes table, made a candidate, beyond the horizon (event time past the session's
  end + ``outcome_horizon_s``: counted, and left out of joins by the readers), or for no
  known session. None is dropped silently.
* Events inside a session are ordered by ``seq``; beyond ``max_events_per_session`` the
  first events (lowest seq) are kept and ``events_truncated`` is set; counts stay exact.

State cost: an open session holds its kept events (as before); a closed marker holds its
event hashes (8 bytes per event) for ``closed_retention_s``, plus, for sessions with tool
calls, the emitted session (about its kept events' size) for ``closed_events_retention_s``
(1 h by default), then about 100 bytes until the compact marker expires. Stored
(:func:`store_state`, v3), a state is a head without events or hashes plus chunk keys
written once each, so a write costs what arrived since the last one.

Nothing here does I/O or reads a clock: ``now`` is injected, and the adapter
(``streams.sessionizer.app``) stores :class:`SessionState` bytes in a Faust table.
Functions never raise on valid :class:`TurnEvent` input. States written by earlier
versions (``version`` 1 and 2, everything in one value) decode and continue.
"""

from __future__ import annotations

import bisect
import hashlib
import sys
from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import msgspec
from msgspec import Struct

from hivemind_kafka.runtime.settings import SessionizerSettings
from hivemind_kafka.schemas.events import AgentKind, EventKind, TurnEvent
from hivemind_kafka.schemas.outcomes import is_within_horizon, normalize_label
from hivemind_kafka.schemas.sessions import Candidate, CloseReason, Session, session_uid
from hivemind_kafka.streams.approvals import edit_ledger
from hivemind_kafka.streams.candidates import Assessment, assess, is_learnable_outcome

STATE_VERSION = 3
_TOOL_KINDS = frozenset({EventKind.TOOL_CALL, EventKind.TOOL_RESULT})
_TRAILING = frozenset({EventKind.STOP, EventKind.SESSION_END})
_LEDGER_KINDS = frozenset({EventKind.TOOL_CALL, EventKind.TOOL_RESULT,
                           EventKind.PERMISSION_REQUEST, EventKind.PERMISSION_DENIED})


class SessionState(Struct, kw_only=True, omit_defaults=True):
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
    # after it continues the session (--resume, back after the idle gap).
    closed_end: datetime | None = None
    # A compact marker: past closed_retention_s the seen hashes are dropped and only the
    # generation count is kept, so a session resumed days later continues as the next
    # generation instead of reusing generation 0's uid.
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
    # per record: a record re-encodes only its own events, not the whole session. In
    # memory: all of them. Stored (v3, split_state): in their own table keys, each written
    # once, so a write costs the new events, not the session's length; v2 states embed
    # them here and move to chunk keys at their next write.
    chunks: list[bytes] = []
    # v3: how many chunk keys (chunk_key(key, chunk_base + i), i < chunk_keys) hold this
    # state's chunks and ``seen`` hashes (a v3 head stores neither itself). A rewrite goes
    # to fresh indices past the old ones (``chunk_base`` only grows), so a head that a
    # crash kept never reads another state's chunks.
    chunk_base: int = 0
    chunk_keys: int = 0
    # In memory only (never stored): how many leading chunks and hashes are already in
    # those keys, and whether the chunks or hashes were rebuilt since (a close, a shrink,
    # an eviction past the cap, a compaction): then the keys are rewritten from key 0.
    stored_chunks: int = 0
    stored_seen: int = 0
    rebuilt: bool = False
    kept: int = 0
    kept_max_seq: int = -1
    events_truncated: bool = False
    # Set when the state had to shrink to fit a record: keep at most this many events.
    events_cap: int | None = None
    # v2: the edit ledger (streams.approvals) of the open generation.
    edit_calls: dict[str, int] = {}
    edit_open: dict[str, str] = {}
    edit_waiting: dict[str, int] = {}
    # v2: context carried into the open generation from the previous one (msgpack list of
    # TurnEvents), emitted at the head of the session's events.
    carried: bytes | None = None
    carried_count: int = 0
    # v2, closed marker: the emitted session (msgpack), kept closed_events_retention_s,
    # and whether it was a candidate.
    closed_session: bytes | None = None
    was_candidate: bool = False

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
    # Outcomes after their session closed, by disposition (each also counts as absorbed).
    late_outcomes: int = 0  # stored and joined by the outcomes table
    late_candidates: int = 0  # re-emitted the session as a candidate
    outcomes_beyond_horizon: int = 0
    outcomes_unmatched: int = 0  # no state for the key: unknown, or long expired


_state_encoder = msgspec.msgpack.Encoder()
_state_decoder = msgspec.msgpack.Decoder(SessionState)
_chunk_decoder = msgspec.msgpack.Decoder(list[TurnEvent])
_session_decoder = msgspec.msgpack.Decoder(Session)


class StoredChunk(Struct, array_like=True):
    """What one chunk key holds: chunks of kept events, and the dedup hashes added with
    them (packed, 8 bytes little-endian each)."""

    chunks: list[bytes] = []
    seen: bytes = b""


_stored_chunk_decoder = msgspec.msgpack.Decoder(StoredChunk)


def _pack(hashes: list[int]) -> bytes:
    packed = array("Q", hashes)
    if sys.byteorder == "big":  # pragma: no cover - the packed form is little-endian
        packed.byteswap()
    return packed.tobytes()


def _unpack(raw: bytes) -> list[int]:
    packed = array("Q")
    packed.frombytes(raw)
    if sys.byteorder == "big":  # pragma: no cover
        packed.byteswap()
    return packed.tolist()


def encode_state(state: SessionState) -> bytes:
    return _state_encoder.encode(state)


def decode_state(raw: bytes) -> SessionState:
    """Raises ``msgspec.DecodeError`` on bytes that are not a SessionState."""
    return _state_decoder.decode(raw)


def state_key(workspace_id: str, session_id: str) -> bytes:
    """The table key: unambiguous for any pair of identifiers."""
    return msgspec.json.encode([workspace_id, session_id])


def chunk_key(key: bytes, index: int) -> bytes:
    """The table key of a state's ``index``-th chunk key (a NUL never occurs in a state
    key: it is JSON)."""
    return b"%b\x00%d" % (key, index)


def is_chunk_key(key: bytes) -> bool:
    return b"\x00" in key


def store_state(key: bytes, state: SessionState, max_bytes: int
                ) -> tuple[SessionState, bytes, dict[bytes, bytes | None], int]:
    """How to store ``state`` (fitted to ``max_bytes`` as :func:`shrink_to_fit` does):
    the state as stored, its head bytes (no chunks, no hashes), the chunk-key writes (None
    deletes) and how many chunk keys the head owns. Only what was added since the last
    store is written, as one new chunk key, so a write costs the new events, whatever the
    session's length. Rebuilt chunks or hashes are written whole to one key at a fresh
    index past the ones owned so far, and those are deleted: an index is never
    rewritten, so the head written before (all a crash may leave) still finds its own
    chunks. A state without kept events (a closed marker) is its head alone, hashes
    included. The input is not modified."""
    head = _head(state)
    shrunk = len(head) + sum(map(len, state.chunks)) + 8 * len(state.seen) > max_bytes
    if shrunk:
        state, _ = shrink_to_fit(state, max_bytes)
    chunks, seen = state.chunks, state.seen
    base, owned = state.chunk_base, state.chunk_keys
    replace = msgspec.structs.replace
    if state.rebuilt or not owned:
        writes: dict[bytes, bytes | None] = {
            chunk_key(key, base + i): None for i in range(owned)}
        base += owned
        if not chunks:
            # No kept events (a closed marker): its hashes stay in the head, one record.
            state = replace(state, chunk_base=base, chunk_keys=0, stored_chunks=0,
                            stored_seen=0, rebuilt=False)
            return state, _head(state, with_seen=True), writes, 0
        writes[chunk_key(key, base)] = _state_encoder.encode(StoredChunk(chunks, _pack(seen)))
        state = replace(state, chunk_base=base, chunk_keys=1, stored_chunks=len(chunks),
                        stored_seen=len(seen), rebuilt=False)
        return state, _head(state), writes, 1
    writes = {}
    keys = owned
    if len(chunks) > state.stored_chunks or len(seen) > state.stored_seen:
        writes[chunk_key(key, base + owned)] = _state_encoder.encode(
            StoredChunk(chunks[state.stored_chunks:], _pack(seen[state.stored_seen:])))
        keys = owned + 1
    if shrunk or writes:
        state = replace(state, chunk_keys=keys, stored_chunks=len(chunks),
                        stored_seen=len(seen), rebuilt=False)
        head = _head(state)
    return state, head, writes, keys


def _head(state: SessionState, *, with_seen: bool = False) -> bytes:
    return encode_state(msgspec.structs.replace(
        state, chunks=[], seen=state.seen if with_seen else [], stored_chunks=0,
        stored_seen=0, rebuilt=False, version=STATE_VERSION))


def owned_chunks(state: SessionState | None) -> range:
    """The chunk-key indices a state (as read or as stored) names; none for no state."""
    if state is None:
        return range(0)
    return range(state.chunk_base, state.chunk_base + state.chunk_keys)


def join_state(key: bytes, raw: bytes, get: Callable[[bytes], bytes | None]) -> SessionState:
    """The state stored under ``key`` (head bytes ``raw``), its chunks and hashes read
    with ``get``. A missing chunk key (lost to a bug or an operator) drops its events and
    hashes (they would count again if replayed) and marks the generation truncated;
    counts stay exact. Raises ``msgspec.DecodeError`` on bytes that are not a state."""
    state = decode_state(raw)
    if not state.chunk_keys:
        return state  # nothing stored apart (or a v2 state: all of it is in the head)
    chunks, seen = list(state.chunks), list(state.seen)
    missing = False
    for i in owned_chunks(state):
        part = get(chunk_key(key, i))
        if part is None:
            missing = True
            continue
        stored = _stored_chunk_decoder.decode(part)
        chunks.extend(stored.chunks)
        seen.extend(_unpack(stored.seen))
    state.chunks, state.seen = chunks, seen
    state.stored_chunks, state.stored_seen = len(chunks), len(seen)
    if missing:
        events = kept_events(state)
        state.kept = len(events)
        state.kept_max_seq = max((e.seq for e in events), default=-1)
        state.events_truncated = bool(state.event_count)
        state.rebuilt = True  # rewrite what is left
    return state


def event_hash(event_id: str) -> int:
    """A stable 63-bit hash of an event id (dedup memory is 8 bytes per event)."""
    return _from_bytes(_blake2b(event_id.encode(), digest_size=8).digest(), "big") >> 1


_blake2b = hashlib.blake2b
_from_bytes = int.from_bytes


def is_clear(event: TurnEvent) -> bool:
    """A ``session_start`` that begins a new session in the same id (``/clear``)."""
    return event.kind is EventKind.SESSION_START and (event.reason or "").lower() == "clear"


def on_events(state: SessionState | None, events: Iterable[TurnEvent], *, partition: int,
              now: datetime, settings: SessionizerSettings, tally: Tally | None = None,
              owned: bool = False) -> tuple[SessionState | None, list[Session]]:
    """Apply one record's events (all of one workspace and session) to ``state``.

    ``owned``: the caller hands the event objects over (it decoded them and keeps no
    other use for them), so a close may fill in their ``turn`` in place instead of
    copying each event.

    Returns the new state (the input is not modified) and the sessions closed (or
    re-emitted for a late outcome) by these events, in order: a record holding
    ``session_end`` then a new prompt emits the closed generation and leaves the next one
    open.
    """
    tally = tally if tally is not None else Tally()
    ordered = sorted(events, key=lambda e: e.seq)
    if not ordered:
        return state, []
    if state is None:
        if all(e.kind == EventKind.OUTCOME for e in ordered):
            # An outcome for a session no longer retained (or never seen): it belongs to
            # the outcomes table, joined by session id; it opens no session.
            tally.events += len(ordered)
            tally.absorbed += len(ordered)
            tally.outcomes_unmatched += len(ordered)
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
            if event.kind in _TRAILING:
                tally.absorbed += 1  # Claude Code's last Stop, a repeated SessionEnd
                continue
            if event.kind is EventKind.OUTCOME:
                tally.absorbed += 1
                _late_outcome(state, event, now, settings, tally, emitted)
                continue
            late = state.closed_end is not None and event.ts <= state.closed_end
            _reopen(state, settings, carry=not is_clear(event))
            if late:
                tally.late += 1
                state.late_event_count += 1
            else:
                tally.reopened += 1
        elif is_clear(event) and state.event_count:
            _flush(state, fresh, remember=owned)
            emitted.append(_close(state, CloseReason.CLEAR, now, fresh, settings, owned))
            _reopen(state, settings, carry=False)
            tally.reopened += 1
        _add(state, event, cap, fresh)
        if event.kind is EventKind.SESSION_END:
            emitted.append(_close(state, CloseReason.SESSION_END, now, fresh, settings, owned))
    _flush(state, fresh, remember=owned)
    return state, emitted


def on_tick(state: SessionState, *, now: datetime,
            settings: SessionizerSettings) -> tuple[SessionState | None, list[Session]]:
    """Close ``state`` if idle; drop a closed marker's retained session, compact the
    marker, or drop it, as each expires.

    Returns ``(None, [])`` for an expired marker (the caller deletes the key), the same
    state object when nothing is due, or a new state and the emitted session (if any).
    """
    if state.is_closed:
        if not is_marker_expired(state, now=now, settings=settings):
            return state, []
        closed_at = state.closed_at
        assert closed_at is not None
        if state.compact:
            return None, []
        shrunk = _copy(state)
        shrunk.closed_session = None
        if closed_at + timedelta(seconds=settings.closed_retention_s) < now:
            shrunk.seen, shrunk.compact, shrunk.rebuilt = [], True, True
        return shrunk, []
    if not is_idle(state, now=now, settings=settings):
        return state, []
    state = _copy(state)
    return state, [_close(state, CloseReason.IDLE, now, [], settings, True)]


def is_idle(state: SessionState, *, now: datetime, settings: SessionizerSettings) -> bool:
    """Open, past its gap in event time and past the arrival grace in processing time."""
    return not state.is_closed and next_deadline(state, settings) < now


def is_marker_expired(state: SessionState, *, now: datetime,
                      settings: SessionizerSettings) -> bool:
    """A closed marker with work due: its retained session, its hashes or itself expired."""
    return state.is_closed and next_deadline(state, settings) < now


def next_deadline(state: SessionState, settings: SessionizerSettings) -> datetime:
    """The time after which a tick has work for ``state`` (a close, a shrink or a delete)."""
    if state.closed_at is not None:
        if state.compact:
            keep = max(settings.resume_retention_s, settings.outcome_horizon_s)
        elif state.closed_session is not None:
            keep = min(settings.closed_events_retention_s, settings.closed_retention_s)
        else:
            keep = settings.closed_retention_s
        return state.closed_at + timedelta(seconds=keep)
    idle_at = (state.ended_at or state.last_arrival) + timedelta(seconds=settings.idle_gap_s)
    grace_at = state.last_arrival + timedelta(seconds=settings.arrival_grace_s)
    return max(idle_at, grace_at)


def shrink_to_fit(state: SessionState, max_bytes: int) -> tuple[SessionState, bytes]:
    """``state`` and its encoding, fitting ``max_bytes`` (events with huge payloads can
    outgrow a Kafka record long before ``max_events_per_session``): first the retained
    session of a closed marker and the carried context go, then fewer (the lowest-seq)
    events are kept; the generation is marked truncated, counts stay exact, and later
    events are not kept either. The input is not modified."""
    raw = encode_state(state)
    if len(raw) <= max_bytes:
        return state, raw
    if state.closed_session is not None or state.carried is not None:
        state = _copy(state)
        state.closed_session, state.carried, state.carried_count = None, None, 0
        raw = encode_state(state)
    if len(raw) <= max_bytes or not state.kept:
        return state, raw
    state = _copy(state)
    events = kept_events(state)
    while len(raw) > max_bytes and events:
        events = events[:len(events) // 2]
        state.chunks, state.kept, state.kept_max_seq = [], 0, -1
        state.rebuilt = True
        _flush(state, list(events))
        state.events_truncated = True
        state.events_cap = len(events)
        raw = encode_state(state)
    return state, raw


def kept_events(state: SessionState, fresh: list[TurnEvent] | None = None, *,
                take: bool = False) -> list[TurnEvent]:
    """The open generation's kept events ordered by seq (arrival order among equal seqs).
    ``take``: the caller may modify them (a close), so remembered ones are forgotten."""
    events: list[TurnEvent] = []
    for chunk in state.chunks:
        remembered = _CHUNK_EVENTS.pop(id(chunk), None) if take else _CHUNK_EVENTS.get(id(chunk))
        if remembered is not None and remembered[0] is chunk:
            events.extend(remembered[1])
        else:
            events.extend(_chunk_decoder.decode(chunk))
    if fresh:
        events.extend(fresh)
    events.sort(key=_seq)
    return events


def candidate_for(session: Session) -> Candidate | None:
    """The codification candidate for one closed session, or None when it is not one.

    ``candidate_id`` is derived from ``session_uid``, so a replayed close (or a session
    re-emitted for a late outcome) yields the same id; ``topic`` is the grouping signature
    the codifier batches on.
    """
    found = _assessed(session)
    if not found.reasons:
        return None
    return Candidate(candidate_id=candidate_id(session.session_uid),
                     workspace_id=session.workspace_id, reasons=found.reasons,
                     topic=found.topic, sessions=[session], created_at=session.closed_at)


# The assessments of the last sessions emitted: the adapter asks candidate_for about each
# session right after on_events made it, and selection is the costly part of a close.
_ASSESSED: dict[int, tuple[Session, Assessment]] = {}
_ASSESSED_MAX = 16


def _assessed(session: Session) -> Assessment:
    cached = _ASSESSED.get(id(session))
    if cached is not None and cached[0] is session:
        return cached[1]
    found = assess(session)
    if len(_ASSESSED) >= _ASSESSED_MAX:
        _ASSESSED.pop(next(iter(_ASSESSED)))
    _ASSESSED[id(session)] = (session, found)
    return found


def candidate_id(uid: str) -> str:
    return hashlib.blake2b(f"candidate\x00{uid}".encode(), digest_size=12).hexdigest()


def with_turns(events: list[TurnEvent], *, in_place: bool = False) -> list[TurnEvent]:
    """``events`` (seq order) with every missing ``turn`` filled in: the turn of the last
    event that had one, a prompt beginning the next turn (0 before the first prompt).
    ``in_place``: set it on the given (frozen) objects rather than on copies, for events
    nobody else holds (a copy costs ten times the assignment)."""
    if all(e.turn is not None for e in events):
        return events
    out = []
    current = 0
    for e in events:
        if e.turn is not None:
            current = e.turn
        else:
            if e.kind is EventKind.PROMPT:
                current += 1
            if in_place:
                _force_setattr(e, "turn", current)
            else:
                e = msgspec.structs.replace(e, turn=current)
        out.append(e)
    return out


_force_setattr = msgspec.structs.force_setattr


def _late_outcome(state: SessionState, event: TurnEvent, now: datetime,
                  settings: SessionizerSettings, tally: Tally, emitted: list[Session]) -> None:
    """An outcome for a closed session: count it; re-emit the session as a candidate when
    it is learnable, within the horizon, and the session is retained and not one yet."""
    end = state.closed_end or state.closed_at
    if end is not None and not is_within_horizon(event.ts, end, settings.outcome_horizon_s):
        tally.outcomes_beyond_horizon += 1
        return
    if state.closed_session is None or state.was_candidate \
            or not is_learnable_outcome(event.outcome):
        tally.late_outcomes += 1
        return
    session = msgspec.structs.replace(
        _session_decoder.decode(state.closed_session),
        outcome=normalize_label(event.outcome), reemitted=True)
    if _assessed(session).reasons:
        emitted.append(session)
        state.was_candidate = True
        tally.late_candidates += 1
    else:
        tally.late_outcomes += 1


def _copy(state: SessionState) -> SessionState:
    return msgspec.structs.replace(
        state, seen=list(state.seen), counts=dict(state.counts),
        tools_used=list(state.tools_used), chunks=list(state.chunks),
        edit_calls=dict(state.edit_calls), edit_open=dict(state.edit_open),
        edit_waiting=dict(state.edit_waiting))


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
    if kind in _LEDGER_KINDS:
        edit_ledger(state.edit_calls, state.edit_open, state.edit_waiting).observe(event)
    if state.events_cap is not None:
        cap = min(cap, state.events_cap)
    if state.kept + len(fresh) < cap:
        fresh.append(event)
        return
    state.events_truncated = True
    if cap > 0 and event.seq < max(state.kept_max_seq, max((e.seq for e in fresh), default=-1)):
        # Rare (out of order past the cap): evict the highest seq to keep the lowest ones.
        events = kept_events(state, fresh, take=True)
        bisect.insort_right(events, event, key=_seq)
        events.pop()
        state.chunks, state.kept, state.kept_max_seq = [], 0, -1
        state.rebuilt = True
        fresh[:] = events


# The decoded events of the chunks made lately, by the identity of the chunk's bytes: a
# session closed in the batch that made its chunks needs no decode of its own events (the
# bytes are kept with the events, so an id is not reused while remembered). Only events
# handed over (``owned``) are remembered, and a close takes them out before it sets turns.
_CHUNK_EVENTS: dict[int, tuple[bytes, list[TurnEvent]]] = {}
_CHUNK_EVENTS_MAX = 4096  # chunks (records); the oldest are forgotten first


def _flush(state: SessionState, fresh: list[TurnEvent], *, remember: bool = False) -> None:
    """Store this record's kept events as one chunk."""
    if not fresh:
        return
    fresh.sort(key=_seq)
    chunk = _state_encoder.encode(fresh)
    state.chunks.append(chunk)
    if remember:
        if len(_CHUNK_EVENTS) >= _CHUNK_EVENTS_MAX:
            _CHUNK_EVENTS.pop(next(iter(_CHUNK_EVENTS)))
        _CHUNK_EVENTS[id(chunk)] = (chunk, list(fresh))
    state.kept += len(fresh)
    state.kept_max_seq = max(state.kept_max_seq, fresh[-1].seq)
    fresh.clear()


def _seq(event: TurnEvent) -> int:
    return event.seq


def _close(state: SessionState, reason: CloseReason, now: datetime,
           fresh: list[TurnEvent], settings: SessionizerSettings, owned: bool) -> Session:
    """Emit the open generation and turn ``state`` into its closed marker."""
    started = state.started_at or now
    # Chunk events are decoded here; fresh ones are the caller's unless handed over.
    own = with_turns(kept_events(state, fresh, take=True), in_place=owned or not fresh)
    carried = _chunk_decoder.decode(state.carried) if state.carried else []
    edits = edit_ledger(state.edit_calls, state.edit_open, state.edit_waiting).edit_counts()
    session = Session(
        session_uid=session_uid(state.workspace_id, state.session_id, state.generation),
        workspace_id=state.workspace_id, session_id=state.session_id,
        generation=state.generation, agent_id=state.agent_id or "unknown",
        agent_kind=state.agent_kind, project=state.project, started_at=started,
        ended_at=state.ended_at or started, closed_at=now, close_reason=reason,
        event_count=state.event_count, counts=dict(state.counts),
        tools_used=list(state.tools_used), error_count=state.error_count,
        outcome=state.outcome, late_event_count=state.late_event_count,
        duplicate_event_count=state.duplicate_event_count, events=[*carried, *own],
        events_truncated=state.events_truncated,
        turn_count=state.counts.get(EventKind.PROMPT, 0),
        edits_proposed=edits.proposed, edits_accepted=edits.accepted,
        edits_rejected=edits.rejected, carried_event_count=len(carried),
    )
    found = assess(session)
    corrections = 0
    if found.corrections:  # those of this generation, not of the carried context
        own_ids = {e.event_id for e in own}
        corrections = sum(1 for p in found.corrections if p.event_id in own_ids)
    if corrections:
        session = msgspec.structs.replace(session, corrections=corrections)
    _ASSESSED[id(session)] = (session, found)  # corrections do not change the assessment
    if len(_ASSESSED) > _ASSESSED_MAX:
        _ASSESSED.pop(next(iter(_ASSESSED)))
    fresh.clear()
    _reset_generation(state)
    state.closed_at, state.close_reason = now, reason
    state.closed_end = session.ended_at
    state.was_candidate = bool(found.reasons)
    retain = settings.closed_events_retention_s > 0 and any(
        e.kind in _TOOL_KINDS for e in session.events)
    state.closed_session = _state_encoder.encode(session) if retain else None
    return session


def _reopen(state: SessionState, settings: SessionizerSettings, *, carry: bool) -> None:
    """Open ``generation + 1``; with ``carry``, the retained session's last events become
    its context."""
    context = _context_of(state.closed_session, settings) if carry else None
    state.generation += 1
    state.compact = False
    state.closed_at = state.close_reason = None
    state.closed_session, state.was_candidate = None, False
    _reset_generation(state)
    if context:
        state.carried, state.carried_count = _state_encoder.encode(context), len(context)


def _context_of(raw: bytes | None, settings: SessionizerSettings) -> list[TurnEvent]:
    """The last events of a retained session that fit a quarter of the event cap and of
    the record size."""
    if raw is None:
        return []
    events = _session_decoder.decode(raw).events
    keep = max(1, settings.max_events_per_session // 4)
    context = events[-keep:]
    budget = settings.max_record_bytes // 4
    while context and len(_state_encoder.encode(context)) > budget:
        context = context[len(context) // 2 + 1:] if len(context) > 1 else []
    return context


def _reset_generation(state: SessionState) -> None:
    state.agent_id, state.agent_kind, state.project = "", AgentKind.OTHER, ""
    state.started_at = state.ended_at = None
    state.event_count = state.error_count = 0
    state.late_event_count = state.duplicate_event_count = 0
    state.counts, state.tools_used = {}, []
    state.chunks, state.kept, state.kept_max_seq = [], 0, -1
    state.rebuilt = True
    state.outcome, state.outcome_seq, state.events_truncated = None, -1, False
    state.events_cap = None
    state.edit_calls, state.edit_open, state.edit_waiting = {}, {}, {}
    state.carried, state.carried_count = None, 0
