"""Outcomes and exposures: what measuring a skill's effect reads.

An :class:`Outcome` is one observed result of one session: an ``outcome`` TurnEvent sent
by a human or a system (``hivemind signal``, the SDK), possibly days after the session
closed, or one detected from the session's own tool calls (sinks.outcomes). Its
``label`` is free text from the source; :func:`result_of` maps it to ``success``,
``failure`` or ``unknown`` with the documented table :data:`LABEL_RESULTS`. An unknown
label is kept (the row says ``unknown``), never guessed.

An :class:`Exposure` says that a session was in scope of a skill: ``cohort`` is
``present`` (the skill was installed at session start) or ``held_out`` (the randomized
holdout, schemas.holdout, left it out), and ``invoked`` says the agent actually loaded it
(Claude Code: a ``tool_call`` with ``tool_name == "Skill"`` naming it). Rows are
append-only; several rows of one (session, skill) are folded at read time (cohort from
the assignment row, invoked if any row says so).

Scope rows travel on the turns topic: a ``session_start`` TurnEvent whose ``extra`` JSON
holds ``"skills_in_scope": [{"name", "version", "cohort"}, ...]`` (written by the Claude
Code hook from the sync's ``<home>/skills-in-scope.json``, or by the SDK's
``open_session(skills_in_scope=...)``) yields one assignment row per skill,
``exposure_id = f"{session_id}/{skill}/scope"`` (:func:`exposures_from_session_start`).

Labels -> result (case-insensitive; ``-`` and spaces read as ``_``):

=================  ===========================================================  =======
agent kind         labels                                                       result
=================  ===========================================================  =======
any                success, succeeded, accepted, approved, done, solved         success
any                failure, failed, rejected, abandoned, error                  failure
coding             tests_passed, committed, merged, deployed                    success
coding             tests_failed, reverted, build_failed, rolled_back            failure
support            resolved, csat_positive, deflected                           success
support            escalated, handed_off, reopened, csat_negative               failure
sdr                replied, meeting_booked, qualified                           success
sdr                bounced, unsubscribed, no_reply, disqualified                failure
any                anything else (including ``unknown``, empty)                 unknown
=================  ===========================================================  =======

The table is the same for every agent kind (labels do not collide across kinds).

The verticals' headline metrics (analytics.headline) read these labels: support's
*deflection* is resolved without a human (``resolved``/``deflected``) against handed to
one (``escalated``/``handed_off``); SDR's *reply* rate counts ``replied`` and
``meeting_booked`` (a meeting implies a reply), its *meeting* rate ``meeting_booked``,
and ``bounced`` outreach never reached anyone. Coding's *edit acceptance* comes from the
sessions' edit counts (schemas.sessions), not from labels.

Late outcomes: a signal may arrive long after its session closed; it is stored whenever
it arrives and joined to its session (by workspace and session id) up to the outcome
horizon (``HIVEMIND_SESSIONIZER_OUTCOME_HORIZON_S``, 14 days): one later than that is
counted and left out of the join (:func:`is_within_horizon`).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import msgspec
from msgspec import Struct

from hivemind_kafka.schemas.events import SCHEMA_VERSION, EventKind, Ident, TurnEvent, UtcDatetime


class OutcomeResult(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    UNKNOWN = "unknown"


class OutcomeSource(StrEnum):
    SIGNAL = "signal"  # an outcome TurnEvent (human, CI system, SDK, `hivemind signal`)
    DETECTED = "detected"  # inferred from the session's tool calls (sinks.outcomes)


class Cohort(StrEnum):
    PRESENT = "present"
    HELD_OUT = "held_out"


_S, _F = OutcomeResult.SUCCESS, OutcomeResult.FAILURE

LABEL_RESULTS: dict[str, OutcomeResult] = {
    # any agent
    "success": _S, "succeeded": _S, "accepted": _S, "approved": _S, "done": _S, "solved": _S,
    "failure": _F, "failed": _F, "rejected": _F, "abandoned": _F, "error": _F,
    # coding
    "tests_passed": _S, "committed": _S, "merged": _S, "deployed": _S,
    "tests_failed": _F, "reverted": _F, "build_failed": _F, "rolled_back": _F,
    # support
    "resolved": _S, "csat_positive": _S, "deflected": _S,
    "escalated": _F, "handed_off": _F, "reopened": _F, "csat_negative": _F,
    # sdr
    "replied": _S, "meeting_booked": _S, "qualified": _S,
    "bounced": _F, "unsubscribed": _F, "no_reply": _F, "disqualified": _F,
}


def normalize_label(label: str | None) -> str:
    """``"Tests Passed"`` / ``"tests-passed"`` -> ``"tests_passed"``; None -> ``""``."""
    if not label:
        return ""
    return "_".join(label.strip().lower().replace("-", " ").split())


def result_of(label: str | None) -> OutcomeResult:
    """The documented mapping; a label not in :data:`LABEL_RESULTS` is ``unknown``."""
    return LABEL_RESULTS.get(normalize_label(label), OutcomeResult.UNKNOWN)


DEFAULT_OUTCOME_HORIZON_S = 14 * 24 * 3600


def is_within_horizon(outcome_ts: datetime, session_end: datetime, horizon_s: float) -> bool:
    """An outcome at ``outcome_ts`` joins a session that ended at ``session_end``: any time
    before the end, and up to ``horizon_s`` seconds after it (equal is within)."""
    return (outcome_ts - session_end).total_seconds() <= horizon_s


class Outcome(Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One outcome of one session. ``outcome_id`` is unique (the source event's id, or a
    deterministic id for detected outcomes) and is what readers deduplicate on."""

    outcome_id: Ident
    schema_version: int = SCHEMA_VERSION
    workspace_id: Ident
    session_id: Ident
    agent_id: str = ""
    label: str
    result: OutcomeResult
    source: OutcomeSource = OutcomeSource.SIGNAL
    ts: UtcDatetime
    # The event the outcome was detected from (detected outcomes only).
    evidence_event_id: str | None = None


class Exposure(Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A session in scope of a skill (assignment row) or a skill invocation (invoked row).

    ``exposure_id`` = ``f"{session_id}/{skill_name}/{kind}"``-style deterministic id, so
    replays deduplicate. ``cohort`` is None on invocation rows recorded without it.
    """

    exposure_id: Ident
    schema_version: int = SCHEMA_VERSION
    workspace_id: Ident
    session_id: Ident
    agent_id: str = ""
    skill_name: str
    skill_version: int | None = None
    cohort: Cohort | None = None
    invoked: bool = False
    ts: UtcDatetime


def outcome_from_event(event: TurnEvent) -> Outcome | None:
    """The Outcome of an ``outcome`` TurnEvent; None for any other kind."""
    if event.kind != EventKind.OUTCOME:
        return None
    label = normalize_label(event.outcome)
    return Outcome(
        outcome_id=event.event_id, workspace_id=event.workspace_id,
        session_id=event.session_id, agent_id=event.agent_id, label=label,
        result=result_of(label), source=OutcomeSource.SIGNAL, ts=event.ts,
    )


def invoked_skill_name(event: TurnEvent) -> str | None:
    """The skill a Claude Code ``Skill`` tool call loads (``{"skill": name}`` or
    ``{"command": name}`` in tool_input); None for any other event or unreadable input."""
    if event.kind != EventKind.TOOL_CALL or event.tool_name != "Skill" or not event.tool_input:
        return None
    try:
        data = msgspec.json.decode(event.tool_input)
    except msgspec.DecodeError:
        return None
    if not isinstance(data, dict):
        return None
    for key in ("skill", "command", "name"):
        value = data.get(key)
        if isinstance(value, str) and value.strip():
            # Plugin skills read "plugin:name"; the name is what the holdout is keyed on.
            return value.strip().lstrip("/").rsplit(":", 1)[-1]
    return None


def exposure_from_event(event: TurnEvent) -> Exposure | None:
    """An invoked Exposure row from a Skill tool call; None otherwise."""
    name = invoked_skill_name(event)
    if name is None:
        return None
    return Exposure(
        exposure_id=f"{event.session_id}/{name}/invoked/{event.event_id}"[:256],
        workspace_id=event.workspace_id, session_id=event.session_id,
        agent_id=event.agent_id, skill_name=name, invoked=True, ts=event.ts,
    )


SKILLS_IN_SCOPE = "skills_in_scope"  # the key in a session_start event's extra JSON


def scope_entry(name: object, version: object, cohort: object) -> dict:
    """One ``skills_in_scope`` entry ``{"name", "version", "cohort"}``; raises
    ``ValueError`` for an empty name, a version that is not an int (or None), or a cohort
    that is not ``present``/``held_out``."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"skill name must be a non-empty string, got {name!r}")
    if version is not None and (not isinstance(version, int) or isinstance(version, bool)):
        raise ValueError(f"skill version must be an int or None, got {version!r}")
    if not isinstance(cohort, str) or cohort not in set(Cohort):
        raise ValueError(f"cohort must be one of {', '.join(c.value for c in Cohort)}, "
                         f"got {cohort!r}")
    return {"name": name, "version": version, "cohort": Cohort(cohort).value}


def skills_in_scope_of(event: TurnEvent) -> list[dict]:
    """The valid ``skills_in_scope`` entries of a ``session_start`` event (first entry per
    name wins); ``[]`` for any other event, no extra, unreadable extra, or no list.
    Entries that are not well formed are skipped, never guessed."""
    if event.kind != EventKind.SESSION_START or not event.extra:
        return []
    try:
        data = msgspec.json.decode(event.extra)
    except msgspec.DecodeError:
        return []
    entries = data.get(SKILLS_IN_SCOPE) if isinstance(data, dict) else None
    if not isinstance(entries, list):
        return []
    out: dict[str, dict] = {}
    for item in entries:
        if not isinstance(item, dict):
            continue
        try:
            entry = scope_entry(item.get("name"), item.get("version"), item.get("cohort"))
        except ValueError:
            continue
        out.setdefault(entry["name"], entry)
    return list(out.values())


def exposures_from_session_start(event: TurnEvent) -> list[Exposure]:
    """One assignment Exposure per skill in the session_start's ``skills_in_scope``
    (cohort and version as recorded, ``invoked=False``, ``ts`` = the event's time, id
    ``f"{session_id}/{skill}/scope"`` so a replayed start deduplicates)."""
    return [
        Exposure(exposure_id=f"{event.session_id}/{e['name']}/scope"[:256],
                 workspace_id=event.workspace_id, session_id=event.session_id,
                 agent_id=event.agent_id, skill_name=e["name"], skill_version=e["version"],
                 cohort=Cohort(e["cohort"]), ts=event.ts)
        for e in skills_in_scope_of(event)
    ]


_outcome_encoder = msgspec.json.Encoder()
_exposure_decoder = msgspec.json.Decoder(Exposure)


def encode(value: Outcome | Exposure) -> bytes:
    return _outcome_encoder.encode(value)


def decode_exposure(raw: bytes) -> Exposure:
    return _exposure_decoder.decode(raw)
