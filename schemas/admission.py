"""What a stage checks of a decoded ``hivemind.turns`` record before keeping it.

The contract's decoder (:func:`schemas.events.decode_turn_record`) checks each record's
shape; these rules need more than the value (the record's key) or bound what the shape
allows. A record that breaks one is a contract violation: the first stage that sees it
dead-letters it with the rule's text as the detail, and keeps going.

* The key is the workspace id (:func:`schemas.events.turn_key`; candidates alike, and a
  candidate's sessions are of its workspace): a record keyed by another
  workspace (or by none) would sit on another workspace's partition and break the
  per-workspace order every consumer relies on.
* ``schema_version`` is one this reader knows (:data:`TURN_EVENT_VERSIONS`): a reader never
  guesses at a version it does not know.
* Event times are within [:data:`EARLIEST_TS`, :data:`LATEST_TS`): a clock at year 1 or
  9999 is a bug, not an event, and would hold a session open (or close it) for centuries.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from schemas.events import TURN_EVENT_SCHEMA_VERSION, TurnEvent, turn_key
from schemas.sessions import Candidate

TURN_EVENT_VERSIONS = frozenset({1, TURN_EVENT_SCHEMA_VERSION})
EARLIEST_TS = datetime(2000, 1, 1, tzinfo=UTC)
LATEST_TS = datetime(2100, 1, 1, tzinfo=UTC)


def turn_record_problem(events: Sequence[TurnEvent], *, key: bytes | None) -> str | None:
    """Why this decoded turns record must not be kept (``None``: it may). ``events`` all
    share a workspace and session (the decoder checks that)."""
    if not events:
        return "record holds no events"
    workspace_id = events[0].workspace_id
    if key != turn_key(workspace_id):
        shown = "none" if key is None else f"{len(key)} bytes that are not it"
        return f"record key must be its workspace id ({len(workspace_id)} characters); got {shown}"
    for event in events:
        if event.schema_version not in TURN_EVENT_VERSIONS:
            return (f"event_id={event.event_id[:80]} schema_version {event.schema_version} is "
                    f"unknown: this reader accepts {sorted(TURN_EVENT_VERSIONS)}")
        if not EARLIEST_TS <= event.ts < LATEST_TS:
            return (f"event_id={event.event_id[:80]} ts {event.ts.isoformat()} is outside "
                    f"[{EARLIEST_TS.date()}, {LATEST_TS.date()})")
    return None


def candidate_problem(candidate: Candidate, *, key: bytes | None) -> str | None:
    """Why this decoded ``hivemind.candidates`` record must not be codified (``None``: it
    may): a skill drafted from it would be published to the value's workspace, so the key
    and every session must agree with it."""
    if key != turn_key(candidate.workspace_id):
        return "candidate key must be its workspace id"
    if any(s.workspace_id != candidate.workspace_id for s in candidate.sessions):
        return "candidate holds a session of another workspace"
    return None
