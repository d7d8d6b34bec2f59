"""How a session state is stored (v3): a head and immutable chunk keys, so a write costs
the new events, not the session's length; v2 states (chunks embedded) still read.

The store here is a dict, as the processor's table is; ``write`` applies what
``store_state`` says to write and returns the bytes it wrote."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from hivemind_kafka.runtime.settings import SessionizerSettings
from hivemind_kafka.schemas.events import AgentKind, EventKind, TurnEvent
from hivemind_kafka.schemas.sessions import session_uid
from hivemind_kafka.streams.sessionizer import logic

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
CONF = SessionizerSettings(max_events_per_session=10_000)
KEY = logic.state_key("ws", "s1")
_n = itertools.count()


def ev(seq: int, kind: EventKind = EventKind.RESPONSE, *, text: str = "x" * 200,
       event_id: str | None = None) -> TurnEvent:
    return TurnEvent(event_id=event_id or f"e{next(_n)}", workspace_id="ws", session_id="s1",
                     agent_id="a", agent_kind=AgentKind.CODING, project="p", seq=seq,
                     ts=T0 + timedelta(milliseconds=seq), kind=kind, text=text)


def feed(state, events):
    return logic.on_events(state, events, partition=3, now=T0, settings=CONF)


def write(store: dict[bytes, bytes], state: logic.SessionState,
          max_bytes: int = CONF.max_record_bytes) -> tuple[logic.SessionState, int]:
    stored, head, writes, _ = logic.store_state(KEY, state, max_bytes)
    written = len(head)
    for key, value in writes.items():
        if value is None:
            store.pop(key, None)
        else:
            store[key] = value
            written += len(value)
    store[KEY] = head
    return stored, written


def read(store: dict[bytes, bytes]) -> logic.SessionState:
    return logic.join_state(KEY, store[KEY], store.get)


def test_each_write_costs_the_new_events_not_the_session_length():
    store: dict[bytes, bytes] = {}
    sizes = []
    state = None
    for r in range(40):
        state = read(store) if store else None
        state, _ = feed(state, [ev(r * 10 + k) for k in range(10)])
        _, written = write(store, state)
        sizes.append(written)
    # The events and their hashes go once: every write is about the same size, the new
    # events' (v2 wrote the whole state, 40 times larger by the end).
    assert max(sizes[1:]) <= sizes[1] * 1.1
    assert sizes[-1] < len(logic.encode_state(state)) / 20
    assert sum(1 for k in store if logic.is_chunk_key(k)) == 40
    assert len(logic.kept_events(read(store))) == 400


def test_a_state_read_back_closes_with_every_event_in_seq_order():
    store: dict[bytes, bytes] = {}
    state, _ = feed(None, [ev(5), ev(3)])
    write(store, state)
    state, _ = feed(read(store), [ev(4), ev(1)])
    write(store, state)
    _, [session] = feed(read(store), [ev(9, EventKind.SESSION_END)])
    assert [e.seq for e in session.events] == [1, 3, 4, 5, 9]


def test_a_close_deletes_every_chunk_key():
    store: dict[bytes, bytes] = {}
    state = None
    for r in range(3):
        state, _ = feed(read(store) if store else None, [ev(r)])
        write(store, state)
    state, [session] = feed(read(store), [ev(9, EventKind.SESSION_END)])
    write(store, state)
    assert session.event_count == 4
    # The closed marker is its head alone, with the dedup hashes.
    assert list(store) == [KEY]
    marker = read(store)
    assert marker.is_closed and marker.chunks == [] and len(marker.seen) == 4
    assert len(logic.decode_state(store[KEY]).seen) == 4


def test_a_replay_after_the_close_is_absorbed_and_compaction_drops_the_hashes():
    store: dict[bytes, bytes] = {}
    events = [ev(0, event_id="r0"), ev(1, EventKind.SESSION_END, event_id="r1")]
    state, [_] = feed(None, events)
    write(store, state)
    tally = logic.Tally()
    state, emitted = logic.on_events(read(store), events, partition=3, now=T0,
                                     settings=CONF, tally=tally)
    assert emitted == [] and tally.duplicates == 2
    late = T0 + timedelta(seconds=CONF.closed_retention_s + 1)
    compact, _ = logic.on_tick(read(store), now=late, settings=CONF)
    assert compact is not None and compact.compact
    write(store, compact)
    assert list(store) == [KEY] and read(store).seen == []


def test_replayed_events_of_a_stored_state_are_duplicates():
    store: dict[bytes, bytes] = {}
    first = [ev(k, event_id=f"id{k}") for k in range(5)]
    state, _ = feed(None, first)
    write(store, state)
    tally = logic.Tally()
    state, _ = logic.on_events(read(store), first, partition=3, now=T0, settings=CONF,
                               tally=tally)
    _, writes = logic.store_state(KEY, state, CONF.max_record_bytes)[1:3]
    assert tally.duplicates == 5 and writes == {}  # nothing new to store


def test_unchanged_state_writes_no_chunk():
    store: dict[bytes, bytes] = {}
    state, _ = feed(None, [ev(0)])
    write(store, state)
    _, head, writes, keys = logic.store_state(KEY, read(store), CONF.max_record_bytes)
    assert writes == {} and keys == 1 and head == store[KEY]


def test_v2_state_with_embedded_chunks_reads_and_moves_to_chunk_keys():
    state, _ = feed(None, [ev(0), ev(1)])
    state, _ = feed(state, [ev(2)])
    v2 = msgspec.msgpack.decode(logic.encode_state(state))
    v2["version"] = 2
    for field in ("chunk_keys", "stored_chunks"):
        v2.pop(field, None)
    assert len(v2["chunks"]) == 2
    store = {KEY: msgspec.msgpack.encode(v2)}
    old = read(store)
    assert len(logic.kept_events(old)) == 3
    state, _ = feed(old, [ev(3)])
    write(store, state)
    head = logic.decode_state(store[KEY])
    assert head.version == logic.STATE_VERSION and head.chunks == [] and head.chunk_keys == 1
    _, [session] = feed(read(store), [ev(4, EventKind.SESSION_END)])
    assert [e.seq for e in session.events] == [0, 1, 2, 3, 4]
    assert session.session_uid == session_uid("ws", "s1", 0)


def test_a_missing_chunk_key_drops_its_events_but_keeps_the_counts():
    store: dict[bytes, bytes] = {}
    state = None
    for r in range(3):
        state, _ = feed(read(store) if store else None, [ev(r)])
        write(store, state)
    del store[logic.chunk_key(KEY, 1)]
    state = read(store)
    assert state.kept == 2 and state.events_truncated
    _, [session] = feed(state, [ev(9, EventKind.SESSION_END)])
    assert session.event_count == 4 and session.events_truncated
    assert [e.seq for e in session.events] == [0, 2, 9]


def test_a_corrupt_chunk_key_is_a_decode_error():
    store: dict[bytes, bytes] = {}
    state, _ = feed(None, [ev(0)])
    write(store, state)
    store[logic.chunk_key(KEY, 0)] = b"\xc1 not msgpack"
    with pytest.raises(msgspec.DecodeError):
        read(store)


def test_an_oversized_state_shrinks_and_rewrites_its_chunks_to_one_fresh_key():
    store: dict[bytes, bytes] = {}
    state = None
    for r in range(6):
        state, _ = feed(read(store) if store else None, [ev(r, text="y" * 2000)])
        write(store, state)
    assert sum(1 for k in store if logic.is_chunk_key(k)) == 6
    state, _ = feed(read(store), [ev(6, text="y" * 2000)])
    write(store, state, max_bytes=8000)
    back = read(store)
    assert back.events_truncated and back.kept < 7 and back.event_count == 7
    # Past the six it owned (never rewritten in place: a crash may keep the old head).
    assert sorted(k for k in store if logic.is_chunk_key(k)) == [logic.chunk_key(KEY, 6)]
    assert (back.chunk_base, back.chunk_keys) == (6, 1)


def test_chunk_keys_never_look_like_state_keys():
    tricky = logic.state_key('ws"]\x00', "s\x001")
    assert not logic.is_chunk_key(tricky)
    assert logic.is_chunk_key(logic.chunk_key(tricky, 0))


def test_handed_over_events_emit_the_same_session_as_copied_ones():
    def events():
        kinds = [EventKind.PROMPT, EventKind.RESPONSE, EventKind.STOP, EventKind.PROMPT,
                 EventKind.RESPONSE, EventKind.SESSION_END]
        return [ev(k, kind, event_id=f"h{k}") for k, kind in enumerate(kinds)]

    given = events()
    _, [copied] = logic.on_events(None, given, partition=0, now=T0, settings=CONF)
    assert all(e.turn is None for e in given)  # not handed over: left alone
    _, [owned] = logic.on_events(None, events(), partition=0, now=T0, settings=CONF,
                                 owned=True)
    assert owned == copied
    assert [e.turn for e in owned.events] == [1, 1, 1, 2, 2, 2]


def test_handed_over_events_across_records_and_a_rollback_emit_the_same_session():
    """Chunks made from handed-over events are remembered decoded; a close takes them. A
    state from before a close (what the processor continues from after a processing
    error) must still close to the same session."""
    kinds = [EventKind.PROMPT, EventKind.RESPONSE, EventKind.PROMPT, EventKind.RESPONSE]

    def records():
        return [[ev(r * 4 + k, kind, event_id=f"x{r}-{k}") for k, kind in enumerate(kinds)]
                for r in range(3)]

    def run(owned: bool):
        state = None
        for events in records():
            state, _ = logic.on_events(state, events, partition=0, now=T0, settings=CONF,
                                       owned=owned)
        end = [ev(99, EventKind.SESSION_END, event_id="end")]
        before = state
        _, [first] = logic.on_events(before, end, partition=0, now=T0, settings=CONF,
                                     owned=owned)
        _, [again] = logic.on_events(before, [ev(99, EventKind.SESSION_END, event_id="end")],
                                     partition=0, now=T0, settings=CONF, owned=owned)
        return first, again

    copied, copied_again = run(False)
    owned, owned_again = run(True)
    assert owned == copied == owned_again == copied_again
    assert [e.turn for e in owned.events] == [1 + i // 2 for i in range(12)] + [6]
