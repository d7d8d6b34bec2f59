"""Bad-input corpus through the sessionizer's processor (hypothesis): whatever bytes and
keys arrive on the turns topic, the batch is processed without raising, every record is
acked, each is either processed or dead-lettered (never both, never neither), and a good
session sent after them comes out exactly once. Written apart from the defences."""

from __future__ import annotations

import asyncio

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hivemind_kafka.schemas.dead_letters import decode_dead_letter
from hivemind_kafka.schemas.events import EventKind, encode_batch, turn_key
from hivemind_kafka.schemas.sessions import session_uid
from tests.unit.streams.sessionizer.test_processor import TURNS, Event, Message, Stream, ev, make

_good = encode_batch([ev(0, ws="w", sid="x"), ev(1, ws="w", sid="x")])
_template = msgspec.json.decode(_good)

_json_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
                          st.text(max_size=30))
_field_values = st.one_of(_json_scalars, st.sampled_from(
    ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "2026-01-01T00:00:00", "\u2028", "",
     "a" * 300, "stop", "session_end", "outcome"]), st.integers(min_value=-2, max_value=2**70))


@st.composite
def mutated_batch(draw) -> bytes:
    """A valid batch with one field of one event (or of the batch) replaced or removed."""
    data = msgspec.json.decode(_good)
    events = data["events"]
    target = draw(st.sampled_from(["batch", "event"]))
    obj = data if target == "batch" else events[draw(st.integers(0, len(events) - 1))]
    field = draw(st.sampled_from(sorted(obj)))
    if draw(st.booleans()):
        obj.pop(field)
    else:
        obj[field] = draw(_field_values)
    return msgspec.json.encode(data)


records = st.lists(st.tuples(
    st.one_of(st.none(), st.just(b"w"), st.binary(max_size=40)),
    st.one_of(st.binary(max_size=200), mutated_batch(),
              st.just(b'{"events": []}'), st.just(_good[:-3]), st.just(b"null"))),
    min_size=1, max_size=8)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records)
def test_any_records_then_a_good_session(bad):
    async def scenario():
        proc, _store, sessions, dead = make()
        sessions.auto_ack = dead.auto_ack = True
        stream = Stream()
        batch = [Event(Message(TURNS, 0, i, value, key)) for i, (key, value) in enumerate(bad)]
        end = len(bad)
        good = [ev(0, ws="ok", sid="after"), ev(1, EventKind.SESSION_END, ws="ok", sid="after")]
        batch.append(Event(Message(TURNS, 0, end, encode_batch(good), turn_key("ok"))))
        await proc.handle_batch(stream, batch, more_buffered=False)
        assert sorted(stream.acked) == list(range(end + 1))
        assert session_uid("ok", "after", 0) in sessions.uids()
        letters = [decode_dead_letter(v) for _, v, _ in dead.sent]
        assert len({lt.offset for lt in letters}) == len(letters)
        assert all(lt.offset < end and lt.stage == "sessionizer" for lt in letters)

    asyncio.run(scenario())
