"""JSON Schema export of every contract (``hivemind schemas`` / ``make schemas``)."""

from __future__ import annotations

import msgspec

from schemas.dead_letters import DeadLetter
from schemas.events import TurnBatch, TurnEvent
from schemas.sessions import Candidate, Session
from schemas.skills import Skill

CONTRACTS: dict[str, type] = {
    "TurnEvent": TurnEvent,
    "TurnBatch": TurnBatch,
    "Session": Session,
    "Candidate": Candidate,
    "Skill": Skill,
    "DeadLetter": DeadLetter,
}


def json_schemas() -> dict[str, dict]:
    return {name: msgspec.json.schema(tp) for name, tp in CONTRACTS.items()}
