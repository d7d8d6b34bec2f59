"""What a stage checks of a decoded ``hivemind.turns`` record before keeping it.

The contract's decoder (:func:`schemas.events.decode_turn_record`) checks each record's
shape, its ``schema_version`` and its time range; these rules need more than the value
(the record's key). A record that breaks one is a contract violation: the first stage
that sees it dead-letters it with the rule's text as the detail, and keeps going.

* The key is the workspace id (:func:`schemas.events.turn_key`; candidates alike, and a
  candidate's sessions are of its workspace): a record keyed by another
  workspace (or by none) would sit on another workspace's partition and break the
  per-workspace order every consumer relies on.
"""

from __future__ import annotations

from collections.abc import Sequence

from hivemind_kafka.schemas.events import TurnEvent, turn_key
from hivemind_kafka.schemas.sessions import Candidate


def turn_record_problem(events: Sequence[TurnEvent], *, key: bytes | None) -> str | None:
    """Why this decoded turns record must not be kept (``None``: it may). ``events`` all
    share a workspace and session (the decoder checks that)."""
    if not events:
        return "record holds no events"
    workspace_id = events[0].workspace_id
    if key != turn_key(workspace_id):
        shown = "none" if key is None else f"{len(key)} bytes that are not it"
        return f"record key must be its workspace id ({len(workspace_id)} characters); got {shown}"
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
