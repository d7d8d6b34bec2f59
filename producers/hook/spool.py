"""The edge spool: durable, append-only, multi-process-safe storage of hook records.

Layout under ``<home>/spool/``::

    seg-000000000001.jsonl   segments, one JSON envelope per line (see below)
    .lock                    fcntl.flock: appenders hold it exclusively per append,
                             the reader holds it shared while it snapshots sizes
    cursor                   the acknowledged read position "<segment> <offset>"
    seq/<key>                per-session counters: "<seq> <turn>" (20-digit decimals;
                             files of the previous version hold the seq only)
    deferred/<ns>-<pid>-<rand>.rec
                             records an appender could not spool within its lock budget
                             (line 1: {"spooled_ms","seq_key","turn_step"}, line 2: the record)
    quarantine/              copies of corrupt lines, one file per position

Line format (ASCII, no raw newline inside)::

    {"spooled_ms":1732600000123,"seq":7,"turn":2,"record":{...}}\n

Guarantees
- **No torn or interleaved records between processes.** Every append takes the spool
  lock, writes one whole line with one ``os.write`` on an ``O_APPEND`` descriptor and
  releases the lock, so concurrent sessions and subagents never mix bytes.
- **An appender never waits.** The lock is taken with ``LOCK_NB`` and a few short
  retries inside ``lock_budget_s`` (5 ms). When another process still holds it (a
  stopped hook, a backup tool, anything), the record goes to a *side file* in
  ``deferred/``: a unique name that sorts by time, written to a temp name and renamed, so
  it appears whole or not at all (fsync as for appends). Nothing is lost and nobody
  waits: ``append`` returns ``None`` for such a record instead of its seq.
- **Side files keep order and seq.** A side file has no seq yet. Whoever next holds the
  lock *adopts* the side files, oldest first, before appending anything of its own: each
  becomes an ordinary spool line (its original ``spooled_ms``, the next seq of its key)
  and the side file is removed. An appender adopts at most ``_ADOPT_IN_APPEND``; if more
  wait, its own record becomes a side file behind them. So per-session seq stays
  gapless and increasing in file order, and a session's records keep the order of its
  (sequential) hook calls. The forwarder adopts on every read (:meth:`Spool.adopt_deferred`).
  A crash between writing an adopted line and removing its side file re-adopts it: an
  at-least-once duplicate (same ``event_id``, which downstream deduplicates).
- **Sequence numbers are atomic with the append.** ``append(record, seq_key=s)`` reads,
  increments and stores the counter of ``s`` and appends the line under the same lock:
  seq starts at 0 and increases by one per record of ``s``, in file order.
  ``append_event(record, seq_key=s, turn_step=...)`` does the same and also assigns the
  session's *turn* index with it: ``"next"`` (a user prompt) begins the next turn,
  ``"reset"`` (a ``/clear``) starts again at 0, ``"keep"`` stays in the current turn;
  so turns follow the file order exactly as seqs do (a side file carries its step and
  gets its turn when adopted). A counter written by the previous version (seq only)
  continues its seq with turn 0.
- **Crash-tolerant.** A line cut by a crash (no trailing newline while nobody holds the
  lock) is reported as corrupt and skipped, never blocks the reader; the next appender
  starts its line on a fresh newline so it is not glued to the torn bytes. Lines that
  are not a valid envelope are copied to ``quarantine/`` and skipped.
- **Durability (fsync policy).** Appends do not fsync by default: a record survives any
  crash of the writing process (it is in the page cache once ``append`` returns) but
  the last records may be lost if the *machine* loses power. ``Spool(..., fsync=True)``
  fsyncs each append (~ms on most disks). The cursor file is always written atomically
  (temp file, fsync, rename), so acknowledged progress is never lost or torn.
- **The reader does not wait either.** It snapshots sizes under a shared lock taken with
  a bounded wait; if it cannot get it, it reads complete lines only and leaves an
  unterminated tail for later instead of judging it torn.
- **Single consumer.** One reader (the forwarder, serialised by ``<home>/agentd.lock``)
  reads in order and acknowledges with :meth:`Spool.ack` only after the broker confirmed
  delivery; unacknowledged records are read again after a restart (at-least-once:
  downstream dedups on ``event_id``).
- **Bounded disk.** The active segment is rotated once it reaches ``segment_bytes``;
  segments wholly before the acknowledged cursor are deleted by :meth:`Spool.ack`.

API for the forwarder::

    spool = Spool(spool_dir(home))
    spool.adopt_deferred()                         # side files -> spool lines (seq assigned)
    batch = spool.read(max_records=500)            # from the acknowledged cursor
    for rec in batch.records: rec.data             # the record dict, "seq" filled in
    batch.corrupt                                  # skipped lines (already quarantined)
    nxt = spool.read(after=batch.cursor)           # read ahead before acking (optional)
    spool.ack(batch.cursor)                        # after the broker acked every record
    spool.stats()                                  # SpoolStats(records, bytes, oldest_age_s, ...)

Imports only the C-level standard library (the hook path is latency-critical).
"""

from __future__ import annotations

import fcntl
import os
import time

from hivemind_kafka.producers import private
from hivemind_kafka.producers.hook import jsonlite

SEGMENT_BYTES = 8 * 1024 * 1024
_SEG_PREFIX = "seg-"
_SEG_SUFFIX = ".jsonl"
_CHUNK = 256 * 1024
_TURN_STEPS = frozenset({"next", "reset", "keep"})
_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
LOCK_BUDGET_S = 0.005  # the longest an appender waits for the spool lock
READ_LOCK_BUDGET_S = 0.05
_ADOPT_IN_APPEND = 16  # side files an appender adopts before its own record
_DEFERRED_SUFFIX = ".rec"
_MAX_DEFERRED_BYTES = 64 * 1024 * 1024


def spool_dir(home: str | os.PathLike[str]) -> str:
    """The spool directory of a Hivemind home."""
    return os.path.join(os.fspath(home), "spool")


class Cursor:
    """A read position: byte ``offset`` inside segment number ``segment``.

    Ordered; the cursor a read returns points just past the last line it consumed.
    """

    __slots__ = ("offset", "segment")

    def __init__(self, segment: int, offset: int) -> None:
        self.segment = segment
        self.offset = offset

    def _key(self) -> tuple[int, int]:
        return (self.segment, self.offset)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Cursor) and self._key() == other._key()

    def __lt__(self, other: Cursor) -> bool:
        return self._key() < other._key()

    def __le__(self, other: Cursor) -> bool:
        return self._key() <= other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"Cursor({self.segment}, {self.offset})"


class SpoolRecord:
    """One record read back: ``data`` is the appended dict (with ``seq`` when one was
    assigned), ``position``/``end`` delimit its line, ``spooled_ms`` is its append time."""

    __slots__ = ("data", "end", "position", "seq", "spooled_ms")

    def __init__(self, data: dict, position: Cursor, end: Cursor, spooled_ms: int,
                 seq: int | None) -> None:
        self.data = data
        self.position = position
        self.end = end
        self.spooled_ms = spooled_ms
        self.seq = seq

    def __repr__(self) -> str:
        return f"SpoolRecord(position={self.position!r}, seq={self.seq})"


class CorruptLine:
    """A line that is not a complete envelope (torn by a crash or damaged); skipped."""

    __slots__ = ("position", "raw", "reason")

    def __init__(self, position: Cursor, raw: bytes, reason: str) -> None:
        self.position = position
        self.raw = raw
        self.reason = reason

    def __repr__(self) -> str:
        return f"CorruptLine(position={self.position!r}, reason={self.reason!r})"


class ReadBatch:
    """Records in spool order, corrupt lines skipped, and the cursor to acknowledge."""

    __slots__ = ("corrupt", "cursor", "records")

    def __init__(self, records: list[SpoolRecord], corrupt: list[CorruptLine],
                 cursor: Cursor) -> None:
        self.records = records
        self.corrupt = corrupt
        self.cursor = cursor

    def __len__(self) -> int:
        return len(self.records)


class SpoolStats:
    """Backlog not yet acknowledged: ``records`` (spooled lines plus ``deferred`` side
    files not yet adopted), ``bytes``, ``oldest_age_s`` (0.0 when empty), plus
    ``segments`` on disk and ``quarantined`` corrupt lines."""

    __slots__ = ("bytes", "deferred", "oldest_age_s", "quarantined", "records", "segments")

    def __init__(self, records: int, bytes: int, oldest_age_s: float, segments: int,
                 quarantined: int, deferred: int = 0) -> None:
        self.records = records
        self.bytes = bytes
        self.oldest_age_s = oldest_age_s
        self.segments = segments
        self.quarantined = quarantined
        self.deferred = deferred

    def as_dict(self) -> dict[str, float]:
        return {"records": self.records, "bytes": self.bytes,
                "oldest_age_s": self.oldest_age_s, "segments": self.segments,
                "quarantined": self.quarantined, "deferred": self.deferred}

    def __repr__(self) -> str:
        return f"SpoolStats({self.as_dict()})"


class Spool:
    """Append (any number of processes) and read/ack (one consumer) hook records.

    ``append`` raises :class:`OSError` when the disk refuses the write (full, read-only);
    nothing partial is left except a torn tail that readers skip. ``read`` and ``stats``
    never raise on bad content, only on I/O errors.
    """

    def __init__(self, root: str | os.PathLike[str], *, segment_bytes: int = SEGMENT_BYTES,
                 fsync: bool = False, lock_budget_s: float = LOCK_BUDGET_S,
                 clock=time.monotonic, sleep=time.sleep) -> None:
        self.root = os.fspath(root)
        self.segment_bytes = segment_bytes
        self.fsync = fsync
        self.lock_budget_s = lock_budget_s
        self._clock = clock
        self._sleep = sleep
        self._lock_path = os.path.join(self.root, ".lock")
        self._cursor_path = os.path.join(self.root, "cursor")
        self._seq_dir = os.path.join(self.root, "seq")
        self._deferred_dir = os.path.join(self.root, "deferred")
        self._quarantine_dir = os.path.join(self.root, "quarantine")
        self.lock_waited_s = 0.0  # time this object spent waiting for the lock (appends)

    # ------------------------------------------------------------------ append side

    def append(self, record: dict, *, seq_key: str | None = None) -> int | None:
        """Append one record; with ``seq_key``, assign and return its sequence number.

        Returns ``None`` without a ``seq_key``, and also when the lock was not free
        within ``lock_budget_s``: the record then went to a side file and gets its seq
        when it is adopted (see the module docstring). The record is serialised before
        the lock is taken; the lock covers the counter update and the single write.
        Raises TypeError/ValueError for a record JSON cannot encode (nothing is written)
        and OSError for I/O failures.
        """
        assigned = self._append(record, seq_key, None)
        return None if assigned is None else assigned[0]

    def append_event(self, record: dict, *, seq_key: str,
                     turn_step: str) -> tuple[int, int] | None:
        """Append one record and assign ``(seq, turn)`` of session ``seq_key`` with it;
        ``turn_step`` is ``"next"``, ``"reset"`` or ``"keep"`` (see the module docstring).
        ``None`` when the record went to a side file (both are assigned on adoption).
        Raises ValueError for another step, else as :meth:`append`."""
        if turn_step not in _TURN_STEPS:
            raise ValueError(f"turn_step={turn_step!r}: expected next, reset or keep")
        assigned = self._append(record, seq_key, turn_step)
        if assigned is None:
            return None
        seq, turn = assigned
        assert seq is not None and turn is not None
        return seq, turn

    def _append(self, record: dict, seq_key: str | None, turn_step: str | None
                ) -> tuple[int | None, int | None] | None:
        """Write one line (or a side file: None); ``turn_step`` None writes no turn."""
        body = jsonlite.dumps(record)
        now_ms = int(time.time() * 1000)
        lock_fd = self._open_lock()
        try:
            if not self._lock(lock_fd, fcntl.LOCK_EX, self.lock_budget_s):
                self._defer(body, seq_key, turn_step, now_ms)
                return None
            if not self._adopt_locked(_ADOPT_IN_APPEND)[1]:
                # Queue behind the older side files.
                self._defer(body, seq_key, turn_step, now_ms)
                return None
            return self._append_locked(record, body, seq_key, turn_step, now_ms)
        finally:
            os.close(lock_fd)  # releases the flock

    def adopt_deferred(self, *, limit: int = 10_000, budget_s: float = READ_LOCK_BUDGET_S
                       ) -> int:
        """Turn up to ``limit`` side files into spool lines, oldest first (seq assigned
        now). Waits at most ``budget_s`` for the lock; returns how many were adopted
        (0 when there were none or the lock stayed busy: they wait for the next call)."""
        if not self._deferred_names():
            return 0
        lock_fd = self._open_lock()
        try:
            if not self._lock(lock_fd, fcntl.LOCK_EX, budget_s):
                return 0
            return self._adopt_locked(limit)[0]
        finally:
            os.close(lock_fd)

    def _append_locked(self, record: dict, body: str, seq_key: str | None,
                       turn_step: str | None, spooled_ms: int
                       ) -> tuple[int | None, int | None]:
        """Under the lock: assign the seq (and turn) and write the line. The only append
        path, for direct appends and adopted side files alike (``record`` is ``body``
        decoded), so seqs and turns are numbered the same way whichever way came in."""
        if seq_key is None:
            seq = turn = None
            line = f'{{"spooled_ms":{spooled_ms},"record":{body}}}\n'
        else:
            seq, turn = self._next_seq(seq_key, turn_step or "keep")
            if turn_step is None:
                turn = None
                line = f'{{"spooled_ms":{spooled_ms},"seq":{seq},"record":{body}}}\n'
            else:
                line = (f'{{"spooled_ms":{spooled_ms},"seq":{seq},"turn":{turn},'
                        f'"record":{body}}}\n')
        self._write_line(line.encode("ascii"))
        return seq, turn

    def _lock(self, fd: int, mode: int, budget_s: float) -> bool:
        """``flock(mode | LOCK_NB)`` retried with short pauses for at most ``budget_s``."""
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            pass
        start = self._clock()
        deadline = start + budget_s
        pause = 0.0002
        try:
            while True:
                remaining = deadline - self._clock()
                if remaining <= 0:
                    return False
                self._sleep(min(pause, remaining))
                pause = min(pause * 2, 0.001)
                try:
                    fcntl.flock(fd, mode | fcntl.LOCK_NB)
                    return True
                except BlockingIOError:
                    continue
        finally:
            self.lock_waited_s += self._clock() - start

    def _defer(self, body: str, seq_key: str | None, turn_step: str | None,
               spooled_ms: int) -> None:
        """Write the record as a side file: temp name, then rename (whole or absent)."""
        head = jsonlite.dumps({"spooled_ms": spooled_ms, "seq_key": seq_key,
                               "turn_step": turn_step})
        data = f"{head}\n{body}\n".encode("ascii")
        name = f"{time.time_ns():020d}-{os.getpid()}-{os.urandom(4).hex()}"
        tmp = os.path.join(self._deferred_dir, f".{name}.tmp")
        fd = private.open_file(tmp, os.O_WRONLY | os.O_EXCL | os.O_NOFOLLOW)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            if self.fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, os.path.join(self._deferred_dir, name + _DEFERRED_SUFFIX))
        if self.fsync:
            dir_fd = os.open(self._deferred_dir, os.O_RDONLY | os.O_CLOEXEC)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

    def _deferred_names(self) -> list[str]:
        try:
            names = os.listdir(self._deferred_dir)
        except FileNotFoundError:
            return []
        return sorted(n for n in names if n.endswith(_DEFERRED_SUFFIX) and n[0] != ".")

    def _adopt_locked(self, limit: int) -> tuple[int, bool]:
        """Under the lock: adopt up to ``limit`` side files, oldest first. Returns
        (adopted, none left waiting). A side file that is not one (unparseable, a
        symlink, a FIFO) is moved to ``quarantine/``."""
        names = self._deferred_names()
        adopted = 0
        for name in names[:limit]:
            path = os.path.join(self._deferred_dir, name)
            try:
                raw = _read_regular(path)
            except FileNotFoundError:
                continue
            except OSError:  # a symlink, FIFO or directory planted here
                raw = None
            parsed = _parse_deferred(raw) if raw is not None else None
            if parsed is None:
                self._quarantine_deferred(name)
                continue
            spooled_ms, seq_key, turn_step, record, body = parsed
            self._append_locked(record, body, seq_key, turn_step, spooled_ms)
            adopted += 1
            try:  # noqa: SIM105 - contextlib costs milliseconds on the hook path
                os.unlink(path)
            except FileNotFoundError:
                pass
        return adopted, len(names) <= limit

    def _quarantine_deferred(self, name: str) -> None:
        try:
            private.makedirs(self._quarantine_dir)
            os.replace(os.path.join(self._deferred_dir, name),
                       os.path.join(self._quarantine_dir, f"deferred-{name}.bad"))
        except FileNotFoundError:
            pass

    def _open_lock(self) -> int:
        return private.open_file(self._lock_path, os.O_RDWR)

    def _next_seq(self, key: str, turn_step: str) -> tuple[int, int]:
        path = os.path.join(self._seq_dir, _counter_name(key))
        fd = private.open_file(path, os.O_RDWR)
        try:
            raw = os.pread(fd, 64, 0).split()
            seq = int(raw[0]) + 1 if raw and raw[0].isdigit() else 0
            turn = int(raw[1]) if len(raw) > 1 and raw[1].isdigit() else 0
            if turn_step == "next":
                turn += 1
            elif turn_step == "reset":
                turn = 0
            # Fixed width: one small in-place write, never a shorter number left behind.
            os.pwrite(fd, b"%020d %020d" % (seq, turn), 0)
        finally:
            os.close(fd)
        return seq, turn

    def _write_line(self, data: bytes) -> None:
        """Write under the lock to the active segment, rotating it when full."""
        segments = self._segments()
        number = segments[-1] if segments else 1
        fd = os.open(self._segment_path(number),
                     os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            size = os.fstat(fd).st_size
            if size >= self.segment_bytes:
                os.close(fd)
                fd = -1
                number += 1
                fd = os.open(self._segment_path(number),
                             os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
                size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                data = b"\n" + data  # a crash tore the previous line: do not glue onto it
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            if self.fsync:
                os.fsync(fd)
        finally:
            if fd >= 0:
                os.close(fd)

    # -------------------------------------------------------------------- read side

    def committed(self) -> Cursor:
        """The acknowledged cursor (start of the spool when nothing was acknowledged)."""
        try:
            with open(self._cursor_path, "rb") as f:
                seg, off = f.read().split()
            return Cursor(int(seg), int(off))
        except (FileNotFoundError, ValueError):
            segments = self._segments()
            return Cursor(segments[0] if segments else 1, 0)

    def read(self, after: Cursor | None = None, *, max_records: int = 500,
             max_bytes: int = 4 * 1024 * 1024) -> ReadBatch:
        """Up to ``max_records`` records (and about ``max_bytes``) after ``after``
        (default: the acknowledged cursor), in append order.

        Corrupt lines are skipped, copied to ``quarantine/`` and listed in
        ``batch.corrupt``. ``batch.cursor`` is the position to pass to :meth:`ack` (or as
        ``after`` to read further); it moves past an exhausted segment once a newer one
        exists, so acknowledging it lets that segment be deleted.
        """
        pos = after if after is not None else self.committed()
        segments, active_size, locked = self._snapshot()
        records: list[SpoolRecord] = []
        corrupt: list[CorruptLine] = []
        used = 0
        for number in segments:
            if number < pos.segment:
                continue
            if number > pos.segment:
                pos = Cursor(number, 0)
            limit = active_size if number == segments[-1] else None
            for start, end, line, complete in self._lines(number, pos.offset, limit):
                if len(records) >= max_records or (records and used >= max_bytes):
                    return ReadBatch(records, corrupt, pos)
                if not complete and not locked and number == segments[-1]:
                    break  # maybe a line being written right now: read it next time
                pos = Cursor(number, end)
                if not line.strip():
                    continue
                rec = _parse(line, Cursor(number, start), pos) if complete else None
                if rec is None:
                    bad = CorruptLine(Cursor(number, start), line,
                                      "not a spool envelope" if complete else "torn tail")
                    self._quarantine(bad)
                    corrupt.append(bad)
                    continue
                records.append(rec)
                used += end - start
        return ReadBatch(records, corrupt, pos)

    def ack(self, cursor: Cursor) -> int:
        """Persist ``cursor`` as acknowledged and delete the segments wholly before it.

        Call only once every record before ``cursor`` is confirmed by the broker.
        Returns the number of segments deleted. A cursor behind the current one is
        ignored (acks are monotonic).
        """
        if cursor < self.committed():
            return 0
        private.write_atomic(self._cursor_path, b"%d %d\n" % (cursor.segment, cursor.offset))
        deleted = 0
        for number in self._segments():
            if number < cursor.segment:
                try:
                    os.unlink(self._segment_path(number))
                    deleted += 1
                except FileNotFoundError:
                    pass
        return deleted

    def stats(self, now_ms: int | None = None) -> SpoolStats:
        """The unacknowledged backlog: record count, bytes, age of the oldest record."""
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        pos = self.committed()
        segments, active_size, locked = self._snapshot()
        records = 0
        size = 0
        oldest: int | None = None
        for number in segments:
            if number < pos.segment:
                continue
            start = pos.offset if number == pos.segment else 0
            limit = active_size if number == segments[-1] else None
            for line_start, end, line, complete in self._lines(number, start, limit):
                if not line.strip() or (not complete and not locked):
                    continue
                records += 1
                size += end - line_start
                if oldest is None and complete:
                    rec = _parse(line, Cursor(number, line_start), Cursor(number, end))
                    if rec is not None:
                        oldest = rec.spooled_ms
        try:
            quarantined = len(os.listdir(self._quarantine_dir))
        except FileNotFoundError:
            quarantined = 0
        deferred = self._deferred_names()
        if deferred:  # side files are older than anything appended after them
            first_ms = int(deferred[0].split("-", 1)[0]) // 1_000_000
            oldest = first_ms if oldest is None else min(oldest, first_ms)
        age = max(0.0, (now_ms - oldest) / 1000) if oldest is not None else 0.0
        return SpoolStats(records + len(deferred), size, age, len(segments), quarantined,
                          len(deferred))

    def prune_counters(self, max_idle_s: float = 7 * 24 * 3600,
                       now: float | None = None) -> int:
        """Delete sequence counters of sessions idle for ``max_idle_s``; returns count.

        A session resumed after its counter was pruned restarts at seq 0 (event_id still
        deduplicates; ordering within the resumed part is kept).
        """
        now = time.time() if now is None else now
        removed = 0
        try:
            names = os.listdir(self._seq_dir)
        except FileNotFoundError:
            return 0
        for name in names:
            if name.startswith("."):
                continue  # markers, not counters
            path = os.path.join(self._seq_dir, name)
            try:
                if now - os.stat(path).st_mtime > max_idle_s:
                    os.unlink(path)
                    removed += 1
            except FileNotFoundError:
                pass
        return removed

    # -------------------------------------------------------------------- internals

    def _segment_path(self, number: int) -> str:
        return os.path.join(self.root, f"{_SEG_PREFIX}{number:012d}{_SEG_SUFFIX}")

    def _segments(self) -> list[int]:
        try:
            names = os.listdir(self.root)
        except FileNotFoundError:
            return []
        out = []
        for name in names:
            if name.startswith(_SEG_PREFIX) and name.endswith(_SEG_SUFFIX):
                digits = name[len(_SEG_PREFIX):-len(_SEG_SUFFIX)]
                if digits.isdigit():
                    out.append(int(digits))
        out.sort()
        return out

    def _snapshot(self) -> tuple[list[int], int, bool]:
        """Segments, the active segment's size and whether they were taken under the
        shared lock. Under the lock no append is in flight: bytes up to that size are
        whole lines or a crash-torn tail. Without it (the lock stayed busy for
        ``READ_LOCK_BUDGET_S``: the reader does not wait either) an unterminated tail may
        be a line still being written, so readers leave it for later."""
        if not os.path.isdir(self.root):
            return [], 0, True
        lock_fd = self._open_lock()
        try:
            locked = self._lock(lock_fd, fcntl.LOCK_SH, READ_LOCK_BUDGET_S)
            segments = self._segments()
            size = os.stat(self._segment_path(segments[-1])).st_size if segments else 0
        finally:
            os.close(lock_fd)
        return segments, size, locked

    def _lines(self, number: int, offset: int, limit: int | None):
        """Yield (start, end, line-without-newline, complete) from ``offset`` to ``limit``
        (a sealed segment: its end). ``complete`` is False only for a final piece with
        no newline, which no live writer can produce (see :meth:`_snapshot`)."""
        try:
            fd = os.open(self._segment_path(number), os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return
        try:
            if limit is None:
                limit = os.fstat(fd).st_size
            buf = b""
            buf_start = offset
            read_at = offset
            while read_at < limit:
                chunk = os.pread(fd, min(_CHUNK, limit - read_at), read_at)
                if not chunk:
                    break
                read_at += len(chunk)
                buf += chunk
                begin = 0
                while True:
                    nl = buf.find(b"\n", begin)
                    if nl < 0:
                        break
                    yield buf_start + begin, buf_start + nl + 1, buf[begin:nl], True
                    begin = nl + 1
                buf = buf[begin:]
                buf_start += begin
            if buf:
                yield buf_start, buf_start + len(buf), buf, False
        finally:
            os.close(fd)

    def _quarantine(self, bad: CorruptLine) -> None:
        path = os.path.join(self._quarantine_dir,
                            f"seg-{bad.position.segment:012d}-{bad.position.offset}.bad")
        if os.path.exists(path):
            return
        try:
            fd = private.open_file(path, os.O_WRONLY | os.O_EXCL)
            try:
                os.write(fd, bad.raw)
            finally:
                os.close(fd)
        except OSError:
            pass  # quarantine is a courtesy copy; skipping the line is what matters


def _parse(line: bytes, position: Cursor, end: Cursor) -> SpoolRecord | None:
    try:
        env = jsonlite.loads(line)
    except ValueError:
        return None
    if not isinstance(env, dict):
        return None
    data = env.get("record")
    spooled = env.get("spooled_ms")
    seq = env.get("seq")
    turn = env.get("turn")
    if not isinstance(data, dict) or not isinstance(spooled, int):
        return None
    if seq is not None:
        if not isinstance(seq, int):
            return None
        data["seq"] = seq
    if turn is not None:
        if not isinstance(turn, int):
            return None
        data["turn"] = turn
    return SpoolRecord(data, position, end, spooled, seq)


def _read_regular(path: str) -> bytes | None:
    """The bytes of a regular file (never following a symlink, never blocking on a
    FIFO); ``None`` when it is not a regular file or is too large to be a record."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if st.st_mode & 0o170000 != 0o100000 or st.st_size > _MAX_DEFERRED_BYTES:
            return None
        chunks = []
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _parse_deferred(raw: bytes) -> tuple[int, str | None, str | None, dict, str] | None:
    """(spooled_ms, seq_key, turn_step, record, record JSON) of a side file, or None when
    it is not
    one.
    The record must be one JSON object on one ASCII line (it is spliced into the spool
    verbatim)."""
    head, sep, rest = raw.partition(b"\n")
    body, sep2, tail = rest.partition(b"\n")
    if not sep or not sep2 or tail or not body.isascii():
        return None
    try:
        meta = jsonlite.loads(head)
        record = jsonlite.loads(body)
    except ValueError:
        return None
    if not isinstance(meta, dict) or not isinstance(record, dict):
        return None
    spooled, key = meta.get("spooled_ms"), meta.get("seq_key")
    if not isinstance(spooled, int) or isinstance(spooled, bool) or spooled < 0:
        return None
    if key is not None and not isinstance(key, str):
        return None
    step = meta.get("turn_step")
    if step is not None and step not in _TURN_STEPS:
        return None
    return spooled, key, step, record, body.decode("ascii")


def _counter_name(key: str) -> str:
    """A file name for a counter key: the key itself when safe, else a checksummed form."""
    if 0 < len(key) <= 128 and key[0] != "." and all(c in _SAFE for c in key):
        return key
    import zlib

    cleaned = "".join(c if c in _SAFE else "_" for c in key[:96]).lstrip(".")
    return f"{cleaned}~{zlib.crc32(key.encode('utf-8', 'surrogatepass')):08x}"
