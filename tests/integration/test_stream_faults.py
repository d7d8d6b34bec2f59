"""Stream-job faults with real processes on the real broker (issue 12: stream side).

- Poison records on the turns topic (a valid batch keyed by another workspace, an event
  with ``schema_version`` 999, timestamps in year 1 and 9999, a record over the size
  limit) go to the DLQ at the sessionizer, each with its reason, and every good session
  around them comes out exactly once; a ``Stop`` arriving before the rest of its turn
  does not split its session.
- A broker replaced by a fresh cluster under a running sessionizer and codifier: both
  say so (log line and counter), the sessionizer emits exactly the new cluster's
  sessions, although the new log holds more records than the old offsets.
- Graceful stop with the broker gone: the sessionizer, the codifier, agentd and the
  ``hivemind up`` supervisor each exit after SIGTERM while their broker is unreachable
  (the sessionizer used to wait minutes on its flush), within a bound far above their
  grace (HIVEMIND_STOP_GRACE_S=5; the bound is a hang detector, not a speed assertion).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from hivemind_kafka.runtime import broker as embedded
from hivemind_kafka.runtime.broker import free_port
from hivemind_kafka.runtime.kafka import ensure_topics
from hivemind_kafka.runtime.settings import Settings, to_env
from hivemind_kafka.runtime.supervisor import child_env
from hivemind_kafka.schemas.dead_letters import decode_dead_letter
from hivemind_kafka.schemas.events import EventKind, encode_batch, turn_key
from hivemind_kafka.schemas.sessions import decode_session
from tests.conftest import make_settings
from tests.integration.test_sessionizer_worker import conversation, ev
from tests.support.polling import wait_until
from tests.support.topic_reader import read_topic

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
GRACE_S = 5.0
HANG_BOUND_S = 45.0  # far above the grace: only a hang fails


@pytest.fixture
def own_broker(tmp_path) -> Iterator[embedded.EmbeddedBroker]:
    """A broker of this test alone (the test stops it); always stopped at the end."""
    b = embedded.start(log_path=tmp_path / "tansu.log")
    try:
        yield b
    finally:
        embedded.stop(b)


def _env(settings: Settings, **extra: str) -> dict[str, str]:
    return child_env(to_env(settings), PYTHONPATH=str(ROOT),
                     HIVEMIND_STOP_GRACE_S=str(GRACE_S), **extra)


class Proc:
    """A child process with its output in a file; killed at the end if still running."""

    def __init__(self, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out,
                                         stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def procs() -> Iterator[list[Proc]]:
    started: list[Proc] = []
    yield started
    for p in started:
        p.kill()


def _produce(settings: Settings, records: list[tuple[bytes, bytes]]) -> None:
    from confluent_kafka import Producer

    from hivemind_kafka.runtime.kafka import producer_config

    # Records over the stages' limit too: what a hostile or buggy producer can send.
    producer = Producer(producer_config(settings, **{"message.max.bytes": 4_000_000}))
    for key, value in records:
        producer.produce(settings.topics.turns, key=key, value=value)
    assert producer.flush(30) == 0


def _stop_with_broker_gone(proc: Proc, broker: embedded.EmbeddedBroker) -> int:
    embedded.stop(broker)
    proc.proc.send_signal(signal.SIGTERM)
    try:
        return proc.proc.wait(HANG_BOUND_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"still running {HANG_BOUND_S}s after SIGTERM with the broker gone "
                    f"(grace {GRACE_S}s); log tail:\n{proc.text()[-3000:]}")


def test_sessionizer_exits_on_sigterm_with_the_broker_gone(own_broker, tmp_path, procs):
    settings = make_settings(own_broker.bootstrap, tmp_path)
    ensure_topics(settings)
    proc = Proc([sys.executable, "-m", "hivemind_kafka.streams.sessionizer"], _env(settings),
                tmp_path / "sessionizer.log")
    procs.append(proc)
    events = conversation("ws-a", "s-1", 4)
    _produce(settings, [(turn_key("ws-a"), encode_batch(events))])
    # Working: the session came out (so its producer and consumer are connected).
    wait_until(lambda: [decode_session(v).session_uid
                        for _, v in read_topic(settings, settings.topics.sessions)],
               60, "the session on the sessions topic")
    code = _stop_with_broker_gone(proc, own_broker)
    assert code in (0, 3), proc.text()[-3000:]


def test_codifier_exits_on_sigterm_with_the_broker_gone(own_broker, tmp_path, procs):
    settings = make_settings(own_broker.bootstrap, tmp_path)
    ensure_topics(settings)
    proc = Proc([sys.executable, "-m", "hivemind_kafka.cli.main", "worker", "codifier"], _env(settings),
                tmp_path / "codifier.log")
    procs.append(proc)
    wait_until(lambda: "library loaded" in proc.text() or proc.proc.poll() is not None, 60,
               "the codifier's partition assignment and library load")
    assert proc.proc.poll() is None, proc.text()[-3000:]
    assert _stop_with_broker_gone(proc, own_broker) in (0, 3), proc.text()[-3000:]


def test_agentd_exits_on_sigterm_with_the_broker_gone(own_broker, tmp_path, procs):
    settings = make_settings(own_broker.bootstrap, tmp_path)
    ensure_topics(settings)
    home = Path(settings.edge.home)
    home.mkdir(parents=True)
    (home / "config.json").write_text(json.dumps(
        {"workspace_id": "ws-test", "agent_id": "a-1", "agentd_autostart": False}))
    proc = Proc([sys.executable, "-m", "hivemind_kafka.producers.agentd.daemon", "--home", str(home)],
                _env(settings), tmp_path / "agentd.log")
    procs.append(proc)
    wait_until(lambda: "agentd started" in proc.text() or proc.proc.poll() is not None, 60,
               "agentd to start")
    assert proc.proc.poll() is None, proc.text()[-3000:]
    assert _stop_with_broker_gone(proc, own_broker) in (0, 3), proc.text()[-3000:]


def test_up_supervisor_and_its_workers_exit_on_sigterm_with_the_broker_gone(
        own_broker, tmp_path, procs):
    settings = make_settings(own_broker.bootstrap, tmp_path)
    ensure_topics(settings)
    proc = Proc([sys.executable, "-m", "hivemind_kafka.cli.main", "up", "--components",
                 "sessionizer,codifier"], _env(settings), tmp_path / "up.log")
    procs.append(proc)
    logs = Path(settings.edge.home) / "logs"
    wait_until(lambda: "assigned partitions" in _read(logs / "sessionizer-1.log")
               and "library loaded" in _read(logs / "codifier-1.log"), 90,
               "both workers assigned")
    pids = [int(p) for p in re.findall(r"\(pid (\d+),", proc.text())]
    assert len(pids) == 2, proc.text()
    _stop_with_broker_gone(proc, own_broker)
    # The supervisor returned only after its workers were gone (reaped or SIGKILLed).
    assert [p for p in pids if _is_running(p)] == []


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""


def _is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for our purposes (its parent, the supervisor, has exited).
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False




def _patched(events, **fields) -> bytes:
    """A batch whose first event has ``fields`` overridden on the wire (bypassing the
    Struct, whose constructor may refuse them)."""
    data = msgspec.json.decode(encode_batch(events))
    data["events"][0].update(fields)
    return msgspec.json.encode(data)


def _sessions(settings: Settings) -> list[tuple[str, int, int]]:
    return sorted((s.session_id, s.generation, s.event_count) for s in (
        decode_session(v) for _, v in read_topic(settings, settings.topics.sessions)))


def test_poison_records_are_dead_lettered_and_every_good_session_comes_out_once(
        broker, tmp_path, procs):
    port = free_port()
    settings = make_settings(broker.bootstrap, tmp_path).replace(
        sessionizer={"max_record_bytes": 32_768, "tick_interval_s": 1.0},
        metrics={"port": port})
    ensure_topics(settings)
    key = turn_key("ws-a")
    good = {f"good-{i}": conversation("ws-a", f"good-{i}", 4) for i in range(4)}
    # A Stop that arrives before the rest of its turn (and before the session's start).
    turn = conversation("ws-a", "stop-first", 5)
    turn.insert(3, ev("ws-a", "stop-first", 10, EventKind.STOP))
    stop = turn.pop(3)
    poison = {
        "key_mismatch": (key, encode_batch(conversation("ws-b", "other", 3))),
        "version_999": (key, _patched(conversation("ws-a", "v999", 3), schema_version=999)),
        "year_1": (key, _patched(conversation("ws-a", "y1", 3), ts="0001-01-01T00:00:00Z")),
        "year_9999": (key, _patched(conversation("ws-a", "y9999", 3),
                                    ts="9999-12-31T23:59:59Z")),
        "oversized": (key, encode_batch([msgspec.structs.replace(e, text="x" * 40_000)
                                         for e in conversation("ws-a", "huge", 3)])),
    }
    g = {n: (key, encode_batch(events)) for n, events in good.items()}
    records = [g["good-0"], (key, encode_batch([stop])), poison["key_mismatch"], g["good-1"],
               poison["version_999"], poison["year_1"], g["good-2"], poison["year_9999"],
               poison["oversized"], (key, encode_batch(turn)), g["good-3"]]
    _produce(settings, records)

    proc = Proc([sys.executable, "-m", "hivemind_kafka.streams.sessionizer"], _env(settings),
                tmp_path / "sessionizer.log")
    procs.append(proc)
    expected = sorted([(n, 0, 4) for n in good] + [("stop-first", 0, 6)])
    wait_until(lambda: len(_sessions(settings)) >= len(expected)
               or proc.proc.poll() is not None, 90, "every good session")
    letters = wait_until(lambda: [decode_dead_letter(v) for _, v in
                                  read_topic(settings, settings.topics.dlq)]
                         if len(read_topic(settings, settings.topics.dlq)) >= len(poison)
                         else None, 30, "a dead letter per poison record")
    assert _sessions(settings) == expected, proc.text()[-3000:]
    by_raw = {raw: name for name, (_, raw) in poison.items()}
    # An oversized record's letter keeps a prefix of it (to fit the DLQ's record limit).
    got = sorted((next((n for raw, n in by_raw.items() if raw.startswith(lt.raw)), "?"),
                  lt.reason.value) for lt in letters)
    assert got == sorted([("key_mismatch", "contract_violation"),
                          ("version_999", "contract_violation"),
                          ("year_1", "contract_violation"),
                          ("year_9999", "contract_violation"),
                          ("oversized", "oversized")])
    assert all(lt.stage == "sessionizer" for lt in letters)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    assert ('hivemind_dlq_records_total{reason="contract_violation",stage="sessionizer"} 4.0'
            in text)
    assert proc.proc.poll() is None


def test_a_replaced_cluster_is_reported_and_read_from_its_start(tmp_path, procs):
    old = embedded.start(log_path=tmp_path / "tansu-old.log")
    new: embedded.EmbeddedBroker | None = None
    try:
        port = free_port()
        settings = make_settings(old.bootstrap, tmp_path, partitions=1).replace(
            metrics={"port": port})
        ensure_topics(settings)
        key = turn_key("ws-a")
        _produce(settings, [(key, encode_batch(conversation("ws-a", f"old-{i}", 4)))
                            for i in range(10)])
        sessionizer = Proc([sys.executable, "-m", "hivemind_kafka.streams.sessionizer"], _env(settings),
                           tmp_path / "sessionizer.log")
        codifier = Proc([sys.executable, "-m", "hivemind_kafka.cli.main", "worker", "codifier"],
                        _env(settings, HIVEMIND_METRICS_PORT=str(free_port())),
                        tmp_path / "codifier.log")
        procs.extend([sessionizer, codifier])
        wait_until(lambda: len(_sessions(settings)) >= 10, 90, "the old cluster's sessions")
        wait_until(lambda: "library loaded" in codifier.text(), 60, "the codifier running")
        embedded.stop(old)
        wait_until(lambda: not embedded.is_listening(old.host, old.port), 30,
                   "the old broker's port free")
        new = embedded.start(log_path=tmp_path / "tansu-new.log", port=old.port)
        ensure_topics(settings)
        # More records than the old offsets: resuming at an old offset would skip some.
        _produce(settings, [(key, encode_batch(conversation("ws-a", f"new-{i}", 4)))
                            for i in range(25)])
        expected = sorted((f"new-{i}", 0, 4) for i in range(25))
        try:
            wait_until(lambda: len(_sessions(settings)) >= 25
                       or sessionizer.proc.poll() is not None, 120, "the new cluster's sessions")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; got {_sessions(settings)}\n"
                                 f"{sessionizer.text()[-3000:]}") from None
        assert _sessions(settings) == expected, sessionizer.text()[-3000:]
        wait_until(lambda: "the Kafka cluster changed" in sessionizer.text(), 60,
                   "the sessionizer's cluster change logged")
        # The codifier's librdkafka consumer may instead die of SIGSEGV on the new
        # cluster's topic ids (a librdkafka 2.16 bug, see test_sink_faults): its
        # supervisor restarts it (as tested for the sink in test_sink_faults).
        wait_until(lambda: "the Kafka cluster changed" in codifier.text()
                   or codifier.proc.poll() is not None, 90, "the codifier's cluster change")
        if codifier.proc.poll() is not None:
            assert codifier.proc.returncode == -signal.SIGSEGV, codifier.text()[-3000:]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            assert "hivemind_sessionizer_cluster_changes_total 1.0" in resp.read().decode()
    finally:
        embedded.stop(old)
        if new is not None:
            embedded.stop(new)


def test_candidate_keyed_by_another_workspace_is_dead_lettered_and_the_rest_codified(
        settings):
    from confluent_kafka import Producer

    from hivemind_kafka.runtime.kafka import producer_config
    from hivemind_kafka.schemas.sessions import encode
    from hivemind_kafka.sinks.skills_publisher import list_skills
    from hivemind_kafka.streams.codifier.app import CodifierJob
    from hivemind_kafka.streams.codifier.logic import CodifySummary
    from tests.integration.test_codify import StartedJob
    from tests.unit.streams.codifier.builders import candidate, recovery_session

    foreign = candidate(recovery_session("ws-b", session_id="b1"))
    good = candidate(recovery_session("ws-a", session_id="a1"))
    p = Producer(producer_config(settings))
    # ws-b's candidate on ws-a's key (so on ws-a's partition): a skill drafted from it
    # would be published to ws-b by whoever can write ws-a's records.
    p.produce(settings.topics.candidates, key=b"ws-a", value=encode(foreign))
    p.produce(settings.topics.candidates, key=b"ws-a", value=encode(good))
    assert p.flush(10) == 0
    summary = CodifySummary()
    job = StartedJob(CodifierJob(settings, summary=summary))
    try:
        skills = wait_until(lambda: list_skills(settings), 60, "the good candidate's skill")
        letters = wait_until(lambda: [decode_dead_letter(v) for _, v in
                                      read_topic(settings, settings.topics.dlq)], 30,
                             "the dead letter")
    finally:
        job.stop()
    assert [s.workspace_id for s in skills] == ["ws-a"]
    assert [(lt.stage, lt.reason.value, lt.raw) for lt in letters] == [
        ("codifier", "contract_violation", encode(foreign))]
