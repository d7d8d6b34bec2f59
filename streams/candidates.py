"""Which closed sessions become codification candidates (pure logic).

The backbone rule: a session that ended normally (stop / session_end) and carries at
least one tool call or an outcome. The codify stage refines this into correction signals
(human correction, tool recovery, outcome); the function keeps its signature.
"""

from __future__ import annotations

from schemas.events import EventKind
from schemas.sessions import CandidateReason, CloseReason, Session


def candidate_reasons(session: Session) -> list[CandidateReason]:
    """Why ``session`` should be codified; empty when it should not."""
    if session.close_reason not in (CloseReason.STOP, CloseReason.SESSION_END):
        return []
    reasons: list[CandidateReason] = []
    if session.counts.get(EventKind.OUTCOME.value, 0) > 0:
        reasons.append(CandidateReason.OUTCOME)
    if session.counts.get(EventKind.TOOL_CALL.value, 0) > 0:
        reasons.append(CandidateReason.TOOL_USE)
    return reasons
