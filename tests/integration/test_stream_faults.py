"""Stream-job faults with real processes on the real broker (issue 12: stream side).

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
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime import broker as embedded
from runtime.kafka import ensure_topics
from runtime.settings import Settings, to_env
from runtime.supervisor import child_env
from schemas.events import encode_batch, turn_key
from schemas.sessions import decode_session
from tests.conftest import make_settings
from tests.integration.test_sessionizer_worker import conversation
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

    from runtime.kafka import producer_config

    producer = Producer(producer_config(settings))
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
    proc = Proc([sys.executable, "-m", "streams.sessionizer"], _env(settings),
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
    proc = Proc([sys.executable, "-m", "cli.main", "worker", "codifier"], _env(settings),
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
    proc = Proc([sys.executable, "-m", "producers.forwarder", "--home", str(home)],
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
    proc = Proc([sys.executable, "-m", "cli.main", "up", "--components",
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


