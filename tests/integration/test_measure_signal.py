"""Outcomes end to end: `hivemind signal` and agents' turns -> hivemind.turns -> the sink's
outcomes / detected_outcomes / exposures tables -> the report joins them, late or not."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from confluent_kafka import Producer

from hivemind_kafka.analytics.attribution import session_results
from hivemind_kafka.analytics.lake import read_measure_tables
from hivemind_kafka.analytics.signals import outcome_event, send_outcome
from hivemind_kafka.cli.main import main as hivemind
from hivemind_kafka.runtime.kafka import producer_config
from hivemind_kafka.schemas.events import AgentKind, EventKind, TurnEvent, encode_batch, turn_key
from hivemind_kafka.schemas.outcomes import OutcomeResult
from hivemind_kafka.schemas.sessions import CloseReason, Session, encode, session_uid
from hivemind_kafka.sinks.delta_writer import run_sink

pytestmark = pytest.mark.integration

# Two days ago: the CLI's signal is stamped with the wall clock, and an outcome joins its
# session only within the horizon (14 days) after the session's end.
T0 = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=2)


def wait_for(condition, *, timeout: float = 60.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def _event(sid: str, i: int, kind: EventKind, **fields) -> TurnEvent:
    return TurnEvent(event_id=f"{sid}-{i}", workspace_id="ws-m", session_id=sid, agent_id="agent-1",
                     agent_kind=AgentKind.CODING, project="proj", seq=i,
                     ts=T0 + timedelta(seconds=i), kind=kind, **fields)


def _session(sid: str, events: list[TurnEvent]) -> Session:
    return Session(session_uid=session_uid("ws-m", sid, 0), workspace_id="ws-m", session_id=sid,
                   agent_id="agent-1", agent_kind=AgentKind.CODING, project="proj", started_at=T0,
                   ended_at=T0 + timedelta(minutes=1), closed_at=T0 + timedelta(minutes=2),
                   close_reason=CloseReason.STOP, event_count=len(events), counts={},
                   tools_used=["Bash", "Skill"], events=events)


def test_signals_and_detected_outcomes_land_in_the_lake_and_join_their_sessions(settings, monkeypatch, capsys):
    s1_events = [
        _event("s1", 0, EventKind.TOOL_CALL, tool_name="Skill", tool_use_id="k",
               tool_input=json.dumps({"skill": "fix-flaky-tests"})),
        _event("s1", 1, EventKind.TOOL_CALL, tool_name="Bash", tool_use_id="b",
               tool_input=json.dumps({"command": "pytest -q"})),
        _event("s1", 2, EventKind.TOOL_RESULT, tool_name="Bash", tool_use_id="b",
               tool_output="1 failed, 2 passed"),
    ]
    producer = Producer(producer_config(settings))
    producer.produce(settings.topics.turns, key=turn_key("ws-m"), value=encode_batch(s1_events))
    for sid, events in (("s1", s1_events), ("s2", [_event("s2", 0, EventKind.PROMPT, text="hi")])):
        producer.produce(settings.topics.sessions, key=turn_key("ws-m"), value=encode(_session(sid, events)))
    assert producer.flush(15) == 0

    stop = threading.Event()
    sink = threading.Thread(target=run_sink, args=(settings,), daemon=True,
                            kwargs={"stop": stop, "tables": ["sessions", "outcomes",
                                                             "detected_outcomes", "exposures"]})
    sink.start()
    try:
        # A human's verdict on s1 arrives after the session closed, through the CLI.
        monkeypatch.setenv("HIVEMIND_BOOTSTRAP", settings.kafka.bootstrap)
        for env, value, field in settings.describe():
            if field.startswith("topics."):
                monkeypatch.setenv(env, value)
        assert hivemind(["signal", "--session", "s1", "--outcome", "merged",
                         "--workspace", "ws-m"]) == 0
        assert "merged (success)" in capsys.readouterr().out
        # And a system's late failure signal for s2, through the API.
        late = outcome_event(workspace_id="ws-m", session_id="s2", label="Reverted",
                             now=T0 + timedelta(days=3))
        send_outcome(settings, late)

        def landed():
            t = read_measure_tables(settings)
            return (t.outcomes is not None and t.outcomes.num_rows >= 3
                    and t.exposures is not None and t.exposures.num_rows >= 1
                    and t.sessions is not None and t.sessions.num_rows >= 2)

        wait_for(landed, timeout=90, what="outcomes, detected outcome, exposure and sessions in Delta")
    finally:
        stop.set()
        sink.join(30)

    tables = read_measure_tables(settings)
    rows = sorted(zip(tables.outcomes["session_id"].to_pylist(), tables.outcomes["label"].to_pylist(),
                      tables.outcomes["source"].to_pylist(), strict=True))
    assert rows == [("s1", "merged", "signal"), ("s1", "tests_failed", "detected"),
                    ("s2", "reverted", "signal")]
    assert tables.exposures["skill_name"].to_pylist() == ["fix-flaky-tests"]
    assert tables.exposures["invoked"].to_pylist() == [True]
    # The signal outranks the detected failure; the late signal joins its session.
    results = {r.session_id: r.result for r in session_results(tables.sessions, tables.outcomes)}
    assert results == {"s1": OutcomeResult.SUCCESS, "s2": OutcomeResult.FAILURE}
