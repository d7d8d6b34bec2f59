"""The producer SDK: how any agent (support bot, SDR agent, script) reports its turns.

    from hivemind_kafka.producers.sdk import Fleet

    with Fleet.connect(workspace_id="acme", agent_id="support-bot-1",
                       agent_kind="support", project="helpdesk") as fleet:
        with fleet.session() as s:              # ended (session_end) on exit
            s.prompt("Where is my order 1234?")
            call = s.tool_call("orders.lookup", {"order": 1234})
            s.tool_result(call, "shipped 2026-11-20")
            s.response("It shipped on Nov 20.")
            s.outcome("resolved")
        fleet.outcome(session_id="...", label="reopened")   # days later

Exposure: ``fleet.session(skills_in_scope=[("refund-policy", 3, "present"),
("escalation-tone", 1, "held_out")])`` records which skill versions the agent started the
session with (``present``) or was held out of (``held_out``); the session_start event
carries them in ``extra`` as ``skills_in_scope`` and the sink's ``exposures`` table gets
one assignment row per skill (schemas.outcomes.exposures_from_session_start). Let the
SDK draw the cohorts (the switchback holdout of schemas.holdout, with the settings'
``HIVEMIND_MEASURE_*`` design, so the report agrees) and leave the held-out skills out
of the session::

    scope = fleet.assign_skills([("refund-policy", 3), ("escalation-tone", 1)])
    with fleet.session(skills_in_scope=scope) as s:
        use = [name for name, _, cohort in scope if cohort == "present"]

Redaction: every free-text field (``text``, ``tool_input``, ``tool_output``, ``extra``,
``reason``) passes :mod:`hivemind_kafka.producers.secrets.redact` (the same detector as the Claude Code hook)
before it is queued, so no secret the detector knows reaches Kafka; dict inputs and
outputs are redacted value by value (``{"password": "x"}`` masks ``x`` by its name).
Opt out per field, for one event (``s.tool_result(call, out, unredacted=("tool_output",))``)
or for every event of a Fleet (``Fleet.connect(..., unredacted_fields=("text",))``);
``fleet.redactions`` counts what was masked.

Guarantees: every event is validated against ``schemas.events.TurnEvent`` before it is
queued (a bad call raises ``ContractViolation`` at the call site, nothing is sent); a
session's events are sent as one ``TurnBatch`` record (on stop/close, every
``batch_max_events`` events, or after ``linger_ms``), keyed by workspace, through an
idempotent producer (acks=all); every delivery report is checked, and
:meth:`Fleet.flush` / :meth:`Fleet.close` raise :class:`DeliveryFailed` listing the
events that could not be delivered. ``close()`` runs at interpreter exit too.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import msgspec

from hivemind_kafka.producers.secrets.redact import default_redactor, redact_tree
from hivemind_kafka.runtime.errors import ContractViolation, HivemindError
from hivemind_kafka.runtime.settings import Settings
from hivemind_kafka.schemas.events import (
    AgentKind,
    EventKind,
    TurnEvent,
    encode_batch,
    encode_event,
    turn_key,
)
from hivemind_kafka.schemas.outcomes import SKILLS_IN_SCOPE, Cohort, scope_entry

log = logging.getLogger(__name__)


class DeliveryFailed(HivemindError):
    """Kafka did not acknowledge some events; ``failed`` lists (event_ids, error)."""

    def __init__(self, failed: list[tuple[list[str], str]]) -> None:
        self.failed = failed
        n = sum(len(ids) for ids, _ in failed)
        super().__init__(f"{n} events were not delivered: {failed[0][1]} (and {len(failed) - 1} more batches)")


# TurnEvent fields that carry free text, in the order they are redacted.
REDACTED_FIELDS = ("text", "tool_input", "tool_output", "extra", "reason")
_JSON_FIELDS = frozenset({"tool_input", "tool_output", "extra"})


def unredacted_field_set(fields: Iterable[str]) -> frozenset[str]:
    """``fields`` checked against :data:`REDACTED_FIELDS`; raises ``ContractViolation``
    naming the valid choices."""
    if isinstance(fields, str):
        fields = (fields,)
    chosen = frozenset(fields)
    unknown = sorted(chosen - set(REDACTED_FIELDS))
    if unknown:
        raise ContractViolation(
            f"unredacted fields {unknown} are not redacted fields; choose from "
            f"{', '.join(REDACTED_FIELDS)}")
    return chosen


def new_id() -> str:
    return os.urandom(16).hex()


class ToolCall(msgspec.Struct, frozen=True):
    """Handle returned by :meth:`SessionRecorder.tool_call`, passed to ``tool_result``."""

    tool_name: str
    tool_use_id: str
    event_id: str = ""


class Fleet:
    """One agent's connection: a producer, a workspace, an agent identity."""

    def __init__(self, settings: Settings, *, workspace_id: str, agent_id: str,
                 agent_kind: str | AgentKind = AgentKind.OTHER, project: str = "",
                 source: str = "sdk", producer: Any = None,
                 unredacted_fields: Iterable[str] = ()) -> None:
        from confluent_kafka import Producer

        from hivemind_kafka.runtime.kafka import producer_config

        self.settings = settings
        self.workspace_id = workspace_id
        self.agent_id = agent_id
        if agent_kind not in set(AgentKind):
            raise ContractViolation(f"agent_kind {agent_kind!r} is not one of "
                                    f"{', '.join(k.value for k in AgentKind)}")
        self.agent_kind = AgentKind(agent_kind)
        self.project = project
        self.source = source
        self.unredacted_fields = unredacted_field_set(unredacted_fields)
        self.redactions = 0
        self._redactor = default_redactor()
        self._topic = settings.topics.turns
        self._producer = producer or Producer(producer_config(settings))
        self._lock = threading.Lock()
        self._failed: list[tuple[list[str], str]] = []
        self._pending: dict[str, _Buffer] = {}
        self._closed = False
        self._stop = threading.Event()
        self._linger_s = settings.edge.linger_ms / 1000
        self._flusher = threading.Thread(target=self._flush_stale_loop, name="sdk-linger", daemon=True)
        self._flusher.start()
        atexit.register(self.close)

    @classmethod
    def connect(cls, settings: Settings | None = None, *, workspace_id: str | None = None,
                agent_id: str, agent_kind: str | AgentKind = AgentKind.OTHER,
                project: str = "", source: str = "sdk",
                unredacted_fields: Iterable[str] = ()) -> Fleet:
        """Connect with ``settings`` (default: from the environment). Every free-text
        field is redacted before sending except those in ``unredacted_fields`` (names
        from :data:`REDACTED_FIELDS`)."""
        settings = settings or Settings.from_env()
        return cls(settings, workspace_id=workspace_id or settings.edge.workspace_id,
                   agent_id=agent_id, agent_kind=agent_kind, project=project, source=source,
                   unredacted_fields=unredacted_fields)

    # --- sessions -----------------------------------------------------------------
    def assign_skills(self, skills: Iterable[tuple[str, int | None]], *,
                      at: datetime | None = None) -> list[tuple[str, int | None, str]]:
        """``(name, version, cohort)`` for this agent at ``at`` (default now): cohort
        ``held_out`` when the switchback holdout (schemas.holdout, ``settings.measure``)
        withholds the skill this period, else ``present``. Pass the result as
        ``skills_in_scope`` and give the session only the ``present`` skills."""
        period = self.settings.measure.holdout_design(self.workspace_id).at(
            at or datetime.now(UTC))
        return [(name, version,
                 Cohort.HELD_OUT.value if period.held_out(name, self.agent_id)
                 else Cohort.PRESENT.value)
                for name, version in skills]

    @contextlib.contextmanager
    def session(self, session_id: str | None = None, *, start: bool = True,
                skills_in_scope: Iterable[ScopeItem] | None = None
                ) -> Iterator[SessionRecorder]:
        """Record one session; on exit it is ended (``session_end``) unless already ended.

        An exception inside the block still ends the session, with reason "error".
        ``skills_in_scope``: as for :meth:`open_session`.
        """
        rec = self.open_session(session_id, start=start, skills_in_scope=skills_in_scope)
        try:
            yield rec
        except BaseException:
            if not rec.ended:
                rec.end(reason="error")
            raise
        if not rec.ended:
            rec.end()

    def open_session(self, session_id: str | None = None, *, start: bool = True,
                     skills_in_scope: Iterable[ScopeItem] | None = None) -> SessionRecorder:
        """Start recording a session (a ``session_start`` event unless ``start=False``).

        ``skills_in_scope``: ``(name, version, cohort)`` tuples (or mappings with those
        keys), cohort ``"present"`` or ``"held_out"``: the skill versions this session
        starts with, recorded in the session_start's extra. A malformed item raises
        ``ContractViolation`` and nothing is recorded; it needs ``start=True``.
        """
        extra = None
        if skills_in_scope is not None:
            if not start:
                raise ContractViolation("skills_in_scope is recorded on the session_start "
                                        "event: pass start=True or leave it out")
            extra = json.dumps({SKILLS_IN_SCOPE: scope_entries(skills_in_scope)})
        rec = SessionRecorder(self, session_id or new_id())
        if start:
            rec.record(EventKind.SESSION_START, extra=extra)
        return rec

    def outcome(self, *, session_id: str, label: str, text: str | None = None,
                seq: int | None = None, unredacted: Iterable[str] = ()) -> str:
        """Report an outcome for a session, possibly long after it closed. Returns event_id."""
        event = self._event(session_id, seq if seq is not None else 1_000_000 + int(time.time()),
                            EventKind.OUTCOME, outcome=label, text=text, unredacted=unredacted)
        self._enqueue(event, flush=True)
        return event.event_id

    # --- delivery -----------------------------------------------------------------
    def flush_session(self, session_id: str) -> None:
        """Send a session's buffered events now, without closing it."""
        with self._lock:
            buf = self._pending.pop(session_id, None)
            if buf is not None:
                self._send(buf.events)

    def flush(self, timeout_s: float = 30.0) -> None:
        """Send every buffered batch and wait for Kafka's acknowledgements."""
        with self._lock:
            for buf in self._pending.values():
                self._send(buf.events)
            self._pending.clear()
        remaining = self._producer.flush(timeout_s)
        if remaining:
            self._failed.append(([], f"{remaining} records still queued after {timeout_s}s"))
        if self._failed:
            failed, self._failed = self._failed, []
            raise DeliveryFailed(failed)

    def close(self, timeout_s: float = 30.0) -> None:
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        atexit.unregister(self.close)
        self.flush(timeout_s)

    def __enter__(self) -> Fleet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- internals ----------------------------------------------------------------
    def _event(self, session_id: str, seq: int, kind: EventKind, *,
               unredacted: Iterable[str] = (), **payload: Any) -> TurnEvent:
        keep = self.unredacted_fields | unredacted_field_set(unredacted)
        for field in REDACTED_FIELDS:
            value = payload.get(field)
            if value is None:
                continue
            if field in _JSON_FIELDS:
                _json_text(value, f"{kind.value} {field}")  # a caller's bug fails here, whole
            if field not in keep:
                value, n = redact_tree(value, self._redactor.redact)
                self.redactions += n
            # Structured fields are JSON text on the wire; a non-str text or reason is left
            # for the contract to refuse.
            payload[field] = (_json_text(value, f"{kind.value} {field}")
                              if field in _JSON_FIELDS else value)
        data = {
            "event_id": new_id(), "workspace_id": self.workspace_id, "session_id": session_id,
            "agent_id": self.agent_id, "agent_kind": self.agent_kind.value,
            "project": self.project, "seq": seq, "ts": payload.pop("ts", None) or datetime.now(UTC),
            "kind": kind.value, "source": self.source,
            **{k: v for k, v in payload.items() if v is not None},
        }
        try:
            event = msgspec.convert(data, TurnEvent)
            encode_event(event)  # a lone surrogate passes the contract but not UTF-8
            return event
        except (msgspec.ValidationError, UnicodeEncodeError) as exc:
            raise ContractViolation(f"{kind.value} event rejected before sending: {exc}") from None

    def _enqueue(self, event: TurnEvent, *, flush: bool = False) -> None:
        if self._closed:
            raise HivemindError("this Fleet is closed; connect again to record more events")
        with self._lock:
            buf = self._pending.get(event.session_id)
            if buf is None:
                buf = self._pending[event.session_id] = _Buffer()
            buf.events.append(event)
            # Sends happen under the lock so one session's batches reach the producer in
            # order: a stop overtaking its own session's earlier events would split it.
            if flush or len(buf.events) >= self.settings.edge.batch_max_events:
                del self._pending[event.session_id]
                self._send(buf.events)

    def _send(self, events: list[TurnEvent]) -> None:
        ids = [e.event_id for e in events]

        def report(err: Any, _msg: Any) -> None:
            if err is not None:
                log.error("delivery failed for %d events: %s", len(ids), err)
                self._failed.append((ids, str(err)))

        value = encode_batch(events)
        while True:
            try:
                self._producer.produce(self._topic, key=turn_key(self.workspace_id), value=value,
                                       on_delivery=report)
                break
            except BufferError:  # local queue full: serve delivery reports, then retry
                self._producer.poll(0.1)
        self._producer.poll(0)

    def _flush_stale_loop(self) -> None:
        """Send each buffered session once its first event has waited ``linger_ms``:
        wakes when the oldest buffer is due (a fixed ``linger_ms`` tick let a buffer
        opened just after a tick wait almost twice as long)."""
        wait = self._linger_s
        while not self._stop.wait(wait):
            now = time.monotonic()
            with self._lock:
                stale = [sid for sid, b in self._pending.items() if now - b.created >= self._linger_s]
                for sid in stale:
                    self._send(self._pending.pop(sid).events)
                oldest = min((b.created for b in self._pending.values()), default=None)
            self._producer.poll(0)
            wait = self._linger_s if oldest is None else max(
                0.005, oldest + self._linger_s - time.monotonic())


ScopeItem = tuple[str, int | None, str] | Mapping[str, Any]


def scope_entries(items: Iterable[ScopeItem]) -> list[dict]:
    """``skills_in_scope`` items as the wire entries ``{"name", "version", "cohort"}``;
    raises ``ContractViolation`` naming the bad item and the valid cohorts."""
    out = []
    for item in items:
        try:
            if isinstance(item, Mapping):
                name, version, cohort = item["name"], item.get("version"), item["cohort"]
            else:
                name, version, cohort = item
            out.append(scope_entry(name, version, cohort))
        except (KeyError, TypeError, ValueError) as exc:
            raise ContractViolation(
                f"skills_in_scope item {item!r} rejected: {exc}; expected (name, version, "
                f"cohort) with cohort one of {', '.join(c.value for c in Cohort)}") from None
    return out


def _json_text(value: Any, what: str) -> str | None:
    """``value`` as the JSON text a tool field holds (a str is kept as it is)."""
    if isinstance(value, str) or value is None:
        return value
    try:
        return json.dumps(value, default=str)
    except (ValueError, TypeError, RecursionError) as exc:
        raise ContractViolation(f"{what} cannot be written as JSON ({exc}); pass a str or "
                                "JSON-serialisable data") from None


class _Buffer:
    __slots__ = ("created", "events")

    def __init__(self) -> None:
        self.created = time.monotonic()
        self.events: list[TurnEvent] = []


class SessionRecorder:
    """Records one session's turns; ``seq`` and ``turn`` are assigned in call order (a
    ``prompt`` begins the next turn, events before the first prompt are turn 0).

    A session ends with :meth:`end` (``session_end``) or, without it, when the
    sessionizer's idle gap passes; :meth:`stop` only ends a turn. Every verb takes
    ``unredacted=("<field>", ...)`` to send those fields of that event as given."""

    def __init__(self, fleet: Fleet, session_id: str) -> None:
        self.fleet = fleet
        self.session_id = session_id
        self._seq = 0
        self._turn = 0
        self.stopped = False  # a stop was recorded (the last turn ended)
        self.ended = False

    def record(self, kind: EventKind, *, flush: bool = False, **payload: Any) -> str:
        if kind is EventKind.PROMPT:
            self._turn += 1
        payload.setdefault("turn", self._turn)
        event = self.fleet._event(self.session_id, self._seq, kind, **payload)
        self._seq += 1
        self.fleet._enqueue(event, flush=flush)
        return event.event_id

    def prompt(self, text: str, **kw: Any) -> str:
        return self.record(EventKind.PROMPT, text=text, **kw)

    def tool_call(self, tool_name: str, input: Any = None, *, tool_use_id: str | None = None,
                  **kw: Any) -> ToolCall:
        use_id = tool_use_id or new_id()[:24]
        event_id = self.record(EventKind.TOOL_CALL, tool_name=tool_name, tool_use_id=use_id,
                               tool_input=input, **kw)
        return ToolCall(tool_name, use_id, event_id)

    def tool_result(self, call: ToolCall, output: Any = None, *, is_error: bool = False,
                    **kw: Any) -> str:
        return self.record(EventKind.TOOL_RESULT, tool_name=call.tool_name,
                           tool_use_id=call.tool_use_id, tool_output=output, is_error=is_error,
                           **kw)

    def response(self, text: str, **kw: Any) -> str:
        return self.record(EventKind.RESPONSE, text=text, **kw)

    def outcome(self, label: str, text: str | None = None, **kw: Any) -> str:
        return self.record(EventKind.OUTCOME, outcome=label, text=text, **kw)

    def stop(self, reason: str | None = None, **kw: Any) -> str:
        """End the current *turn* (a ``stop`` event) and send the batch now; the session
        stays open for the next prompt until :meth:`end` or the idle gap."""
        self.stopped = True
        return self.record(EventKind.STOP, reason=reason, flush=True, **kw)

    def end(self, reason: str | None = None, **kw: Any) -> str:
        """End the session (a ``session_end`` event) and send its batch now."""
        self.stopped = self.ended = True
        return self.record(EventKind.SESSION_END, reason=reason, flush=True, **kw)
