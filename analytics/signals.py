"""Outcome signals: an ``outcome`` TurnEvent for a session, sent to ``hivemind.turns``.

``outcome_event`` builds the event (pure); ``send_outcome`` produces it with the shared
idempotent producer config, keyed by workspace like every turns record, and returns only
after the broker confirmed it (raises ``BrokerUnavailable`` otherwise: the caller may
retry; a retried signal has a new event id, and the session's result is its latest
signal, so a retry cannot flip a result).

A signal may come days after the session closed; the sink lands it in the ``outcomes``
table and the report joins it by (workspace, session id). ``seq`` is the send time in
milliseconds, so a late signal orders after the session's own events.
"""

from __future__ import annotations

import logging
import secrets
from datetime import UTC, datetime

from hivemind_kafka.runtime.settings import Settings
from hivemind_kafka.schemas.events import AgentKind, EventKind, TurnEvent, encode_event, turn_key
from hivemind_kafka.schemas.outcomes import normalize_label

log = logging.getLogger(__name__)


def outcome_event(*, workspace_id: str, session_id: str, label: str, agent_id: str = "signal",
                  agent_kind: str = AgentKind.OTHER.value, text: str | None = None,
                  now: datetime | None = None) -> TurnEvent:
    if not normalize_label(label):
        raise ValueError("outcome label is empty: give e.g. tests_passed, resolved, reverted")
    now = now or datetime.now(UTC)
    kind = agent_kind if agent_kind in {k.value for k in AgentKind} else AgentKind.OTHER.value
    return TurnEvent(
        event_id=secrets.token_hex(16), workspace_id=workspace_id, session_id=session_id,
        agent_id=agent_id or "signal", agent_kind=AgentKind(kind), project="",
        seq=int(now.timestamp() * 1000), ts=now, kind=EventKind.OUTCOME,
        outcome=normalize_label(label), text=text, source="signal",
    )


def send_outcome(settings: Settings, event: TurnEvent, *, timeout_s: float = 15.0) -> tuple[int, int]:
    """Produce ``event`` and wait for the delivery report; returns (partition, offset).
    Raises :class:`runtime.errors.DeliveryNotConfirmed` (a ``BrokerUnavailable``)."""
    from confluent_kafka import Producer

    from hivemind_kafka.runtime.kafka import produce_confirmed, producer_config

    producer = Producer(producer_config(settings, **{"linger.ms": 0}))
    try:
        partition, offset = produce_confirmed(
            producer, settings.topics.turns, key=turn_key(event.workspace_id),
            value=encode_event(event), timeout_s=timeout_s)
    finally:
        producer.flush(1.0)
    log.info("outcome signal partition=%s[%d] offset=%d", settings.topics.turns,
             partition, offset)
    return partition, offset
