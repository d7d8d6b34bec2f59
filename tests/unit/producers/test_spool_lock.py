"""The spool lock never makes an appender (the capture hook) or the reader wait beyond a
small budget: a busy lock sends the record to a side file, adopted later in order with
its seq. Nothing is lost, per-session seq stays gapless in file order."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hivemind_kafka.producers.hook.spool import LOCK_BUDGET_S, Spool

ROOT = Path(__file__).resolve().parents[3]


class FakeTime:
    """A clock that only moves when the spool sleeps: waits are counted, not timed."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class HeldLock:
    """Another open file description holding ``spool/.lock`` (flock conflicts between
    descriptions, also inside one process)."""

    def __init__(self, root: Path, mode: int = fcntl.LOCK_EX) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(root / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self.fd, mode)

    def release(self) -> None:
        os.close(self.fd)


def _records(spool: Spool) -> list[dict]:
    return [r.data for r in spool.read(max_records=10**9, max_bytes=10**12).records]


def test_held_lock_costs_no_record_and_no_wait_beyond_the_budget(tmp_path):
    root = tmp_path / "spool"
    fake = FakeTime()
    spool = Spool(root, clock=fake.clock, sleep=fake.sleep)
    held = HeldLock(root)
    try:
        assert spool.append({"n": 0}, seq_key="s") is None  # deferred, not waited for
    finally:
        held.release()
    assert sum(fake.slept) <= LOCK_BUDGET_S
    assert spool.lock_waited_s <= LOCK_BUDGET_S
    assert len(fake.slept) >= 2  # it did retry inside the budget
    assert spool.stats().records == 1 and spool.stats().deferred == 1
    assert spool.adopt_deferred() == 1
    assert _records(spool) == [{"n": 0, "seq": 0}]
    assert spool.stats().deferred == 0


def test_side_files_are_adopted_before_the_next_append_keeping_order_and_seq(tmp_path):
    root = tmp_path / "spool"
    spool = Spool(root, lock_budget_s=0.0)
    assert spool.append({"n": 0}, seq_key="s") == 0
    held = HeldLock(root)
    try:
        assert [spool.append({"n": i}, seq_key="s") for i in (1, 2, 3)] == [None] * 3
    finally:
        held.release()
    assert spool.append({"n": 4}, seq_key="s") == 4  # adopted 1..3 first, under the lock
    got = _records(spool)
    assert [r["n"] for r in got] == [0, 1, 2, 3, 4]
    assert [r["seq"] for r in got] == [0, 1, 2, 3, 4]
    assert not list((root / "deferred").glob("*.rec"))


def test_appender_queues_behind_more_side_files_than_it_adopts(tmp_path):
    root = tmp_path / "spool"
    spool = Spool(root, lock_budget_s=0.0)
    held = HeldLock(root)
    try:
        for i in range(40):
            assert spool.append({"n": i}, seq_key="s") is None
    finally:
        held.release()
    assert spool.append({"n": 40}, seq_key="s") is None  # 16 adopted, then it queues
    assert len(list((root / "deferred").glob("*.rec"))) == 40 - 16 + 1
    assert spool.adopt_deferred() == 25
    got = _records(spool)
    assert [r["n"] for r in got] == list(range(41))
    assert [r["seq"] for r in got] == list(range(41))


def test_side_file_keeps_its_original_spool_time(tmp_path):
    root = tmp_path / "spool"
    spool = Spool(root, lock_budget_s=0.0)
    held = HeldLock(root)
    try:
        spool.append({"n": 0})
    finally:
        held.release()
    name = next((root / "deferred").glob("*.rec")).name
    spooled_ms = json.loads((root / "deferred" / name).read_bytes().split(b"\n")[0])["spooled_ms"]
    assert spool.stats(now_ms=spooled_ms + 4000).oldest_age_s == pytest.approx(4.0, abs=0.01)
    spool.adopt_deferred()
    (rec,) = spool.read().records
    assert rec.spooled_ms == spooled_ms and rec.seq is None


def test_adopt_waits_for_the_lock_at_most_its_budget_and_keeps_the_files(tmp_path):
    root = tmp_path / "spool"
    fake = FakeTime()
    spool = Spool(root, lock_budget_s=0.0, clock=fake.clock, sleep=fake.sleep)
    held = HeldLock(root)
    try:
        spool.append({"n": 0}, seq_key="s")
        assert spool.adopt_deferred(budget_s=0.02) == 0
        assert sum(fake.slept) <= 0.02
    finally:
        held.release()
    assert spool.adopt_deferred() == 1


def test_reader_does_not_wait_and_leaves_a_line_being_written_for_later(tmp_path):
    root = tmp_path / "spool"
    spool = Spool(root)
    spool.append({"n": 0})
    seg = root / "seg-000000000001.jsonl"
    held = HeldLock(root)  # an appender is "mid-write"
    try:
        with open(seg, "ab") as f:
            f.write(b'{"spooled_ms":1,"record":{"n":')
        fake = FakeTime()
        reader = Spool(root, clock=fake.clock, sleep=fake.sleep)
        batch = reader.read()
        assert [r.data["n"] for r in batch.records] == [0]
        assert batch.corrupt == []  # not judged torn while someone may still write it
        assert sum(fake.slept) <= 0.05 + 1e-9
        with open(seg, "ab") as f:
            f.write(b'1}}\n')
    finally:
        held.release()
    assert [r.data["n"] for r in spool.read(after=batch.cursor).records] == [1]


@pytest.mark.parametrize("content", [
    b"", b"garbage", b'{"spooled_ms":1,"seq_key":"s"}\n', b'{"spooled_ms":1,"seq_key":"s"}\n[1]\n',
    b'{"spooled_ms":1,"seq_key":"s"}\n{"n":1}\n{"n":2}\n',
    b'{"spooled_ms":"x","seq_key":"s"}\n{"n":1}\n', b'{"spooled_ms":1,"seq_key":5}\n{"n":1}\n',
    b'{"spooled_ms":1,"seq_key":"s"}\n{"n":"\xc3\xa9"}\n', b"\xff\xfe\n\x00\n",
], ids=["empty", "garbage", "no-body", "array-body", "two-bodies", "bad-time", "bad-key",
        "non-ascii", "binary"])
def test_broken_side_file_is_quarantined_and_the_others_adopted(tmp_path, content):
    root = tmp_path / "spool"
    spool = Spool(root, lock_budget_s=0.0)
    held = HeldLock(root)
    try:
        spool.append({"n": 0}, seq_key="s")
        (root / "deferred" / "00000000000000000001-1-bad.rec").write_bytes(content)
        spool.append({"n": 2}, seq_key="s")
    finally:
        held.release()
    assert spool.adopt_deferred() == 2
    got = _records(spool)
    assert [(r["n"], r["seq"]) for r in got] == [(0, 0), (2, 1)]
    assert [p.name for p in (root / "quarantine").iterdir()] == [
        "deferred-00000000000000000001-1-bad.rec.bad"]


def test_symlink_or_fifo_planted_as_side_file_is_never_followed_or_waited_on(tmp_path):
    root = tmp_path / "spool"
    spool = Spool(root, lock_budget_s=0.0)
    secret = tmp_path / "secret"
    secret.write_text('{"spooled_ms":1,"seq_key":"s"}\n{"stolen":1}\n')
    held = HeldLock(root)
    try:
        spool.append({"n": 0}, seq_key="s")
        (root / "deferred" / "00000000000000000001-1-link.rec").symlink_to(secret)
        os.mkfifo(root / "deferred" / "00000000000000000002-1-fifo.rec")
    finally:
        held.release()
    assert spool.adopt_deferred() == 1
    assert _records(spool) == [{"n": 0, "seq": 0}]
    assert secret.exists()
    assert len(list((root / "quarantine").iterdir())) == 2


def test_spool_files_are_private_whatever_the_umask(tmp_path):
    old = os.umask(0)
    try:
        root = tmp_path / "home" / "spool"
        spool = Spool(root, lock_budget_s=0.0)
        spool.append({"n": 0}, seq_key="s")
        held = HeldLock(root)
        try:
            spool.append({"n": 1}, seq_key="s")
        finally:
            held.release()
        spool.adopt_deferred()
        with open(root / "seg-000000000001.jsonl", "ab") as f:
            f.write(b"junk\n")
        spool.ack(spool.read().cursor)
    finally:
        os.umask(old)
    modes = {p.relative_to(tmp_path).as_posix(): p.stat().st_mode & 0o777
             for p in [tmp_path / "home", *sorted((tmp_path / "home").rglob("*"))]}
    assert modes  # home, spool, seq, deferred, quarantine and their files
    wrong = {k: oct(m) for k, m in modes.items()
             if m != (0o700 if (tmp_path / k).is_dir() else 0o600)}
    assert wrong == {}


_WRITER = textwrap.dedent("""
    import sys
    from hivemind_kafka.producers.hook.spool import Spool
    root, wid, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    spool = Spool(root, segment_bytes=64 * 1024)
    deferred = 0
    for i in range(n):
        seq = spool.append({"w": wid, "i": i, "pad": "y" * ((i * 37 + wid) % 700)},
                           seq_key=f"session-{wid % 3}")
        deferred += seq is None
    print(deferred)
""")

_HOLDER = textwrap.dedent("""
    import fcntl, os, sys, time
    fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
    while not os.path.exists(sys.argv[2]):
        fcntl.flock(fd, fcntl.LOCK_EX)
        time.sleep(0.02)
        fcntl.flock(fd, fcntl.LOCK_UN)
        time.sleep(0.005)
""")


def test_appenders_racing_a_process_that_holds_the_lock_lose_nothing_and_keep_order(tmp_path):
    root = tmp_path / "spool"
    root.mkdir()
    done = tmp_path / "done"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(root / ".lock"), str(done)])
    writers, per = 6, 300
    try:
        procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(root), str(w), str(per)],
                                  env=env, stdout=subprocess.PIPE) for w in range(writers)]
        outs = [p.communicate(timeout=300) for p in procs]
        assert [p.returncode for p in procs] == [0] * writers
    finally:
        done.touch()
        holder.wait(timeout=60)
    deferred = sum(int(out) for out, _ in outs)
    assert deferred > 0  # the holder did force side files
    spool = Spool(root)
    spool.adopt_deferred()
    batch = spool.read(max_records=10**9, max_bytes=10**12)
    assert batch.corrupt == []
    assert len(batch.records) == writers * per
    by_writer: dict[int, list[int]] = {}
    by_session: dict[int, list[int]] = {}
    for rec in batch.records:
        d = rec.data
        assert d["pad"] == "y" * ((d["i"] * 37 + d["w"]) % 700)
        by_writer.setdefault(d["w"], []).append(d["i"])
        by_session.setdefault(d["w"] % 3, []).append(d["seq"])
    assert all(v == list(range(per)) for v in by_writer.values())
    for seqs in by_session.values():
        assert seqs == list(range(len(seqs)))


# ------------------------------------------------------------- the hook as Claude runs it

def _home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.json").write_text(json.dumps({
        "workspace_id": "ws-cfg", "agent_id": "cc-test", "agent_kind": "coding",
        "agentd_autostart": False}))
    return home


def _payload(i: int) -> bytes:
    return json.dumps({"session_id": "s-held", "cwd": "/work/app",
                       "hook_event_name": "PreToolUse", "tool_name": "Bash",
                       "tool_input": {"command": f"step {i}"},
                       "tool_use_id": f"toolu_{i}"}).encode()


def test_hook_process_under_a_held_spool_lock_exits_at_once_and_keeps_every_event(tmp_path):
    """Issue 12 item 5: with ``spool/.lock`` held by another process the hook used to
    wait until killed. Now each call returns (the 60 s timeout is a hang detector, not a
    speed check) and its event waits in a side file, adopted in call order."""
    from hivemind_kafka.producers.hook import capture

    home = _home(tmp_path)
    capture.write_redactor_cache(str(home))
    env = {**os.environ, "HIVEMIND_HOME": str(home), "PYTHONPATH": str(ROOT)}
    held = HeldLock(home / "spool")
    try:
        for i in range(5):
            done = subprocess.run([sys.executable, "-m", "hivemind_kafka.cli.main", "capture"],
                                  input=_payload(i), capture_output=True, env=env, timeout=60)
            assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")
        assert len(list((home / "spool" / "deferred").glob("*.rec"))) == 5
    finally:
        held.release()
    assert "record deferred to a side file" in (home / "logs" / "capture.log").read_text()
    spool = Spool(home / "spool")
    assert spool.adopt_deferred() == 5
    got = _records(spool)
    assert [json.loads(r["tool_input"])["command"] for r in got] == [f"step {i}"
                                                                      for i in range(5)]
    assert [r["seq"] for r in got] == [0, 1, 2, 3, 4]


def test_capture_returns_the_deferred_record_without_a_seq(tmp_path):
    from hivemind_kafka.producers.hook import capture

    home = _home(tmp_path)
    held = HeldLock(home / "spool")
    try:
        rec = capture.capture(_payload(0), home=str(home), environ={})
    finally:
        held.release()
    assert rec is not None and rec["seq"] is None
    assert capture.capture(_payload(1), home=str(home), environ={})["seq"] == 1
    assert [r["seq"] for r in _records(Spool(home / "spool"))] == [0, 1]


def test_deferred_events_get_their_turn_when_adopted_in_hook_order(tmp_path):
    """A side file carries its turn step: the prompt deferred while the lock was held still
    begins the next turn, and the events after it stay in that turn."""
    root = tmp_path / "spool"
    spool = Spool(root, lock_budget_s=0.0)
    assert spool.append_event({"n": 0}, seq_key="s", turn_step="next") == (0, 1)
    held = HeldLock(root)
    try:
        assert spool.append_event({"n": 1}, seq_key="s", turn_step="keep") is None
        assert spool.append_event({"n": 2}, seq_key="s", turn_step="next") is None
    finally:
        held.release()
    assert spool.append_event({"n": 3}, seq_key="s", turn_step="keep") == (3, 2)
    assert _records(spool) == [{"n": 0, "seq": 0, "turn": 1}, {"n": 1, "seq": 1, "turn": 1},
                               {"n": 2, "seq": 2, "turn": 2}, {"n": 3, "seq": 3, "turn": 2}]
