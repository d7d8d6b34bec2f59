"""Sessions as agents mean them: one session across its turns (``stop`` ends a turn),
``/clear`` starts a new one, ``--resume`` continues with context, native edit signals
are counted, and outcomes that arrive after the close are never silently lost.

The adversarial cases (a stop arriving first, records out of order, a clear with the
same or a new session id, outcomes late, very late and for unknown sessions) were written
before the state machine's new rules."""

from __future__ import annotations

import random
from datetime import timedelta

import msgspec

from hivemind_kafka.runtime.settings import SessionizerSettings
from hivemind_kafka.schemas.events import EventKind, TurnEvent
from hivemind_kafka.schemas.sessions import CandidateReason, CloseReason, session_uid
from hivemind_kafka.streams.sessionizer.logic import (
    SessionState,
    Tally,
    candidate_for,
    candidate_id,
    decode_state,
    encode_state,
    on_events,
    on_tick,
    shrink_to_fit,
)
from tests.unit.streams.turns import T0, bash, edit, events_of, prompt, response

CONF = SessionizerSettings(idle_gap_s=1800, arrival_grace_s=60, closed_retention_s=6 * 3600,
                           closed_events_retention_s=3600, max_events_per_session=400)
NOW = T0 + timedelta(minutes=10)


def feed(state, events, *, now=NOW, conf=CONF, tally=None):
    return on_events(state, events, partition=0, now=now, settings=conf, tally=tally)


def feed_records(events, records: int, *, conf=CONF, tally=None, shuffle_seed=None):
    """Feed ``events`` split into ``records`` records (optionally in shuffled order)."""
    size = max(1, len(events) // records)
    chunks = [events[i:i + size] for i in range(0, len(events), size)]
    if shuffle_seed is not None:
        random.Random(shuffle_seed).shuffle(chunks)
    state, emitted = None, []
    for chunk in chunks:
        state, out = feed(state, chunk, conf=conf, tally=tally)
        emitted += out
    return state, emitted


def correction_session(sid: str, *, end: bool = True) -> list[TurnEvent]:
    return events_of([
        [prompt("run the tests"), bash("pytest", "bash: pytest: command not found"),
         response("pytest is missing")],
        [prompt("explain the failure"), response("It is not installed globally.")],
        [prompt("no, use python -m pytest instead"), bash("python -m pytest", "12 passed")],
    ], sid=sid, end=end)


def test_stops_between_turns_do_not_close_the_session():
    events = correction_session("s-turns")
    state, emitted = feed_records(events, records=len(events))  # one event per record
    [session] = emitted
    assert session.close_reason is CloseReason.SESSION_END
    assert session.event_count == len(events) and session.counts["stop"] == 3
    assert session.turn_count == 3 and state.generation == 0


def test_a_correction_spread_across_turns_yields_a_human_correction_candidate():
    _, [session] = feed_records(correction_session("s-cand"), records=4)
    candidate = candidate_for(session)
    assert candidate is not None and CandidateReason.HUMAN_CORRECTION in candidate.reasons
    assert candidate.candidate_id == candidate_id(session.session_uid)
    assert session.corrections == 1


def test_a_stop_arriving_first_does_not_split_the_session():
    events = correction_session("s-ooo")
    stop = next(e for e in events if e.kind is EventKind.STOP)
    rest = [e for e in events if e is not stop]
    state, emitted = feed(None, [stop])
    assert emitted == [] and not state.is_closed
    state, emitted = feed(state, rest)
    [session] = emitted
    assert session.event_count == len(events) and session.generation == 0


def test_records_in_any_order_give_one_session_with_exact_counts():
    events = correction_session("s-shuffle", end=False)
    end = events_of([[]], sid="s-shuffle", start_seq=len(events) + 5)[-1]
    for seed in range(5):
        state, emitted = feed_records(events, records=6, shuffle_seed=seed)
        assert emitted == [] and not state.is_closed
        _, [session] = feed(state, [end])
        assert session.event_count == len(events) + 1
        assert [e.seq for e in session.events] == sorted(e.seq for e in session.events)


def test_turns_are_derived_for_v1_events_and_kept_for_v2_events():
    v2 = correction_session("s-v1")
    v1 = [msgspec.structs.replace(e, turn=None, schema_version=1) for e in v2]
    for events in (v1, v2):
        _, [session] = feed(None, events)
        assert [e.turn for e in session.events] == [e.turn for e in v2]
    assert [e.turn for e in v2][:3] == [0, 1, 1]  # session_start is turn 0


def test_clear_in_the_same_session_id_closes_and_starts_a_new_generation():
    before = events_of([[prompt("refactor the api"), bash("ls", "api")]], sid="s-clear",
                       end=False)
    clear = events_of([[prompt("now something else")]], sid="s-clear",
                      start_seq=len(before))
    clear[0] = msgspec.structs.replace(clear[0], reason="clear")
    tally = Tally()
    _, emitted = feed(None, [*before, *clear], tally=tally)
    first, second = emitted
    assert first.close_reason is CloseReason.CLEAR and first.event_count == len(before)
    assert second.session_uid == session_uid("ws-test", "s-clear", 1) != first.session_uid
    assert second.carried_event_count == 0  # a clear carries no context
    assert second.event_count == len(clear) and tally.reopened == 1


def test_clear_after_session_end_reason_clear_opens_the_next_generation_without_context():
    first = events_of([[prompt("a"), bash("ls", "x")]], sid="s-clear2")
    state, [_] = feed(None, first)
    start = events_of([[prompt("b"), bash("pwd", "/")]], sid="s-clear2",
                      start_seq=len(first))
    start[0] = msgspec.structs.replace(start[0], reason="clear")
    _, [again] = feed(state, start)
    assert again.generation == 1 and again.carried_event_count == 0


def test_clear_with_a_new_session_id_leaves_the_old_session_to_its_own_end():
    old = events_of([[prompt("a"), bash("ls", "x")]], sid="s-old", end=False)
    state, emitted = feed(None, old)
    new = events_of([[prompt("b")]], sid="s-new")
    new[0] = msgspec.structs.replace(new[0], reason="clear")
    _, out = feed(None, new)
    assert emitted == [] and [s.session_id for s in out] == ["s-new"]
    assert not state.is_closed  # the old one closes on its SessionEnd or the idle gap
    _, [idle] = on_tick(state, now=NOW + timedelta(hours=2), settings=CONF)
    assert idle.close_reason is CloseReason.IDLE and idle.session_id == "s-old"


def test_compact_and_resume_starts_inside_an_open_session_continue_it():
    events = correction_session("s-compact", end=False)
    for reason in ("compact", "resume", "startup"):
        start = msgspec.structs.replace(events[0], event_id=f"restart-{reason}",
                                        reason=reason, seq=100)
        state, emitted = feed(None, [*events, start])
        assert emitted == [] and state.generation == 0 and not state.is_closed


def test_resume_after_session_end_carries_the_previous_turns_as_context():
    run1 = events_of([[prompt("run the tests"), bash("pytest", "command not found")]],
                     sid="s-resume")
    state, [first] = feed(None, run1)
    assert candidate_for(first) is None
    run2 = events_of([[prompt("no, use python -m pytest instead"),
                       bash("python -m pytest", "3 passed")]], sid="s-resume",
                     start_seq=len(run1))
    run2[0] = msgspec.structs.replace(run2[0], reason="resume")
    tally = Tally()
    state, [second] = feed(state, run2, now=NOW + timedelta(minutes=5), tally=tally)
    assert tally.reopened == 1 and second.generation == 1
    assert second.carried_event_count == len(run1)
    assert second.events[:len(run1)] == first.events
    assert second.event_count == len(run2)  # the context is not counted
    candidate = candidate_for(second)
    assert candidate is not None and CandidateReason.HUMAN_CORRECTION in candidate.reasons


def test_resume_after_the_events_retention_has_no_context():
    run1 = events_of([[prompt("run the tests"), bash("pytest", "command not found")]],
                     sid="s-old-resume")
    state, [_] = feed(None, run1)
    later = NOW + timedelta(seconds=CONF.closed_events_retention_s + 1)
    state, emitted = on_tick(state, now=later, settings=CONF)
    assert emitted == [] and state.closed_session is None and not state.compact
    run2 = events_of([[prompt("no, use python -m pytest")]], sid="s-old-resume",
                     start_seq=len(run1))
    _, [second] = feed(state, run2, now=later)
    assert second.carried_event_count == 0


def test_carried_context_is_bounded_by_a_quarter_of_the_event_cap():
    conf = msgspec.structs.replace(CONF, max_events_per_session=40)
    long = events_of([[prompt(f"step {i}"), bash("ls", "x")] for i in range(20)], sid="s-long")
    state, [_] = feed(None, long, conf=conf)
    more = events_of([[prompt("again")]], sid="s-long", start_seq=len(long))
    _, [second] = feed(state, more, conf=conf)
    # The last 10 of the 40 events the truncated first generation kept.
    assert second.carried_event_count == 10
    assert second.events[:10] == long[30:40]


def test_edit_counts_are_exact_on_the_session_even_when_events_are_truncated():
    conf = msgspec.structs.replace(CONF, max_events_per_session=5)
    events = events_of([[prompt("edit"), edit("a.py", asked=True),
                         edit("b.py", output=None, asked=True), edit("c.py", interrupt=True),
                         edit("d.py")]], sid="s-edits")
    _, [session] = feed_records(events, records=3, conf=conf)
    assert session.events_truncated
    assert (session.edits_proposed, session.edits_accepted, session.edits_rejected) == (4, 2, 2)


def test_edit_ledger_survives_a_state_round_trip_mid_session():
    events = events_of([[prompt("edit"), edit("a.py", output=None, asked=True)]], sid="s-rt",
                       end=False)
    state, _ = feed(None, events)
    restored = decode_state(encode_state(state))
    end = events_of([[]], sid="s-rt", start_seq=50)[-1:]
    _, [session] = feed(restored, end)
    assert (session.edits_proposed, session.edits_rejected) == (1, 1)


def test_v1_state_decodes_and_continues():
    # A state as the previous version wrote it: no v2 fields at all.
    state, _ = feed(None, correction_session("s-v1state", end=False))
    v1 = msgspec.msgpack.decode(encode_state(state))
    for key in ("edit_calls", "edit_open", "edit_waiting", "carried", "carried_count",
                "closed_session", "was_candidate"):
        v1.pop(key, None)
    v1["version"] = 1
    restored = decode_state(msgspec.msgpack.encode(v1))
    _, [session] = feed(restored, events_of([[]], sid="s-v1state", start_seq=90)[-1:])
    assert session.event_count == len(correction_session("x", end=False)) + 1


# -- late outcomes -----------------------------------------------------------------


def closed_tool_session(sid: str) -> tuple[SessionState, object]:
    events = events_of([[prompt("email the Northwind VP"), bash("crm send", "sent")]], sid=sid)
    state, [session] = feed(None, events)
    return state, session


def outcome_event(sid: str, label: str, *, after: timedelta, event_id: str = "o1"
                  ) -> TurnEvent:
    return TurnEvent(event_id=f"{sid}-{event_id}", workspace_id="ws-test", session_id=sid,
                     agent_id="signal", agent_kind="sdr", project="", seq=10**12,
                     ts=T0 + after, kind=EventKind.OUTCOME, outcome=label)


def test_late_learnable_outcome_re_emits_the_session_once_as_a_candidate():
    state, session = closed_tool_session("s-late")
    assert candidate_for(session) is None
    tally = Tally()
    late = outcome_event("s-late", "Meeting Booked", after=timedelta(minutes=30))
    state, [again] = feed(state, [late], tally=tally)
    assert again.session_uid == session.session_uid and again.reemitted
    assert again.outcome == "meeting_booked" and again.events == session.events
    candidate = candidate_for(again)
    assert candidate is not None and candidate.reasons == [CandidateReason.OUTCOME]
    assert candidate.candidate_id == candidate_id(session.session_uid)
    assert tally.late_candidates == 1 and state.is_closed and state.generation == 0
    # A second learnable outcome, or the same one replayed, emits nothing more.
    state, emitted = feed(state, [late, outcome_event("s-late", "replied",
                                                      after=timedelta(hours=1),
                                                      event_id="o2")], tally=tally)
    assert emitted == [] and tally.duplicates == 1 and tally.late_outcomes == 1


def test_late_outcome_that_is_not_learnable_is_counted_not_emitted():
    state, _ = closed_tool_session("s-bounce")
    tally = Tally()
    _, emitted = feed(state, [outcome_event("s-bounce", "bounced", after=timedelta(hours=1))],
                      tally=tally)
    assert emitted == [] and tally.late_outcomes == 1 and tally.absorbed == 1


def test_late_outcome_for_a_session_already_a_candidate_emits_nothing():
    state, [session] = feed(None, correction_session("s-already"))
    assert candidate_for(session) is not None and state.was_candidate
    _, emitted = feed(state, [outcome_event("s-already", "merged", after=timedelta(hours=1))])
    assert emitted == []


def test_late_outcome_after_the_events_retention_is_counted_but_cannot_make_a_candidate():
    state, _ = closed_tool_session("s-later")
    later = NOW + timedelta(seconds=CONF.closed_events_retention_s + 1)
    state, _ = on_tick(state, now=later, settings=CONF)
    tally = Tally()
    _, emitted = feed(state, [outcome_event("s-later", "replied", after=timedelta(hours=3))],
                      now=later, tally=tally)
    assert emitted == [] and tally.late_outcomes == 1


def test_outcome_beyond_the_horizon_is_counted_as_such():
    state, session = closed_tool_session("s-horizon")
    tally = Tally()
    horizon = timedelta(seconds=CONF.outcome_horizon_s)
    end = session.ended_at - T0
    _, emitted = feed(state, [outcome_event("s-horizon", "replied", after=end + horizon)],
                      tally=tally)
    assert tally.outcomes_beyond_horizon == 0  # equal is within
    _, emitted = feed(state, [outcome_event("s-horizon", "replied",
                                            after=end + horizon + timedelta(seconds=1),
                                            event_id="o9")], tally=tally)
    assert emitted == [] and tally.outcomes_beyond_horizon == 1


def test_closed_marker_state_stays_bounded_over_its_lifetime():
    state, _ = closed_tool_session("s-bound")
    full = len(encode_state(state))
    t = NOW + timedelta(seconds=CONF.closed_events_retention_s + 1)
    state, _ = on_tick(state, now=t, settings=CONF)
    without_events = len(encode_state(state))
    t = NOW + timedelta(seconds=CONF.closed_retention_s + 1)
    state, _ = on_tick(state, now=t, settings=CONF)
    compact = len(encode_state(state))
    assert full > without_events > compact and compact < 300
    gone, _ = on_tick(state, now=NOW + timedelta(seconds=CONF.outcome_horizon_s + 1),
                      settings=CONF)
    assert gone is None


def test_shrink_drops_the_retained_session_before_anything_else():
    state, _ = closed_tool_session("s-shrink")
    raw = encode_state(state)
    small, small_raw = shrink_to_fit(state, len(raw) - 1)
    assert small.closed_session is None and small.is_closed and len(small_raw) < len(raw)
    assert small.seen == state.seen  # dedup memory is kept
