"""The processor's ordering guarantee, with small in-memory stand-ins for the table, the
output topics and the stream (the integration tests run the real Faust worker)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from runtime.settings import Settings
from schemas.events import AgentKind, EventKind, TurnEvent, encode_batch
from schemas.sessions import decode_session, session_uid
from streams.sessionizer import logic
from streams.sessionizer.processor import Sessionizer

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


class Table(dict):
    """What the processor uses of a Faust table: get, set, delete, and ``data``."""

    writes: list

    def __init__(self) -> None:
        super().__init__()
        self.writes = []

    @property
    def data(self) -> dict:
        return self

    def __setitem__(self, key, value) -> None:
        self.writes.append(key)
        super().__setitem__(key, value)


class Topic:
    """Sends return futures the test resolves, like broker acknowledgements."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes, bytes, asyncio.Future]] = []
        self.auto_ack = False

    async def send(self, *, key, value, headers=None) -> asyncio.Future:
        fut = asyncio.get_running_loop().create_future()
        self.sent.append((key, value, fut))
        if self.auto_ack:
            fut.set_result(None)
        return fut

    def ack_all(self) -> None:
        for _, _, fut in self.sent:
            if not fut.done():
                fut.set_result(None)


@dataclass
class Message:
    topic: str
    partition: int
    offset: int
    value: bytes | None
    key: bytes | None = b"ws"


@dataclass
class Event:
    message: Message


@dataclass
class Stream:
    acked: list[int] = field(default_factory=list)

    async def ack(self, event: Event) -> bool:
        self.acked.append(event.message.offset)
        return True


def make(settings: Settings | None = None):
    settings = settings or Settings()
    table, sessions, candidates, dead = Table(), Topic(), Topic(), Topic()
    proc = Sessionizer(table=table, sessions=sessions, candidates=candidates,
                       dead_letters=dead, settings=settings, clock=lambda: T0,
                       assigned_partitions=lambda: {0})
    proc.on_assigned()
    return proc, table, sessions, dead


def record(offset: int, events: list[TurnEvent]) -> Event:
    return Event(Message("hivemind.turns", 0, offset, encode_batch(events)))


def ev(seq: int, kind: EventKind = EventKind.PROMPT, sid: str = "s1") -> TurnEvent:
    return TurnEvent(event_id=f"{sid}-{seq}", workspace_id="ws", session_id=sid, agent_id="a",
                     agent_kind=AgentKind.CODING, project="p", seq=seq,
                     ts=T0 - timedelta(seconds=60 - seq), kind=kind)


def test_state_write_and_ack_wait_for_the_delivery_of_the_closed_session():
    async def scenario():
        proc, table, sessions, _ = make()
        stream = Stream()
        await proc.handle(stream, record(0, [ev(0), ev(1, EventKind.SESSION_END)]))
        await proc.handle(stream, record(1, [ev(0, sid="s2")]))
        # The close is sent but not acknowledged: nothing written, nothing acked, and the
        # later record of the same partition waits behind it.
        assert len(sessions.sent) == 1 and table.writes == [] and stream.acked == []
        sessions.ack_all()
        await proc.handle(stream, record(2, [ev(1, sid="s2")]))
        assert stream.acked == [0, 1, 2]
        key = logic.state_key("ws", "s1")
        assert table.writes[0] == key and logic.decode_state(table[key]).is_closed
        assert decode_session(sessions.sent[0][1]).session_uid == session_uid("ws", "s1", 0)

    asyncio.run(scenario())


def test_later_record_of_a_pending_key_reads_the_newest_state():
    async def scenario():
        proc, table, sessions, _ = make()
        stream = Stream()
        await proc.handle(stream, record(0, [ev(0), ev(1, EventKind.SESSION_END)]))
        # Not yet written to the table: a trailing stop must still be absorbed,
        # not re-open the session, and a new prompt re-opens generation 1.
        await proc.handle(stream, record(1, [ev(2, EventKind.STOP)]))
        await proc.handle(stream, record(2, [ev(3)]))
        assert table.writes == [] and len(sessions.sent) == 1  # nothing closed twice
        sessions.ack_all()
        sessions.auto_ack = True
        await proc.handle(stream, record(3, [ev(4, EventKind.SESSION_END)]), more_buffered=False)
        uids = [decode_session(v).session_uid for _, v, _ in sessions.sent]
        assert uids == [session_uid("ws", "s1", 0), session_uid("ws", "s1", 1)]
        assert stream.acked == [0, 1, 2, 3]

    asyncio.run(scenario())


def test_idle_input_writes_at_once():
    async def scenario():
        proc, table, sessions, _ = make()
        stream = Stream()
        task = asyncio.ensure_future(
            proc.handle(stream, record(0, [ev(0), ev(1, EventKind.SESSION_END)]), more_buffered=False))
        await asyncio.sleep(0)
        assert not task.done() and table.writes == []  # waiting for the acknowledgement
        sessions.ack_all()
        await task
        assert stream.acked == [0] and len(table.writes) == 1

    asyncio.run(scenario())


def test_bad_record_is_dead_lettered_and_acked_after_delivery():
    async def scenario():
        proc, table, _, dead = make()
        stream = Stream()
        await proc.handle(stream, Event(Message("hivemind.turns", 0, 7, b"{oops")))
        assert len(dead.sent) == 1 and stream.acked == []
        dead.ack_all()
        await proc.handle(stream, record(8, [ev(0)]), more_buffered=False)
        assert stream.acked == [7, 8] and table.writes == [logic.state_key("ws", "s1")]

    asyncio.run(scenario())


def test_tick_closes_idle_sessions_of_its_partition_only_after_the_grace():
    async def scenario():
        settings = Settings().replace(sessionizer={"idle_gap_s": 10, "arrival_grace_s": 5})
        proc, _, sessions, _ = make(settings)
        now = [T0]
        proc.clock = lambda: now[0]
        stream = Stream()
        proc.sweep_not_before.clear()
        await proc.handle(stream, record(0, [ev(0)]), more_buffered=False)  # nothing to send
        proc.index.put(b"other", partition=1, deadline=T0, is_open=True)
        tick = Event(Message(settings.topics.ticks, 0, 0, b'{"ts_ms": 0}'))
        now[0] = T0 + timedelta(seconds=5)
        await proc.handle(stream, tick)
        assert sessions.sent == []  # equal to the grace: not yet
        now[0] = T0 + timedelta(seconds=6)
        task = asyncio.ensure_future(proc.handle(stream, tick))
        await asyncio.sleep(0)
        sessions.ack_all()
        await task
        [(_, value, _)] = sessions.sent
        assert decode_session(value).close_reason == "idle"
        assert b"other" in proc.index  # partition 1's key untouched by partition 0's tick

    asyncio.run(scenario())


def test_work_suspended_across_a_rebalance_is_abandoned_then_replayed_with_the_same_uid():
    async def scenario():
        proc, table, sessions, _ = make()
        stream = Stream()
        closing = record(0, [ev(0), ev(1, EventKind.SESSION_END)])
        task = asyncio.ensure_future(proc.handle(stream, closing, more_buffered=False))
        await asyncio.sleep(0)
        proc.on_assigned()  # a rebalance while the close waits for its acknowledgement
        sessions.ack_all()
        await task
        assert table.writes == [] and stream.acked == []  # not written, not acked
        sessions.auto_ack = True
        await proc.handle(stream, closing, more_buffered=False)  # delivered again
        uids = [decode_session(v).session_uid for _, v, _ in sessions.sent]
        assert uids == [session_uid("ws", "s1", 0)] * 2
        assert stream.acked == [0] and len(table.writes) == 1

    asyncio.run(scenario())
