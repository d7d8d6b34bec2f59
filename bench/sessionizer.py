"""Sessionizer throughput per worker, against two peers doing the same job in the same run.

``python -m bench.sessionizer`` starts its own embedded broker and, per input shape,
produces one turns topic (:func:`make_records`), then runs over that same topic, in
interleaved rounds (the order rotates each round):

* ``faust``: this sessionizer, one ``python -m hivemind_kafka.streams.sessionizer`` worker;
* ``quix``: :mod:`bench.peer_quix`, the same job on Quix Streams (RocksDB state with a
  changelog), ``pip install -e '.[bench]'``;
* ``confluent``: :mod:`bench.peer_confluent`, a plain confluent-kafka loop with the states
  in a dict (no changelog: a ceiling, not a durable design).

All three run :mod:`hivemind_kafka.streams.sessionizer.logic` on the same records and emit the same
``Session`` JSON; every emitted session is checked against the expected ones (uid, event
count, every event id, no duplicate). The window of a run starts when its consumption
starts (the worker's ``hivemind_sessionizer_consuming_since_timestamp_seconds`` less its
batch window, the peers' first record) and ends at the Kafka timestamp of its last session, so start-up,
group joins and the reader's lag do not count.

Shapes (events per record x records per session): 50x1, 50x4, 50x20 and single-event
records in sessions of 50. The figures per shape are records/s and events/s per
implementation and the worker's ratio to each peer, computed within each round; the
summary is the median over rounds.

Baseline: ``HIVEMIND_BENCH_BASELINE=<dir>`` (e.g. ``git archive <commit> | tar -x -C
<dir>``) adds that checkout's worker as ``baseline`` to every round (timed from its
first processed record, ``hivemind_sessionizer_records_created{outcome="processed"}``).

Scale-out: on the 50x4 shape, 1 and 2 workers in one group, interleaved, each started on
an empty topic and fed once every worker holds its partitions (so the window holds no
start-up rebalance); window from the first worker's first batch to the last session.

    python -m bench.sessionizer                 # 200k events per 50-event shape
    HIVEMIND_BENCH_EVENTS=400000 HIVEMIND_BENCH_ROUNDS=3 python -m bench.sessionizer
    HIVEMIND_BENCH_PEERS=confluent python -m bench.sessionizer   # without quixstreams
    HIVEMIND_BENCH_SHAPES=1x50,50x4 python -m bench.sessionizer  # some shapes only
    HIVEMIND_BENCH_SCALE_OUT=0 python -m bench.sessionizer       # without the scale-out runs
"""

from __future__ import annotations

import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from confluent_kafka import Consumer

from bench.records import bench_settings, produce
from hivemind_kafka.runtime import broker as embedded
from hivemind_kafka.runtime.broker import free_port
from hivemind_kafka.runtime.kafka import consumer_config
from hivemind_kafka.runtime.metrics import PORT_OFFSETS
from hivemind_kafka.runtime.settings import Settings, to_env
from hivemind_kafka.runtime.supervisor import child_env
from hivemind_kafka.schemas.events import AgentKind, EventKind, TurnEvent, encode_batch
from hivemind_kafka.schemas.sessions import decode_session, session_uid

ROOT = Path(__file__).resolve().parents[1]
_WORDS = ["the", "tests", "failed", "because", "the", "fixture", "path", "was", "wrong", "so", "I", "ran", "pytest", "again", "with", "verbose", "output", "and", "fixed", "the", "import", "in", "conftest", "then", "committed"]

# name: (events per record, records per session)
SHAPES = {"50x1": (50, 1), "50x4": (50, 4), "50x20": (50, 20), "1x50": (1, 50)}
IMPLS = ("faust", "quix", "confluent")

Expected = dict[str, tuple[int, tuple[str, ...]]]


def make_records(n_events: int, per_record: int, per_session: int,
                 tag: str) -> tuple[list[tuple[bytes, bytes]], Expected]:
    """Records of ``per_record`` events; sessions of ``per_session`` events end on a session_end.
    Sessions are interleaved in waves of 50 so the table holds many open sessions.
    Returns the records and the expected sessions (uid -> event count, event ids)."""
    t0 = datetime.now(UTC) - timedelta(minutes=10)
    rng = random.Random(7)
    texts = [" ".join(rng.choices(_WORDS, k=28)) for _ in range(512)]  # ~160 chars, ~300 B/event
    n_sessions = n_events // per_session
    sessions = []
    expected: Expected = {}
    for i in range(n_sessions):
        ws, sid = f"ws-{i % 97}", f"{tag}-s{i}"
        events = [TurnEvent(event_id=f"{sid}-{k}", workspace_id=ws, session_id=sid,
                            agent_id="bench", agent_kind=AgentKind.CODING, project="bench",
                            seq=k, ts=t0 + timedelta(milliseconds=k),
                            kind=EventKind.SESSION_END if k == per_session - 1 else EventKind.RESPONSE,
                            text=texts[(i * 31 + k) % 512])
                  for k in range(per_session)]
        expected[session_uid(ws, sid, 0)] = (per_session, tuple(e.event_id for e in events))
        sessions.append([events[j:j + per_record] for j in range(0, per_session, per_record)])
    records = []
    for wave in range(0, n_sessions, 50):
        group = sessions[wave:wave + 50]
        for k in range(max(len(s) for s in group)):
            records += [(s[k][0].workspace_id.encode(), encode_batch(s[k]))
                        for s in group if k < len(s)]
    return records, expected


def settings_env(settings: Settings, source: Path = ROOT) -> dict[str, str]:
    return child_env(to_env(settings), PYTHONPATH=str(source))


@dataclass
class Run:
    """One implementation over one input: its window and what it emitted."""

    impl: str
    started_at: float = 0.0  # unix time consumption started
    last_ts_ms: int = 0  # Kafka timestamp of the last emitted session
    values: list[bytes] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return self.last_ts_ms / 1000 - self.started_at


class OutputReader:
    """Reads an output topic in a thread until it holds ``n`` records (values kept for the
    check after the run, only counted and time-stamped during it)."""

    def __init__(self, settings: Settings, topic: str, n: int) -> None:
        self.consumer = Consumer(consumer_config(settings, f"bench-reader-{topic}"))
        self.consumer.subscribe([topic])
        self.n, self.values, self.last_ts_ms = n, [], 0
        self.done = threading.Event()
        self._stop = False
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            while not self._stop and len(self.values) < self.n:
                for msg in self.consumer.consume(1000, timeout=0.2):
                    if msg.error() is None:
                        self.values.append(msg.value())
                        self.last_ts_ms = max(self.last_ts_ms, msg.timestamp()[1])
        finally:
            self.consumer.close()
            self.done.set()

    def wait(self, alive: Callable[[], bool], timeout_s: float = 600) -> None:
        deadline = time.monotonic() + timeout_s
        while not self.done.wait(0.2):
            if time.monotonic() > deadline or not alive():
                self._stop = True
                self.done.wait(5)
                raise RuntimeError(f"{len(self.values)} of {self.n} sessions emitted")


def check(run: Run, expected: Expected) -> None:
    """Every expected session exactly once, with its event count and every event id."""
    got: Expected = {}
    for value in run.values:
        s = decode_session(value)
        if s.session_uid in got:
            raise AssertionError(f"{run.impl}: session {s.session_uid} emitted twice")
        got[s.session_uid] = (s.event_count, tuple(e.event_id for e in s.events))
    if got != expected:
        missing = len(set(expected) - set(got))
        wrong = sum(1 for uid in expected if uid in got and got[uid] != expected[uid])
        raise AssertionError(f"{run.impl}: {missing} sessions missing, {wrong} differ, "
                             f"{len(set(got) - set(expected))} unexpected")


def _stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _scrape(port: int, *names: str) -> float:
    """The first of ``names`` the worker exports (a full sample name, labels included)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        samples = dict(line.rsplit(" ", 1) for line in resp.read().decode().splitlines()
                       if line and not line.startswith("#"))
    for name in names:
        if name in samples:
            return float(samples[name])
    raise RuntimeError(f"none of {names} exported on port {port}")


class Workers:
    """``n`` sessionizer worker processes in one group, each with its metrics port."""

    def __init__(self, settings: Settings, n: int, app_id: str, log_dir: Path,
                 source: Path = ROOT) -> None:
        self.ports, self.procs, self.logs = [], [], []
        self.within_s = settings.sessionizer.batch_within_ms / 1000
        for i in range(1, n + 1):
            port = free_port()
            worker = settings.replace(metrics={"port": port - PORT_OFFSETS["sessionizer"]})
            log_path = log_dir / f"{app_id}-{i}.log"
            with open(log_path, "ab") as out:
                self.procs.append(subprocess.Popen(
                    [sys.executable, "-m", "hivemind_kafka.streams.sessionizer", "--app-id", app_id,
                     "--worker-id", str(i)],
                    env=settings_env(worker, source), cwd=source, stdout=out,
                    stderr=subprocess.STDOUT))
            self.ports.append(port)
            self.logs.append(log_path)

    def alive(self) -> bool:
        return all(p.poll() is None for p in self.procs)

    def consuming_since(self) -> float:
        """The earliest first-batch time of the workers' latest assignments, less the batch
        window (``sessionizer.batch_within_ms``): the first batch may have waited that long
        for records, which the peers' first-record time counts."""
        times = [_scrape(port, "hivemind_sessionizer_consuming_since_timestamp_seconds",
                         # a baseline worker without the gauge: its first processed record
                         'hivemind_sessionizer_records_created{outcome="processed"}')
                 for port in self.ports]
        return min(t for t in times if t > 0) - self.within_s

    def assignments(self) -> list[list[str]]:
        """Each worker's logged assignments, oldest first."""
        pattern = re.compile(r"assigned partitions=(\[[^\]]*\])")
        return [pattern.findall(path.read_text(errors="replace")) for path in self.logs]

    def wait_until_assigned(self, partitions: int, timeout_s: float = 120) -> None:
        """Until every worker holds partitions and together they hold all of them."""
        deadline = time.monotonic() + timeout_s
        while True:
            latest = [json.loads(a[-1]) if a else [] for a in self.assignments()]
            if all(latest) and sorted(p for ps in latest for p in ps) == list(range(partitions)):
                return
            if time.monotonic() > deadline or not self.alive():
                raise RuntimeError(f"workers not assigned: {latest}; see {self.logs}")
            time.sleep(0.2)

    def stop(self) -> None:
        _stop(self.procs)


def run_faust(settings: Settings, n_sessions: int, tag: str, log_dir: Path,
              source: Path = ROOT, impl: str = "faust") -> Run:
    workers = Workers(settings, 1, f"bench-{tag}", log_dir, source)
    reader = OutputReader(settings, settings.topics.sessions, n_sessions)
    try:
        reader.wait(workers.alive)
        started = workers.consuming_since()
    finally:
        workers.stop()
    return Run(impl, started, reader.last_ts_ms, reader.values)


def run_peer(impl: str, settings: Settings, input_topic: str, n_sessions: int, tag: str,
             log_dir: Path) -> Run:
    t = settings.topics
    cmd = [sys.executable, "-m", f"bench.peer_{impl}", "--bootstrap", str(settings.kafka.bootstrap),
           "--input", input_topic, "--output", t.sessions, "--candidates", t.candidates,
           "--group", f"bench-{tag}"]
    if impl == "quix":
        cmd += ["--state-dir", str(log_dir / f"quix-{tag}")]
    with open(log_dir / f"{impl}-{tag}.log", "ab") as err:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=err,
                                env=child_env({}, PYTHONPATH=str(ROOT)))
    started: list[float] = []

    def read_stdout() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            started.append(json.loads(line)["first_record_at"])

    threading.Thread(target=read_stdout, daemon=True).start()
    reader = OutputReader(settings, t.sessions, n_sessions)
    try:
        reader.wait(lambda: proc.poll() is None)
    finally:
        _stop([proc])
    if not started:
        raise RuntimeError(f"{impl} peer never reported its first record")
    return Run(impl, started[0], reader.last_ts_ms, reader.values)


def quix_available() -> bool:
    try:
        import quixstreams  # noqa: F401
    except ImportError:
        return False
    return True


def _peers() -> list[str]:
    wanted = os.environ.get("HIVEMIND_BENCH_PEERS", "quix,confluent").split(",")
    peers = [p for p in wanted if p in IMPLS[1:]]
    if "quix" in peers and not quix_available():
        print("quixstreams not installed (pip install -e '.[bench]'): no Quix peer", flush=True)
        peers.remove("quix")
    return peers


def _line(shape: str, rnd: int, run: Run, n_records: int, n_events: int) -> str:
    return (f"  {shape:<6} round {rnd}  {run.impl:<9} {n_records / run.seconds:>9,.0f} records/s "
            f"{n_events / run.seconds:>10,.0f} events/s  ({run.seconds:.2f} s)")


def run(n_events: int | None = None, rounds: int | None = None) -> dict[str, float]:
    n_events = n_events or int(os.environ.get("HIVEMIND_BENCH_EVENTS", "200000"))
    rounds = rounds or int(os.environ.get("HIVEMIND_BENCH_ROUNDS", "2"))
    baseline = os.environ.get("HIVEMIND_BENCH_BASELINE")
    impls = ["faust", *_peers(), *(["baseline"] if baseline else [])]
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-sessionizer-") as tmp:
        root = Path(tmp)
        broker = embedded.start(log_path=root / "tansu.log")
        try:
            wanted = os.environ.get("HIVEMIND_BENCH_SHAPES", ",".join(SHAPES)).split(",")
            for i, (shape, (per_record, records_per_session)) in enumerate(SHAPES.items()):
                if shape not in wanted:
                    continue
                per_session = per_record * records_per_session
                # Single-event records: fewer events (the per-record cost dominates).
                events = n_events if per_record > 1 else n_events // 5
                base = f"b{os.getpid()}s{i}"
                shape_settings = bench_settings(broker.bootstrap, base, root / "home")
                records, expected = make_records(events, per_record, per_session, base)
                produce(shape_settings, records)
                ratios: dict[str, list[float]] = {p: [] for p in impls[1:]}
                rates: dict[str, list[float]] = {p: [] for p in impls}
                for rnd in range(rounds):
                    order = impls[rnd % len(impls):] + impls[:rnd % len(impls)]
                    runs: dict[str, Run] = {}
                    for impl in order:
                        tag = f"{base}r{rnd}{impl[0]}"
                        settings = bench_settings(broker.bootstrap, tag, root / "home").replace(
                            topics={"turns": shape_settings.topics.turns})
                        if impl == "faust":
                            result = run_faust(settings, len(expected), tag, root)
                        elif impl == "baseline":
                            result = run_faust(settings, len(expected), tag, root,
                                               Path(str(baseline)), "baseline")
                        else:
                            result = run_peer(impl, settings, settings.topics.turns,
                                              len(expected), tag, root)
                        check(result, expected)
                        runs[impl] = result
                        rates[impl].append(events / result.seconds)
                        print(_line(shape, rnd, result, len(records), events), flush=True)
                    for peer in impls[1:]:
                        ratios[peer].append(runs[peer].seconds / runs["faust"].seconds)
                for impl in impls:
                    eps = statistics.median(rates[impl])
                    figures[f"{shape}_{impl}_events_per_s"] = eps
                    figures[f"{shape}_{impl}_records_per_s"] = eps / per_record
                for peer in impls[1:]:
                    figures[f"{shape}_faust_to_{peer}_ratio"] = statistics.median(ratios[peer])
                print(f"{shape}: {len(records):,} records of {per_record} events, sessions of "
                      f"{per_session}: faust {figures[f'{shape}_faust_records_per_s']:,.0f} "
                      f"records/s, {figures[f'{shape}_faust_events_per_s']:,.0f} events/s; "
                      + ", ".join(f"ratio to {p} {statistics.median(ratios[p]):.2f} "
                                  f"(rounds {', '.join(f'{r:.2f}' for r in ratios[p])})"
                                  for p in impls[1:]), flush=True)
            if os.environ.get("HIVEMIND_BENCH_SCALE_OUT", "1") != "0":
                figures.update(scale_out(broker.bootstrap, root, n_events, rounds))
        finally:
            embedded.stop(broker)
    return figures


def scale_out(bootstrap: str, root: Path, n_events: int, rounds: int) -> dict[str, float]:
    """2 workers against 1 on the 50x4 shape, interleaved (1, 2, 2, 1, ...)."""
    per_record, per_session = 50, 200
    rates: dict[int, list[float]] = {1: [], 2: []}
    for rnd in range(rounds):
        for n in ((1, 2) if rnd % 2 == 0 else (2, 1)):
            tag = f"b{os.getpid()}w{n}r{rnd}"
            settings = bench_settings(bootstrap, tag, root / "home")
            records, expected = make_records(n_events, per_record, per_session, tag)
            workers = Workers(settings, n, f"bench-{tag}", root)
            try:
                workers.wait_until_assigned(settings.kafka.partitions)
                before = workers.assignments()
                reader = OutputReader(settings, settings.topics.sessions, len(expected))
                produce(settings, records)
                reader.wait(workers.alive)
                result = Run(f"{n}_workers", workers.consuming_since(), reader.last_ts_ms,
                             reader.values)
                if workers.assignments() != before:
                    print(f"  {n} workers: a rebalance happened during the run", flush=True)
            finally:
                workers.stop()
            check(result, expected)
            rates[n].append(n_events / result.seconds)
            print(_line("50x4", rnd, result, len(records), n_events), flush=True)
    ratios = [two / one for one, two in zip(rates[1], rates[2], strict=True)]
    print(f"scale-out 50x4: 2 workers / 1 worker {statistics.median(ratios):.2f}x "
          f"(rounds {', '.join(f'{r:.2f}' for r in ratios)})", flush=True)
    return {"50x4_1_worker_events_per_s": statistics.median(rates[1]),
            "50x4_2_workers_events_per_s": statistics.median(rates[2]),
            "two_workers_to_one_ratio": statistics.median(ratios)}


if __name__ == "__main__":
    from bench import help_requested

    if help_requested(__doc__):
        sys.exit(0)
    run()
