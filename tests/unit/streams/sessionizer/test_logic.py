"""The sessionizer's pure state machine, edge by edge (no broker, no Faust).

A session spans turns: ``stop`` ends a turn, ``session_end`` (or the idle gap, or a
``/clear``) ends the session."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import msgspec

from hivemind_kafka.runtime.settings import SessionizerSettings
from hivemind_kafka.schemas.events import AgentKind, EventKind, TurnEvent
from hivemind_kafka.schemas.sessions import CloseReason, session_uid
from hivemind_kafka.streams.sessionizer.logic import (
    Tally,
    candidate_for,
    candidate_id,
    decode_state,
    encode_state,
    kept_events,
    next_deadline,
    on_events,
    on_tick,
    shrink_to_fit,
    state_key,
)

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
CONF = SessionizerSettings(idle_gap_s=1800, arrival_grace_s=60, closed_retention_s=3600,
                           max_events_per_session=100)
_n = itertools.count()


def ev(seq: int, kind: EventKind = EventKind.PROMPT, *, sid: str = "s1",
       event_id: str | None = None, at: datetime | None = None, **fields) -> TurnEvent:
    return TurnEvent(event_id=event_id or f"e{next(_n)}", workspace_id="ws", session_id=sid,
                     agent_id="a1", agent_kind=AgentKind.CODING, project="p", seq=seq,
                     ts=at or T0 + timedelta(seconds=seq), kind=kind, **fields)


def feed(state, events, *, now=T0 + timedelta(seconds=100), partition=0, conf=CONF, tally=None):
    return on_events(state, events, partition=partition, now=now, settings=conf, tally=tally)


def test_gap_exactly_equal_keeps_session_open():
    state, _ = feed(None, [ev(0)], now=T0)  # last event at T0, arrival at T0
    at_gap = T0 + timedelta(seconds=CONF.idle_gap_s)
    same, emitted = on_tick(state, now=at_gap, settings=CONF)
    assert emitted == [] and not same.is_closed
    closed, emitted = on_tick(state, now=at_gap + timedelta(microseconds=1), settings=CONF)
    assert [s.close_reason for s in emitted] == [CloseReason.IDLE]
    assert closed.is_closed


def test_recent_arrival_holds_idle_close_of_a_replayed_backlog():
    # Events from hours ago arrive now (a spool replayed after an outage).
    now = T0 + timedelta(hours=5)
    state, _ = feed(None, [ev(0)], now=now)
    _, emitted = on_tick(state, now=now + timedelta(seconds=CONF.arrival_grace_s), settings=CONF)
    assert emitted == []
    _, emitted = on_tick(state, now=now + timedelta(seconds=CONF.arrival_grace_s + 1),
                         settings=CONF)
    assert len(emitted) == 1


def test_out_of_order_events_are_emitted_ordered_by_seq():
    state, _ = feed(None, [ev(3), ev(1)])
    state, _ = feed(state, [ev(0), ev(2)])
    _, [session] = feed(state, [ev(4, EventKind.SESSION_END)])
    assert [e.seq for e in session.events] == [0, 1, 2, 3, 4]
    assert session.started_at == T0 and session.ended_at == T0 + timedelta(seconds=4)


def test_duplicate_event_ids_are_dropped_and_counted():
    tally = Tally()
    state, _ = feed(None, [ev(0, event_id="x"), ev(1, event_id="y")], tally=tally)
    state, _ = feed(state, [ev(1, event_id="y"), ev(0, event_id="x")], tally=tally)
    _, [session] = feed(state, [ev(2, EventKind.SESSION_END)], tally=tally)
    assert session.event_count == 3 and len(session.events) == 3
    assert session.duplicate_event_count == 2
    assert tally.duplicates == 2 and tally.events == 5


def test_late_event_reopens_as_next_generation_with_a_new_uid():
    tally = Tally()
    state, [first] = feed(None, [ev(0), ev(1, EventKind.SESSION_END)])
    # Event time before the closed generation's end: a late event.
    state, emitted = feed(state, [ev(2, at=T0)], tally=tally)
    assert emitted == [] and not state.is_closed and state.generation == 1
    _, [second] = feed(state, [ev(3, EventKind.SESSION_END)])
    assert first.session_uid == session_uid("ws", "s1", 0)
    assert second.session_uid == session_uid("ws", "s1", 1) != first.session_uid
    assert second.generation == 1 and second.event_count == 2
    assert second.late_event_count == 1 and tally.late == 1


def test_trailing_stop_and_session_end_after_the_close_are_absorbed():
    tally = Tally()
    state, [session] = feed(None, [ev(0), ev(1, EventKind.SESSION_END)])
    state, emitted = feed(state, [ev(2, EventKind.STOP), ev(3, EventKind.SESSION_END)],
                          tally=tally)
    assert emitted == [] and state.is_closed and state.generation == 0
    assert tally.absorbed == 2 and tally.late == 0
    assert session.close_reason is CloseReason.SESSION_END


def test_session_end_then_prompt_in_one_record_emits_and_leaves_next_generation_open():
    state, emitted = feed(None, [ev(2), ev(1, EventKind.SESSION_END), ev(0)])
    assert [s.event_count for s in emitted] == [2]
    assert not state.is_closed and state.generation == 1 and state.event_count == 1


def test_replay_after_close_re_emits_nothing_new():
    events = [ev(0), ev(1, EventKind.TOOL_CALL, tool_name="Bash"),
              ev(2, EventKind.SESSION_END)]
    state, [_] = feed(None, events)
    tally = Tally()
    replayed, emitted = feed(state, events, tally=tally)
    assert emitted == [] and tally.duplicates == 3 and tally.late == 0
    assert replayed.generation == 0 and replayed.is_closed
    assert replayed.seen == state.seen and replayed.closed_at == state.closed_at


def test_replay_into_a_restored_open_state_emits_the_same_uid():
    events = [ev(0), ev(1)]
    state, _ = feed(None, events)
    restored = decode_state(encode_state(state))  # what recovery from the changelog gives
    # The crash lost the close; the input replays from the committed offset.
    _, [again] = feed(restored, [*events, ev(2, EventKind.SESSION_END)])
    _, [original] = feed(state, [ev(2, EventKind.SESSION_END, event_id="other")])
    assert again.session_uid == original.session_uid
    assert again.event_count == 3 and again.duplicate_event_count == 2


def test_truncation_keeps_the_lowest_seqs_and_exact_counts():
    conf = msgspec.structs.replace(CONF, max_events_per_session=3)
    state, _ = feed(None, [ev(5), ev(4), ev(9)], conf=conf)
    state, _ = feed(state, [ev(1, EventKind.TOOL_CALL, tool_name="Read"), ev(7)], conf=conf)
    _, [session] = feed(state, [ev(10, EventKind.SESSION_END)], conf=conf)
    assert [e.seq for e in session.events] == [1, 4, 5]
    assert session.events_truncated is True
    assert session.event_count == 6
    assert session.counts == {"prompt": 4, "tool_call": 1, "session_end": 1}
    assert session.tools_used == ["Read"]


def test_session_summary_counts_errors_tools_and_latest_outcome():
    events = [ev(0), ev(1, EventKind.TOOL_CALL, tool_name="Bash"),
              ev(2, EventKind.TOOL_RESULT, tool_name="Bash", is_error=True),
              ev(3, EventKind.TOOL_CALL, tool_name="Edit"),
              ev(5, EventKind.OUTCOME, outcome="committed"),
              ev(4, EventKind.OUTCOME, outcome="tests_failed"),
              ev(6, EventKind.SESSION_END)]
    _, [s] = feed(None, events)
    assert s.error_count == 1 and s.tools_used == ["Bash", "Edit"]
    assert s.outcome == "committed" and s.close_reason is CloseReason.SESSION_END
    assert (s.agent_id, s.agent_kind, s.project) == ("a1", AgentKind.CODING, "p")


def test_closed_marker_expires_after_retention_then_becomes_compact():
    state, _ = feed(None, [ev(0, EventKind.SESSION_END)], now=T0)
    expiry = T0 + timedelta(seconds=CONF.closed_retention_s)
    kept, emitted = on_tick(state, now=expiry, settings=CONF)
    assert kept is state and emitted == []
    compact, emitted = on_tick(state, now=expiry + timedelta(seconds=1), settings=CONF)
    assert compact.compact and compact.seen == [] and emitted == []
    assert compact.generation == state.generation and compact.is_closed


def test_idle_close_of_a_closed_marker_never_emits_twice():
    state, _ = feed(None, [ev(0)], now=T0)
    later = T0 + timedelta(hours=1)
    state, [s] = on_tick(state, now=later, settings=CONF)
    assert s.close_reason is CloseReason.IDLE and s.closed_at == later
    state, emitted = on_tick(state, now=later + timedelta(minutes=1), settings=CONF)
    assert emitted == [] and state.is_closed


def test_on_events_does_not_modify_the_given_state():
    state, _ = feed(None, [ev(0)])
    before = encode_state(state)
    feed(state, [ev(1), ev(2, EventKind.STOP)])
    on_tick(state, now=T0 + timedelta(days=1), settings=CONF)
    assert encode_state(state) == before


def test_state_records_its_partition_and_deadline():
    state, _ = feed(None, [ev(0)], now=T0, partition=4)
    assert state.partition == 4
    assert next_deadline(state, CONF) == T0 + timedelta(seconds=CONF.idle_gap_s)
    closed, _ = feed(state, [ev(1, EventKind.SESSION_END)], now=T0, partition=4)
    assert next_deadline(closed, CONF) == T0 + timedelta(seconds=CONF.closed_retention_s)


def test_state_key_is_unambiguous():
    assert state_key("a", "b/c") != state_key("a/b", "c")
    assert state_key("a\x00b", "c") != state_key("a", "b\x00c")


def test_candidate_id_is_derived_from_the_session_uid():
    events = [ev(0), ev(1, EventKind.TOOL_CALL, tool_name="Bash", tool_use_id="u1"),
              ev(2, EventKind.TOOL_RESULT, tool_name="Bash", tool_use_id="u1", is_error=True,
                 tool_output="exit code 1"),
              ev(3, EventKind.TOOL_CALL, tool_name="Bash", tool_use_id="u2"),
              ev(4, EventKind.TOOL_RESULT, tool_name="Bash", tool_use_id="u2",
                 tool_output="ok"),
              ev(5, EventKind.OUTCOME, outcome="tests_passed"), ev(6, EventKind.SESSION_END)]
    _, [session] = feed(None, events)
    candidate = candidate_for(session)
    assert candidate is not None
    assert candidate.candidate_id == candidate_id(session.session_uid)
    assert candidate.sessions == [session] and candidate.reasons
    assert candidate.topic.startswith("recovery:Bash")  # what the codifier groups on


def test_session_without_tools_is_no_candidate():
    _, [session] = feed(None, [ev(0), ev(1, EventKind.RESPONSE), ev(2, EventKind.SESSION_END)])
    assert candidate_for(session) is None


def test_state_too_big_for_a_record_keeps_fewer_lowest_seq_events_and_exact_counts():
    big = "z" * 1000
    state, _ = feed(None, [ev(i, text=big) for i in range(40)])
    small, raw = shrink_to_fit(state, 12_000)
    kept = len(kept_events(small))
    assert len(raw) <= 12_000 and 0 < kept < 40
    assert [e.seq for e in kept_events(small)] == list(range(kept))
    assert small.events_truncated and small.event_count == 40
    assert len(kept_events(state)) == 40  # the input is untouched
    after, [session] = feed(small, [ev(40, EventKind.SESSION_END, text=big)])
    assert len(session.events) == kept and session.event_count == 41
    assert session.events_truncated
    assert after.events_cap is None  # the next generation starts uncapped


def test_state_that_fits_is_returned_as_is():
    state, _ = feed(None, [ev(0)])
    same, raw = shrink_to_fit(state, 1_000_000)
    assert same is state and raw == encode_state(state)


def test_resume_after_session_end_reopens_without_counting_late():
    tally = Tally()
    state, [_] = feed(None, [ev(0), ev(1, EventKind.SESSION_END)])
    state, emitted = feed(state, [ev(2, at=T0 + timedelta(seconds=30))], tally=tally)
    assert emitted == [] and state.generation == 1
    assert tally.late == 0 and tally.reopened == 1 and state.late_event_count == 0


def test_outcome_after_close_is_absorbed_not_a_new_generation():
    tally = Tally()
    state, [_] = feed(None, [ev(0), ev(1, EventKind.SESSION_END)])
    state, emitted = feed(state, [ev(2, EventKind.OUTCOME, outcome="replied",
                                     at=T0 + timedelta(days=2))], tally=tally)
    assert emitted == [] and state.is_closed and state.generation == 0
    assert tally.absorbed == 1 and tally.reopened == 0 and tally.late_outcomes == 1


def test_outcome_for_an_expired_session_opens_nothing_and_is_counted():
    tally = Tally()
    state, emitted = feed(None, [ev(7, EventKind.OUTCOME, outcome="meeting_booked")], tally=tally)
    assert state is None and emitted == [] and tally.absorbed == 1
    assert tally.outcomes_unmatched == 1


def test_session_resumed_after_its_marker_expired_gets_a_distinct_uid():
    state, [first] = feed(None, [ev(0), ev(1, EventKind.SESSION_END)])
    later = T0 + timedelta(seconds=CONF.closed_retention_s + 200)
    compact, emitted = on_tick(state, now=later, settings=CONF)
    assert emitted == [] and compact is not None and compact.compact and compact.seen == []
    state, [resumed] = feed(compact, [ev(5), ev(6, EventKind.SESSION_END)], now=later)
    assert resumed.session_uid == session_uid("ws", "s1", 1) != first.session_uid


def test_compact_marker_lives_until_resume_retention_and_the_outcome_horizon():
    conf = msgspec.structs.replace(CONF, outcome_horizon_s=CONF.resume_retention_s * 2)
    state, [_] = feed(None, [ev(0), ev(1, EventKind.SESSION_END)], now=T0, conf=conf)
    compact, _ = on_tick(state, now=T0 + timedelta(seconds=CONF.closed_retention_s + 200),
                         settings=conf)
    kept, _ = on_tick(compact, now=T0 + timedelta(seconds=CONF.resume_retention_s + 200),
                      settings=conf)
    assert kept is compact  # the horizon is longer than resume_retention_s
    gone, emitted = on_tick(compact, now=T0 + timedelta(seconds=conf.outcome_horizon_s + 1),
                            settings=conf)
    assert gone is None and emitted == []
