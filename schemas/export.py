"""JSON Schema export of every contract (``hivemind schemas`` / ``make schemas``)."""

from __future__ import annotations

import msgspec

from hivemind_kafka.schemas.dead_letters import DeadLetter
from hivemind_kafka.schemas.events import TurnBatch, TurnEvent
from hivemind_kafka.schemas.sessions import Candidate, Session
from hivemind_kafka.schemas.skills import Skill

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
