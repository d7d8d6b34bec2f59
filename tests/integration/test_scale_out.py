"""Scale-out over the real broker: two sessionizer workers and two sink workers share six
partitions; one of each is SIGKILLed mid-stream; the survivors take over its partitions.
The lake must hold every event and every session exactly once, each session whole."""

from __future__ import annotations

import itertools
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from confluent_kafka import Producer

from hivemind_kafka.runtime.broker import free_port
from hivemind_kafka.runtime.kafka import ensure_topics, producer_config
from hivemind_kafka.runtime.metrics import PORT_OFFSETS
from hivemind_kafka.runtime.settings import Settings, to_env
from hivemind_kafka.runtime.supervisor import child_env
from hivemind_kafka.schemas.events import AgentKind, EventKind, TurnEvent, encode_batch, turn_key
from hivemind_kafka.schemas.sessions import session_uid
from hivemind_kafka.sinks.delta_writer import read_table
from tests.conftest import make_settings

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PARTITIONS = 6
WORKSPACES = [f"ws-{i:02d}" for i in range(18)]  # spread over all six partitions
EVENTS_PER_SESSION = 10
_ids = itertools.count()


def worker_env(settings: Settings, metrics_port: int) -> dict[str, str]:
    return child_env(to_env(settings.replace(
        metrics={"host": "127.0.0.1", "port": metrics_port})), PYTHONPATH=str(ROOT))


class Process:
    """One worker subprocess with its own metrics port; always ended by the fixture."""

    def __init__(self, name: str, argv: list[str], component: str, settings: Settings,
                 log: Path) -> None:
        self.name, self.log_path = name, log
        # The port the worker binds is the free one (base + its offset may be taken).
        port = free_port()
        base = port - PORT_OFFSETS[component]
        self.url = f"http://127.0.0.1:{port}"
        with log.open("ab") as out:
            self.proc = subprocess.Popen([sys.executable, *argv], cwd=ROOT,
                                         env=worker_env(settings, base),
                                         stdout=out, stderr=subprocess.STDOUT)

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=2) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, ""
        except OSError:
            return 0, ""

    def is_ready(self) -> bool:
        return self.get("/readyz")[0] == 200

    def metric(self, name: str, **labels: str) -> float:
        """Sum of the samples of ``name`` whose labels include ``labels``."""
        status, text = self.get("/metrics")
        total = 0.0
        for line in text.splitlines() if status == 200 else []:
            m = re.match(rf"^{name}(\{{[^}}]*\}})? (\S+)$", line)
            if m and all(f'{k}="{v}"' in (m.group(1) or "") for k, v in labels.items()):
                total += float(m.group(2))
        return total

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.alive():
            self.proc.send_signal(sig)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def tail(self) -> str:
        return f"--- {self.name} ---\n" + self.log_path.read_text(errors="replace")[-3000:]


def wait_for(cond: Callable[[], bool], *, timeout: float, what: str,
             procs: list[Process]) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        dead = [p for p in procs if not p.alive()]
        if dead or time.monotonic() > deadline:
            logs = "\n".join(p.tail() for p in procs)
            pytest.fail(f"{'exited: ' + dead[0].name if dead else 'timed out'} "
                        f"waiting for {what}\n{logs}")
        time.sleep(0.25)


def conversation(ws: str, sid: str, start: datetime) -> list[TurnEvent]:
    kinds = ([EventKind.PROMPT] + [EventKind.TOOL_CALL, EventKind.TOOL_RESULT] * 4
             + [EventKind.SESSION_END])
    assert len(kinds) == EVENTS_PER_SESSION
    plain = (EventKind.PROMPT, EventKind.SESSION_END)
    return [TurnEvent(event_id=f"{ws}/{sid}/{seq}/{next(_ids)}", workspace_id=ws,
                      session_id=sid, agent_id=f"agent-{ws}", agent_kind=AgentKind.CODING,
                      project="proj", seq=seq, ts=start + timedelta(milliseconds=seq), kind=k,
                      text="hello" if k in plain else None,
                      tool_name="Bash" if k not in plain else None,
                      tool_use_id=f"u{seq // 2}" if k not in plain else None)
            for seq, k in enumerate(kinds)]


class Feeder(threading.Thread):
    """Sessions of every workspace, each in two records (so a kill can split one), until
    stopped; remembers everything it delivered."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(daemon=True)
        self.settings = settings
        self.stop_event = threading.Event()
        self.events: list[TurnEvent] = []
        self.sessions: list[str] = []
        self.rounds = 0  # sessions s0..s<rounds-1> of every workspace were sent
        # Set once the victims are dead: the feeder stops after this many rounds, so the
        # survivors face a bounded backlog (on two loaded cores an endless stream outruns
        # one sessionizer and the wanted sessions would never come up).
        self.last_round: int | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            producer = Producer(producer_config(self.settings))
            topic, j = self.settings.topics.turns, 0
            while not self.stop_event.is_set() and (
                    self.last_round is None or j < self.last_round):
                # Event time is now: a session stamped minutes back is idle in event time
                # already, so a survivor still working through the backlog would rightly
                # close its first half at the next tick, before the second half comes up.
                start = datetime.now(UTC)
                halves = []
                for ws in WORKSPACES:
                    events = conversation(ws, f"s{j}", start)
                    producer.produce(topic, key=turn_key(ws), value=encode_batch(events[:6]))
                    halves.append(events)
                    self.events += events
                    self.sessions.append(session_uid(ws, f"s{j}", 0))
                producer.poll(0)
                time.sleep(0.05)  # the second half arrives a moment later
                for events in halves:
                    producer.produce(topic, key=turn_key(events[0].workspace_id),
                                     value=encode_batch(events[6:]))
                producer.poll(0)
                time.sleep(0.1)
                j += 1
                self.rounds = j
            assert producer.flush(30) == 0
        except BaseException as exc:
            self.error = exc


@pytest.fixture
def scale_settings(broker, tmp_path) -> Settings:
    s = make_settings(broker.bootstrap, tmp_path, partitions=PARTITIONS,
                      sessionizer={"idle_gap_s": 120, "arrival_grace_s": 1,
                                   "tick_interval_s": 0.5},
                      lake={"flush_rows": 5000, "flush_seconds": 0.5})
    ensure_topics(s)
    return s


@pytest.fixture
def processes():
    started: list[Process] = []
    yield started
    for p in started:
        p.kill(signal.SIGKILL)


def test_two_of_each_worker_survive_a_sigkill_of_one_each_exactly_once(
        scale_settings, processes, tmp_path):
    s = scale_settings
    sessionizers = [Process(f"sessionizer-{i}", ["-m", "hivemind_kafka.streams.sessionizer", "--worker-id",
                                                 str(i)], "sessionizer", s,
                            tmp_path / f"sessionizer-{i}.log") for i in (1, 2)]
    sinks = [Process(f"sink-{i}", ["-m", "hivemind_kafka.sinks", "--tables", "events,sessions"], "sink", s,
                     tmp_path / f"sink-{i}.log") for i in (1, 2)]
    processes += sessionizers + sinks
    wait_for(lambda: all(p.is_ready() for p in processes), timeout=120,
             what="all four workers ready", procs=processes)

    feeder = Feeder(s)
    feeder.start()
    try:
        # Both members of each group must be doing work before one of each dies.
        wait_for(lambda: all(p.metric("hivemind_sessionizer_sessions_closed_total") > 0
                             for p in sessionizers)
                 and all(p.metric("hivemind_sink_rows_total", table="events") > 0
                         for p in sinks),
                 timeout=120, what="work on every worker", procs=processes)
        victim_s, victim_k = sessionizers[0], sinks[0]
        closed_before = victim_s.metric("hivemind_sessionizer_sessions_closed_total")
        rows_before = victim_k.metric("hivemind_sink_rows_total", table="events")
        victim_s.kill()
        victim_k.kill()
        survivors = [sessionizers[1], sinks[1]]
        # The stream goes on through the session timeout and the rebalance, until sessions
        # started after the kill are in the lake for every workspace (so on every
        # partition, the victims' included).
        after_kill = feeder.rounds + 3
        feeder.last_round = after_kill + 1
        wanted = {session_uid(ws, f"s{after_kill}", 0) for ws in WORKSPACES}
        wait_for(lambda: wanted <= set(read_table(s, "sessions")["session_uid"].to_pylist()),
                 timeout=300, what="the survivors taking over every partition", procs=survivors)
    finally:
        feeder.stop_event.set()
        feeder.join(60)
    assert feeder.error is None, feeder.error
    assert closed_before > 0 and rows_before > 0

    produced = Counter(e.event_id for e in feeder.events)
    expected_sessions = set(feeder.sessions)
    wait_for(lambda: read_table(s, "events").num_rows >= len(produced)
             and read_table(s, "sessions").num_rows >= len(expected_sessions),
             timeout=180, what="every event and session in Delta", procs=survivors)
    for p in survivors:
        p.kill(signal.SIGTERM)

    events = Counter(read_table(s, "events")["event_id"].to_pylist())
    assert set(events) == set(produced)
    assert not {k: n for k, n in events.items() if n > 1}, "duplicated events"
    sessions = read_table(s, "sessions").select(["session_uid", "event_count"]).to_pylist()
    uids = Counter(r["session_uid"] for r in sessions)
    assert set(uids) == expected_sessions
    assert not {k: n for k, n in uids.items() if n > 1}, "duplicated sessions"
    assert {r["event_count"] for r in sessions} == {EVENTS_PER_SESSION}, "a session split"
