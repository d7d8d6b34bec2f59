"""The producer SDK: how any agent (support bot, SDR agent, script) reports its turns.

    from producers.sdk import Fleet

    with Fleet.connect(workspace_id="acme", agent_id="support-bot-1",
                       agent_kind="support", project="helpdesk") as fleet:
        with fleet.session() as s:
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

from runtime.errors import ContractViolation, HivemindError
from runtime.settings import Settings
from schemas.events import AgentKind, EventKind, TurnEvent, encode_batch, turn_key
from schemas.outcomes import SKILLS_IN_SCOPE, Cohort, scope_entry

log = logging.getLogger(__name__)


class DeliveryFailed(HivemindError):
    """Kafka did not acknowledge some events; ``failed`` lists (event_ids, error)."""

    def __init__(self, failed: list[tuple[list[str], str]]) -> None:
        self.failed = failed
        n = sum(len(ids) for ids, _ in failed)
        super().__init__(f"{n} events were not delivered: {failed[0][1]} (and {len(failed) - 1} more batches)")


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
                 source: str = "sdk", producer: Any = None) -> None:
        from confluent_kafka import Producer

        from runtime.kafka import producer_config

        self.settings = settings
        self.workspace_id = workspace_id
        self.agent_id = agent_id
        self.agent_kind = AgentKind(agent_kind)
        self.project = project
        self.source = source
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
                project: str = "", source: str = "sdk") -> Fleet:
        """Connect with ``settings`` (default: from the environment)."""
        settings = settings or Settings.from_env()
        return cls(settings, workspace_id=workspace_id or settings.edge.workspace_id,
                   agent_id=agent_id, agent_kind=agent_kind, project=project, source=source)

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
        """Record one session; on exit it is stopped (``stop``) unless already stopped.

        An exception inside the block still stops the session, with reason "error".
        ``skills_in_scope``: as for :meth:`open_session`.
        """
        rec = self.open_session(session_id, start=start, skills_in_scope=skills_in_scope)
        try:
            yield rec
        except BaseException:
            if not rec.stopped:
                rec.stop(reason="error")
            raise
        if not rec.stopped:
            rec.stop()

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
                seq: int | None = None) -> str:
        """Report an outcome for a session, possibly long after it closed. Returns event_id."""
        event = self._event(session_id, seq if seq is not None else 1_000_000 + int(time.time()),
                            EventKind.OUTCOME, outcome=label, text=text)
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
    def _event(self, session_id: str, seq: int, kind: EventKind, **payload: Any) -> TurnEvent:
        data = {
            "event_id": new_id(), "workspace_id": self.workspace_id, "session_id": session_id,
            "agent_id": self.agent_id, "agent_kind": self.agent_kind.value,
            "project": self.project, "seq": seq, "ts": payload.pop("ts", None) or datetime.now(UTC),
            "kind": kind.value, "source": self.source,
            **{k: v for k, v in payload.items() if v is not None},
        }
        try:
            return msgspec.convert(data, TurnEvent)
        except msgspec.ValidationError as exc:
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
        while not self._stop.wait(self._linger_s):
            now = time.monotonic()
            with self._lock:
                stale = [sid for sid, b in self._pending.items() if now - b.created >= self._linger_s]
                for sid in stale:
                    self._send(self._pending.pop(sid).events)
            self._producer.poll(0)


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


class _Buffer:
    __slots__ = ("created", "events")

    def __init__(self) -> None:
        self.created = time.monotonic()
        self.events: list[TurnEvent] = []


class SessionRecorder:
    """Records one session's turns; ``seq`` is assigned in call order."""

    def __init__(self, fleet: Fleet, session_id: str) -> None:
        self.fleet = fleet
        self.session_id = session_id
        self._seq = 0
        self.stopped = False

    def record(self, kind: EventKind, *, flush: bool = False, **payload: Any) -> str:
        event = self.fleet._event(self.session_id, self._seq, kind, **payload)
        self._seq += 1
        self.fleet._enqueue(event, flush=flush)
        return event.event_id

    def prompt(self, text: str, **kw: Any) -> str:
        return self.record(EventKind.PROMPT, text=text, **kw)

    def tool_call(self, tool_name: str, input: Any = None, *, tool_use_id: str | None = None,
                  **kw: Any) -> ToolCall:
        use_id = tool_use_id or new_id()[:24]
        text = input if isinstance(input, str) or input is None else json.dumps(input, default=str)
        event_id = self.record(EventKind.TOOL_CALL, tool_name=tool_name, tool_use_id=use_id,
                               tool_input=text, **kw)
        return ToolCall(tool_name, use_id, event_id)

    def tool_result(self, call: ToolCall, output: Any = None, *, is_error: bool = False,
                    **kw: Any) -> str:
        text = output if isinstance(output, str) or output is None else json.dumps(output, default=str)
        return self.record(EventKind.TOOL_RESULT, tool_name=call.tool_name,
                           tool_use_id=call.tool_use_id, tool_output=text, is_error=is_error, **kw)

    def response(self, text: str, **kw: Any) -> str:
        return self.record(EventKind.RESPONSE, text=text, **kw)

    def outcome(self, label: str, text: str | None = None, **kw: Any) -> str:
        return self.record(EventKind.OUTCOME, outcome=label, text=text, **kw)

    def stop(self, reason: str | None = None, **kw: Any) -> str:
        """Close the session (a ``stop`` event) and send its batch now."""
        self.stopped = True
        return self.record(EventKind.STOP, reason=reason, flush=True, **kw)

    def end(self, reason: str | None = None, **kw: Any) -> str:
        """A ``session_end`` event (the agent process ended)."""
        self.stopped = True
        return self.record(EventKind.SESSION_END, reason=reason, flush=True, **kw)
