"""The batched processor's guarantees, with small in-memory stand-ins for the state store,
the output topics and the stream (the integration tests run the real Faust worker)."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import msgspec

from hivemind_kafka.runtime.settings import Settings
from hivemind_kafka.schemas.events import AgentKind, EventKind, TurnEvent, encode_batch, turn_key
from hivemind_kafka.schemas.sessions import decode_session, session_uid
from hivemind_kafka.streams.sessionizer import logic
from hivemind_kafka.streams.sessionizer.processor import Sessionizer

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
TURNS = "hivemind.turns"


class Store:
    """A StateStore over a dict that records every read and write (with its partition)."""

    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}
        self.reads: list[bytes] = []
        self.writes: list[tuple[bytes, int, bytes | None]] = []
        self.pending: list[asyncio.Future] = []
        self.hold = False  # True: writes stay undelivered until deliver_all()

    def get(self, key):
        self.reads.append(key)
        return self.data.get(key)

    def put(self, key, raw, *, partition):
        self.writes.append((key, partition, raw))
        if raw is None:
            self.data.pop(key, None)
        else:
            self.data[key] = raw
        fut = asyncio.get_running_loop().create_future()
        self.pending.append(fut)
        if not self.hold:
            fut.set_result(None)
        return fut

    def deliver_all(self) -> None:
        for fut in self.pending:
            if not fut.done():
                fut.set_result(None)

    def items(self):
        return list(self.data.items())

    def written_keys(self) -> list[bytes]:
        """The state keys written (a state's chunk keys are counted apart)."""
        return [k for k, _, _ in self.writes if not logic.is_chunk_key(k)]

    def head_reads(self) -> list[bytes]:
        return [k for k in self.reads if not logic.is_chunk_key(k)]

    def head_writes(self) -> list[bytes | None]:
        return [raw for k, _, raw in self.writes if not logic.is_chunk_key(k)]


class Topic:
    """Sends return futures the test resolves, like broker acknowledgements."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes, bytes, asyncio.Future]] = []
        self.auto_ack = False

    def send_soon(self, *, key, value, headers=None) -> asyncio.Future:
        fut = asyncio.get_running_loop().create_future()
        self.sent.append((key, value, fut))
        if self.auto_ack:
            fut.set_result(None)
        return fut

    def ack_all(self) -> None:
        for _, _, fut in self.sent:
            if not fut.done():
                fut.set_result(None)

    def uids(self) -> list[str]:
        return [decode_session(v).session_uid for _, v, _ in self.sent]


@dataclass
class Message:
    topic: str
    partition: int
    offset: int
    value: bytes | None
    key: bytes | None = b"ws"
    generation_id: int = 1


@dataclass
class Event:
    message: Message


@dataclass
class Stream:
    acked: list[int] = field(default_factory=list)

    async def ack(self, event: Event) -> bool:
        self.acked.append(event.message.offset)
        return True


class Monotonic:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def make(settings: Settings | None = None, **kwargs):
    settings = settings or Settings()
    store, sessions, candidates, dead = Store(), Topic(), Topic(), Topic()
    kwargs.setdefault("monotonic", Monotonic())
    proc = Sessionizer(store=store, sessions=sessions, candidates=candidates,
                       dead_letters=dead, settings=settings, clock=lambda: T0,
                       assigned_partitions=lambda: {0, 1}, **kwargs)
    proc.on_assigned()
    return proc, store, sessions, dead


def record(offset: int, events: list[TurnEvent], partition: int = 0, **kw) -> Event:
    kw.setdefault("key", turn_key(events[0].workspace_id))  # the contract's key
    return Event(Message(TURNS, partition, offset, encode_batch(events), **kw))


def ev(seq: int, kind: EventKind = EventKind.PROMPT, sid: str = "s1", ws: str = "ws") -> TurnEvent:
    return TurnEvent(event_id=f"{ws}-{sid}-{seq}", workspace_id=ws, session_id=sid,
                     agent_id="a", agent_kind=AgentKind.CODING, project="p", seq=seq,
                     ts=T0 - timedelta(seconds=60 - seq), kind=kind)


KEY1 = logic.state_key("ws", "s1")


def test_state_write_and_ack_wait_for_the_delivery_of_the_closed_session():
    async def scenario():
        proc, store, sessions, _ = make()
        stream = Stream()
        await proc.handle_batch(stream, [record(0, [ev(0), ev(1, EventKind.SESSION_END)]),
                                         record(1, [ev(0, sid="s2")])])
        # The close is sent but not acknowledged: nothing written, nothing acked.
        assert len(sessions.sent) == 1 and store.writes == [] and stream.acked == []
        sessions.ack_all()
        await proc.handle_batch(stream, [record(2, [ev(1, sid="s2")])], more_buffered=False)
        assert sorted(stream.acked) == [0, 1, 2]
        assert KEY1 in store.written_keys()
        assert logic.decode_state(store.data[KEY1]).is_closed
        assert sessions.uids() == [session_uid("ws", "s1", 0)]

    asyncio.run(scenario())


def test_a_batch_reads_each_key_once_and_writes_each_touched_key_once():
    async def scenario():
        proc, store, sessions, _ = make()
        sessions.auto_ack = True
        stream = Stream()
        batch = [record(i, [ev(i, sid=f"s{i % 3}")]) for i in range(30)]
        await proc.handle_batch(stream, batch, more_buffered=False)
        keys = [logic.state_key("ws", f"s{i}") for i in range(3)]
        assert sorted(store.head_reads()) == sorted(keys)
        assert sorted(store.written_keys()) == sorted(keys)
        assert sorted(stream.acked) == list(range(30))
        assert [logic.decode_state(store.data[k]).event_count for k in keys] == [10, 10, 10]

    asyncio.run(scenario())


def test_a_later_batch_of_a_pending_key_reads_the_newest_state():
    async def scenario():
        proc, store, sessions, _ = make()
        stream = Stream()
        await proc.handle_batch(stream, [record(0, [ev(0), ev(1, EventKind.SESSION_END)])])
        # Not yet written: a trailing stop must still be absorbed, not re-open the
        # session, and a new prompt re-opens generation 1.
        await proc.handle_batch(stream, [record(1, [ev(2, EventKind.STOP)])])
        assert store.writes == [] and len(sessions.sent) == 1
        sessions.ack_all()
        sessions.auto_ack = True
        await proc.handle_batch(stream, [record(2, [ev(3)]),
                                         record(3, [ev(4, EventKind.SESSION_END)])],
                                more_buffered=False)
        assert sessions.uids() == [session_uid("ws", "s1", 0), session_uid("ws", "s1", 1)]
        assert sorted(stream.acked) == [0, 1, 2, 3]

    asyncio.run(scenario())


def test_batches_written_together_write_each_key_once():
    async def scenario():
        proc, store, sessions, _ = make()
        stream = Stream()
        await proc.handle_batch(stream, [record(0, [ev(0)]), record(1, [ev(1, EventKind.SESSION_END)])])
        await proc.handle_batch(stream, [record(2, [ev(2)])])  # reopens: generation 1
        assert store.writes == []
        sessions.ack_all()
        await proc.handle_batch(stream, [record(3, [ev(0, sid="s2")])], more_buffered=False)
        assert store.written_keys().count(KEY1) == 1
        assert logic.decode_state(store.data[KEY1]).generation == 1
        assert sorted(stream.acked) == [0, 1, 2, 3]

    asyncio.run(scenario())


def test_under_a_backlog_batches_are_written_once_the_write_interval_has_passed():
    async def scenario():
        settings = Settings().replace(sessionizer={"state_write_interval_ms": 1000})
        clock = Monotonic()
        proc, store, sessions, _ = make(settings, monotonic=clock)
        sessions.auto_ack = True
        stream = Stream()
        await proc.handle_batch(stream, [record(0, [ev(0)])])
        clock.now = 0.5
        await proc.handle_batch(stream, [record(1, [ev(1)])])
        assert store.writes == [] and stream.acked == []  # younger than the interval
        clock.now = 1.2
        await proc.handle_batch(stream, [record(2, [ev(2)])])
        # Only the batch that is 1.2 s old is due, and it writes the state it made (a
        # newer one would record records not yet acked, whose sends may not be delivered).
        assert stream.acked == [0]
        assert [logic.decode_state(raw).event_count for raw in store.head_writes()] == [1]
        clock.now = 2.3
        await proc.handle_batch(stream, [record(3, [ev(3)])])
        # Two due batches of one key: one write, with the later one's state.
        assert stream.acked == [0, 1, 2]
        assert [logic.decode_state(raw).event_count for raw in store.head_writes()] == [1, 3]

    asyncio.run(scenario())


def test_too_many_waiting_records_are_written_before_the_interval():
    async def scenario():
        proc, _, sessions, _ = make(max_pending_records=5)
        sessions.auto_ack = True
        stream = Stream()
        await proc.handle_batch(stream, [record(i, [ev(i)]) for i in range(4)])
        assert stream.acked == []
        await proc.handle_batch(stream, [record(i, [ev(i)]) for i in range(4, 8)])
        assert sorted(stream.acked) == [0, 1, 2, 3] and proc.pending_records == 4

    asyncio.run(scenario())


def test_a_due_batch_waits_for_its_sends_before_its_write():
    async def scenario():
        clock = Monotonic()
        proc, store, sessions, _ = make(monotonic=clock)
        stream = Stream()
        await proc.handle_batch(stream, [record(0, [ev(0), ev(1, EventKind.SESSION_END)])])
        clock.now = 5.0
        task = asyncio.ensure_future(proc.handle_batch(stream, [record(1, [ev(0, sid="s9")])]))
        await asyncio.sleep(0.01)
        assert not task.done() and store.writes == []  # due, but its close is not delivered
        sessions.ack_all()
        await asyncio.wait_for(task, 5)
        assert stream.acked == [0] and store.written_keys() == [KEY1]

    asyncio.run(scenario())


def test_records_are_acked_only_once_their_state_writes_are_delivered():
    async def scenario():
        clock = Monotonic()
        proc, store, sessions, _ = make(monotonic=clock)
        sessions.auto_ack = True
        store.hold = True
        stream = Stream()
        await proc.handle_batch(stream, [record(0, [ev(0)])])
        clock.now = 5.0
        await proc.handle_batch(stream, [record(1, [ev(1)])])
        assert store.written_keys() == [KEY1] and stream.acked == []  # written, not durable
        store.deliver_all()
        clock.now = 5.1
        await proc.handle_batch(stream, [record(2, [ev(2)])])
        assert stream.acked == [0]
        task = asyncio.ensure_future(proc.handle_batch(stream, [], more_buffered=False))
        await asyncio.sleep(0.01)
        assert not task.done()  # idle: waits for the last writes' delivery
        store.deliver_all()
        await asyncio.wait_for(task, 5)
        assert stream.acked == [0, 1, 2]

    asyncio.run(scenario())


def test_idle_input_writes_at_once():
    async def scenario():
        proc, store, sessions, _ = make()
        stream = Stream()
        task = asyncio.ensure_future(proc.handle_batch(
            stream, [record(0, [ev(0), ev(1, EventKind.SESSION_END)])], more_buffered=False))
        await asyncio.sleep(0)
        assert not task.done() and store.writes == []  # waiting for the acknowledgement
        sessions.ack_all()
        await task
        assert stream.acked == [0] and len(store.head_writes()) == 1

    asyncio.run(scenario())


def test_bad_record_is_dead_lettered_and_acked_after_delivery_and_its_batch_goes_on():
    async def scenario():
        proc, store, _, dead = make()
        stream = Stream()
        await proc.handle_batch(stream, [Event(Message(TURNS, 0, 7, b"{oops")),
                                         record(8, [ev(0)])])
        assert len(dead.sent) == 1 and stream.acked == []
        dead.ack_all()
        await proc.handle_batch(stream, [], more_buffered=False)
        assert sorted(stream.acked) == [7, 8] and store.written_keys() == [KEY1]

    asyncio.run(scenario())


def test_undecodable_state_dead_letters_its_keys_records_and_spares_the_others():
    async def scenario():
        proc, store, sessions, dead = make()
        dead.auto_ack = sessions.auto_ack = True
        store.data[KEY1] = b"\xc1 not a state"
        stream = Stream()
        await proc.handle_batch(stream, [record(0, [ev(0)]), record(1, [ev(1)]),
                                         record(2, [ev(0, sid="s2"), ev(1, EventKind.SESSION_END, sid="s2")])],
                                more_buffered=False)
        assert len(dead.sent) == 2 and sorted(stream.acked) == [0, 1, 2]
        assert store.data[KEY1] == b"\xc1 not a state"  # left as it was
        assert sessions.uids() == [session_uid("ws", "s2", 0)]

    asyncio.run(scenario())


def test_each_state_is_written_to_its_own_input_partition():
    async def scenario():
        proc, store, _sessions, _ = make()
        stream = Stream()
        await proc.handle_batch(stream, [record(0, [ev(0, ws="a")], partition=0),
                                         record(0, [ev(0, ws="b")], partition=1)],
                                more_buffered=False)
        # A state's chunk keys go with it.
        assert {(k.split(b"\x00")[0], p) for k, p, _ in store.writes} == {
            (logic.state_key("a", "s1"), 0), (logic.state_key("b", "s1"), 1)}

    asyncio.run(scenario())


def test_tick_closes_idle_sessions_of_its_partition_only_after_the_grace():
    async def scenario():
        settings = Settings().replace(sessionizer={"idle_gap_s": 10, "arrival_grace_s": 5})
        proc, store, sessions, _ = make(settings)
        now = [T0]
        proc.clock = lambda: now[0]
        stream = Stream()
        proc.sweep_not_before.clear()
        await proc.handle_batch(stream, [record(0, [ev(0)])], more_buffered=False)
        proc.index.put(b"other", partition=1, deadline=T0, is_open=True)
        tick = Event(Message(settings.topics.ticks, 0, 0, b'{"ts_ms": 0}'))
        now[0] = T0 + timedelta(seconds=5)
        await proc.handle_batch(stream, [tick], more_buffered=False)
        assert sessions.sent == []  # equal to the grace: not yet
        now[0] = T0 + timedelta(seconds=6)
        task = asyncio.ensure_future(proc.handle_batch(stream, [tick], more_buffered=False))
        await asyncio.sleep(0)
        assert store.written_keys() == [KEY1]  # the close waits for its delivery
        sessions.ack_all()
        await task
        [(_, value, _)] = sessions.sent
        assert decode_session(value).close_reason == "idle"
        assert logic.decode_state(store.data[KEY1]).is_closed
        assert b"other" in proc.index  # partition 1's key untouched by partition 0's tick

    asyncio.run(scenario())


def test_a_record_in_the_same_batch_as_a_tick_keeps_its_session_open():
    async def scenario():
        settings = Settings().replace(sessionizer={"idle_gap_s": 10, "arrival_grace_s": 5})
        proc, _, sessions, _ = make(settings)
        now = [T0]
        proc.clock = lambda: now[0]
        stream = Stream()
        proc.sweep_not_before.clear()
        await proc.handle_batch(stream, [record(0, [ev(0)])], more_buffered=False)
        now[0] = T0 + timedelta(seconds=600)
        tick = Event(Message(settings.topics.ticks, 0, 0, b'{"ts_ms": 0}'))
        late = ev(1)
        late = TurnEvent(**{**{f: getattr(late, f) for f in late.__struct_fields__},
                            "ts": now[0]})
        await proc.handle_batch(stream, [tick, record(1, [late])], more_buffered=False)
        assert sessions.sent == []

    asyncio.run(scenario())


def test_work_suspended_across_a_rebalance_is_abandoned_then_replayed_with_the_same_uid():
    async def scenario():
        proc, store, sessions, _ = make()
        stream = Stream()
        closing = [record(0, [ev(0), ev(1, EventKind.SESSION_END)])]
        task = asyncio.ensure_future(proc.handle_batch(stream, closing, more_buffered=False))
        await asyncio.sleep(0)
        proc.on_assigned()  # a rebalance while the close waits for its acknowledgement
        sessions.ack_all()
        await task
        assert store.writes == [] and stream.acked == []  # not written, not acked
        sessions.auto_ack = True
        await proc.handle_batch(stream, closing, more_buffered=False)  # delivered again
        assert sessions.uids() == [session_uid("ws", "s1", 0)] * 2
        assert stream.acked == [0] and len(store.head_writes()) == 1

    asyncio.run(scenario())


def test_a_rebalance_between_batches_abandons_the_unwritten_pipeline():
    async def scenario():
        epoch = [1]
        proc, _store, sessions, _ = make(epoch=lambda: epoch[0])
        stream = Stream()
        await proc.handle_batch(stream, [record(0, [ev(0), ev(1, EventKind.SESSION_END)])])
        epoch[0] = 2  # revocation started and finished; the overlay belongs to epoch 1
        sessions.ack_all()
        sessions.auto_ack = True
        await proc.handle_batch(stream, [record(0, [ev(0), ev(1, EventKind.SESSION_END)])],
                                more_buffered=False)
        # Replayed from the store, not the abandoned overlay: emitted again, same uid.
        assert sessions.uids() == [session_uid("ws", "s1", 0)] * 2
        assert stream.acked == [0]

    asyncio.run(scenario())


def test_records_of_an_older_assignment_and_batches_during_a_rebalance_are_left_unacked():
    async def scenario():
        epoch: list[int | None] = [1]
        proc, store, sessions, _ = make(
            epoch=lambda: epoch[0], is_current=lambda e: e.message.generation_id == 2)
        sessions.auto_ack = True
        stream = Stream()
        await proc.handle_batch(stream, [record(0, [ev(0)], generation_id=1),
                                         record(1, [ev(0, sid="s2")], generation_id=2)],
                                more_buffered=False)
        assert stream.acked == [1] and store.written_keys() == [logic.state_key("ws", "s2")]
        epoch[0] = None  # flow suspended: the whole batch is delivered again later
        await proc.handle_batch(stream, [record(2, [ev(1, sid="s2")], generation_id=2)],
                                more_buffered=False)
        assert stream.acked == [1] and len(store.head_writes()) == 1

    asyncio.run(scenario())


def _random_records(rng: random.Random) -> list[Event]:
    """Records over 6 sessions on 2 partitions: closes, re-opens, duplicates, trailing ends."""
    records, offsets = [], {0: 0, 1: 0}
    seqs = {}
    for _ in range(120):
        sid = f"s{rng.randrange(6)}"
        ws = "a" if sid in ("s0", "s1", "s2") else "b"
        partition = 0 if ws == "a" else 1
        seq = seqs.get(sid, 0)
        n = rng.randint(1, 4)
        kinds = [EventKind.RESPONSE] * n
        roll = rng.random()
        if roll < 0.25:
            kinds[-1] = EventKind.SESSION_END
        elif roll < 0.3:
            kinds[-1] = EventKind.STOP
        events = [ev(seq + i, kinds[i], sid=sid, ws=ws) for i in range(n)]
        seqs[sid] = seq + n
        if rng.random() < 0.15 and records:  # a replayed earlier record
            prior = rng.choice(records)
            records.append(Event(Message(TURNS, prior.message.partition,
                                         offsets[prior.message.partition],
                                         prior.message.value, prior.message.key)))
            offsets[prior.message.partition] += 1
        records.append(Event(Message(TURNS, partition, offsets[partition], encode_batch(events),
                                     turn_key(ws))))
        offsets[partition] += 1
    return records


def test_batching_changes_nothing_but_the_number_of_reads_and_writes():
    """Property: any split of the input into batches emits the same sessions (uids, counts,
    kept events; a batch groups records by key, so only the order *across* keys may
    change) and leaves the same final states as one record per batch."""

    async def run(records: list[Event], sizes: list[int]) -> tuple[list, dict]:
        proc, store, sessions, dead = make()
        stream = Stream()
        i = calls = 0
        while i < len(records):
            n = sizes[calls % len(sizes)]
            calls += 1
            # Acknowledge the sends of earlier batches only: the pipeline and the overlay
            # are in play whenever a batch closes a session.
            sessions.ack_all()
            await proc.handle_batch(stream, records[i:i + n])
            i += n
        sessions.auto_ack = True
        sessions.ack_all()
        await proc.handle_batch(stream, [], more_buffered=False)
        assert sorted(stream.acked) == sorted(r.message.offset for r in records)
        assert dead.sent == []
        emitted = sorted((s.session_uid, s.event_count, [e.event_id for e in s.events])
                         for s in (decode_session(v) for _, v, _ in sessions.sent))
        # The states as read back (how they are split into chunk keys depends on when
        # they were written).
        states = {k: logic.encode_state(msgspec.structs.replace(
                      logic.join_state(k, raw, store.data.get), chunk_base=0, chunk_keys=0,
                      stored_chunks=0))
                  for k, raw in store.data.items() if not logic.is_chunk_key(k)}
        return emitted, states

    for seed in range(5):
        records = _random_records(random.Random(seed))
        one_by_one = asyncio.run(run(records, [1]))
        assert one_by_one[0], "the scenario closes sessions"
        for sizes in ([7], [50], [1000], [3, 1, 20]):
            assert asyncio.run(run(records, sizes)) == one_by_one, (seed, sizes)


def test_chunk_keys_left_by_a_lost_head_write_are_deleted_at_the_close():
    """A crash between a chunk key's write and its head's leaves a chunk key past the
    head's count; the close deletes it with the others."""

    async def scenario():
        proc, store, sessions, _ = make()
        sessions.auto_ack = True
        stream = Stream()
        await proc.handle_batch(stream, [record(0, [ev(0)])], more_buffered=False)
        assert logic.decode_state(store.data[KEY1]).chunk_keys == 1
        store.data[logic.chunk_key(KEY1, 1)] = store.data[logic.chunk_key(KEY1, 0)]
        store.data[logic.chunk_key(KEY1, 2)] = store.data[logic.chunk_key(KEY1, 0)]
        proc.on_assigned()  # the restart: orphan chunk keys are not states
        await proc.handle_batch(stream, [record(1, [ev(1, EventKind.SESSION_END)])],
                                more_buffered=False)
        assert list(store.data) == [KEY1]  # the closed marker, hashes in its head
        assert [decode_session(v).event_count for _, v, _ in sessions.sent] == [2]

    asyncio.run(scenario())


def test_a_crash_after_any_prefix_of_a_checkpoints_writes_neither_loses_nor_doubles():
    """The changelog partition keeps its writes in order and a crash keeps a prefix of
    them. Property: recovered from any prefix of one checkpoint's writes and replayed from
    the last acked record, every session comes out exactly as without the crash (uid,
    count, events); a head must never land before the chunk keys it names."""

    def emitted(sessions: Topic) -> list[tuple[str, int, list[str]]]:
        return [(s.session_uid, s.event_count, [e.event_id for e in s.events])
                for s in (decode_session(v) for _, v, _ in sessions.sent)]

    async def run_through(proc, stream, sessions, records, size, *, idle_at_end=True):
        for i in range(0, len(records), size):
            await proc.handle_batch(stream, records[i:i + size])
        if idle_at_end:
            await proc.handle_batch(stream, [], more_buffered=False)

    async def scenario(records: list[Event], cut: int, prefix: int | None):
        proc, store, sessions, _ = make()
        sessions.auto_ack = True
        stream = Stream()
        await run_through(proc, stream, sessions, records[:cut], 4)  # checkpointed, acked
        before, acked = dict(store.data), len(stream.acked)
        assert acked == cut
        first = len(store.writes)
        # Several batches under a backlog (one checkpoint), then the input goes idle.
        await run_through(proc, stream, sessions, records[cut:2 * cut], 3)
        checkpoint = store.writes[first:]
        if prefix is None:
            await run_through(proc, stream, sessions, records[2 * cut:], 4)
            return emitted(sessions), len(checkpoint)
        data = dict(before)
        for key, _, raw in checkpoint[:prefix]:
            if raw is None:
                data.pop(key, None)
            else:
                data[key] = raw
        crashed = emitted(sessions)  # delivered before any state write
        proc, store, sessions, _ = make()
        store.data = data
        proc.on_assigned()
        sessions.auto_ack = True
        await run_through(proc, Stream(), sessions, records[cut:], 5)
        return crashed + emitted(sessions), len(checkpoint)

    for seed in range(4):
        records = _random_records(random.Random(100 + seed))
        reference, n_writes = asyncio.run(scenario(records, 40, None))
        assert n_writes > 10, "the checkpoint writes several keys"
        truth = {uid: (count, ids) for uid, count, ids in reference}
        assert len(truth) == len(reference), "no session is emitted twice without a crash"
        for prefix in range(n_writes + 1):
            got, _ = asyncio.run(scenario(records, 40, prefix))
            wrong = [(uid, count, truth.get(uid, (None,))[0]) for uid, count, ids in got
                     if truth.get(uid) != (count, ids)]
            assert not wrong, (seed, prefix, n_writes, wrong)
            assert {uid for uid, _, _ in got} == set(truth), (seed, prefix)


def test_closed_sessions_and_candidates_are_counted_exactly_when_counted_per_batch():
    from prometheus_client import REGISTRY

    def sample(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    closed = "hivemind_sessionizer_sessions_closed_total"
    candidates = "hivemind_sessionizer_candidates_total"

    async def scenario():
        proc, _, sessions, _ = make()
        sessions.auto_ack = True
        proc.candidates.auto_ack = True
        before = (sample(closed, reason="session_end"), sample(closed, reason="clear"),
                  sample(candidates, reason="tool_recovery"))
        failing = [TurnEvent(event_id=f"f-{i}", workspace_id="ws", session_id="s9",
                             agent_id="a", agent_kind=AgentKind.CODING, project="p", seq=i,
                             ts=T0 - timedelta(seconds=50 - i), kind=kind, tool_name="Bash",
                             tool_use_id=f"t{i // 2}", is_error=error)
                   for i, (kind, error) in enumerate([
                       (EventKind.TOOL_CALL, None), (EventKind.TOOL_RESULT, True),
                       (EventKind.TOOL_CALL, None), (EventKind.TOOL_RESULT, False)])]
        failing.append(ev(4, EventKind.SESSION_END, sid="s9"))
        batch = [record(i, [ev(0, sid=f"s{i}"), ev(1, EventKind.SESSION_END, sid=f"s{i}")])
                 for i in range(3)]
        clear = TurnEvent(event_id="ws-s5-1", workspace_id="ws", session_id="s5", agent_id="a",
                          agent_kind=AgentKind.CODING, project="p", seq=1,
                          ts=T0 - timedelta(seconds=59), kind=EventKind.SESSION_START,
                          reason="clear")
        batch.append(record(3, [ev(0, sid="s5"), clear]))
        batch.append(record(4, failing))
        await proc.handle_batch(Stream(), batch, more_buffered=False)
        after = (sample(closed, reason="session_end"), sample(closed, reason="clear"),
                 sample(candidates, reason="tool_recovery"))
        sent = [decode_session(v) for _, v, _ in sessions.sent]
        assert sorted(s.close_reason.value for s in sent) == ["clear"] + ["session_end"] * 4
        assert (after[0] - before[0], after[1] - before[1]) == (4, 1)
        assert after[2] - before[2] == len(proc.candidates.sent) == 1

    asyncio.run(scenario())
