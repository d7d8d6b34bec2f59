"""Start every long-running component as its own process, scrape /metrics, and check that
every metric the Prometheus rules and the Grafana dashboard use is actually served.

Components (ports = HIVEMIND_METRICS_PORT + offset, as deploy/prometheus/prometheus.yml
expects): sessionizer +0, sink +1, codifier +2, agentd +3, `hivemind report --every` +5.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from hivemind_kafka.runtime.metrics import PORT_OFFSETS
from tests.unit.deploy.test_prometheus_names import USED, dashboard_exprs, rule_groups

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
TYPE_LINE = re.compile(r"^# TYPE (\S+) (\w+)$", re.M)

COMPONENTS = {
    "sessionizer": ([sys.executable, "-m", "hivemind_kafka.streams.sessionizer"], PORT_OFFSETS["sessionizer"]),
    "sink": ([sys.executable, "-m", "hivemind_kafka.sinks"], PORT_OFFSETS["sink"]),
    "codifier": ([sys.executable, "-m", "hivemind_kafka.streams.codifier"], PORT_OFFSETS["codifier"]),
    # Not `python -m hivemind_kafka.producers.agentd.forwarder`: run as __main__, that module is imported twice
    # and registers its metrics twice (DuplicateTimeseries) - reported to its owner.
    "agentd": ([sys.executable, "-c", "import sys; from hivemind_kafka.producers.agentd.daemon import main; sys.exit(main())"],
               PORT_OFFSETS["agentd"]),
    "measure": ([sys.executable, "-m", "hivemind_kafka.cli.main", "report", "--every", "3600"],
                PORT_OFFSETS["measure"]),
}


def _free_base(span: int = 8) -> int:
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        if base + span < 65535 and all(_port_free(base + i) for i in range(span)):
            return base
    raise RuntimeError("no free block of ports")


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _env(settings, base: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HIVEMIND_")}
    for var, value, _field in settings.describe():
        if "Secret(" in value or value == "None":
            continue
        env[var] = value
    env.update({"HIVEMIND_METRICS_PORT": str(base), "HIVEMIND_METRICS_HOST": "127.0.0.1",
                "PYTHONPATH": str(ROOT), "HIVEMIND_LOG_LEVEL": "WARNING"})
    return env


def _scrape(port: int) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
            return r.read().decode()
    except OSError:
        return None


def served_names(text: str) -> set[str]:
    names = set()
    for name, kind in TYPE_LINE.findall(text):
        names.add(name)
        if kind in ("histogram", "summary"):
            names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
    return names


def deploy_names() -> set[str]:
    """hivemind_* names read by rules (incl. inside recording rules) and dashboards."""
    exprs = [r["expr"] for g in rule_groups() for r in g["rules"]] + dashboard_exprs()
    return {n for e in exprs for n in USED.findall(e) if ":" not in n}


def test_every_metric_used_in_rules_and_dashboards_is_served(settings, tmp_path):
    base = _free_base()
    env = _env(settings, base)
    procs: dict[str, subprocess.Popen] = {}
    logs = {}
    try:
        for name, (cmd, _) in COMPONENTS.items():
            logs[name] = open(tmp_path / f"{name}.log", "wb")  # noqa: SIM115
            procs[name] = subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=logs[name],
                                           stderr=subprocess.STDOUT, start_new_session=True)
        scraped: dict[str, str] = {}
        deadline = time.monotonic() + 150
        while len(scraped) < len(COMPONENTS) and time.monotonic() < deadline:
            for name, (_, offset) in COMPONENTS.items():
                if name in scraped:
                    continue
                if procs[name].poll() is not None:
                    raise AssertionError(f"{name} exited with {procs[name].returncode}: "
                                         f"{(tmp_path / f'{name}.log').read_text()[-2000:]}")
                text = _scrape(base + offset)
                if text is not None and "hivemind_" in text:
                    scraped[name] = text
            time.sleep(0.5)
        missing_components = set(COMPONENTS) - set(scraped)
        assert not missing_components, f"no /metrics from {missing_components}"
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        for f in logs.values():
            f.close()

    served = set().union(*(served_names(t) for t in scraped.values()))
    assert deploy_names() - served == set()
    # Each component serves its own stage's metrics.
    for name, prefix in (("sessionizer", "hivemind_sessionizer_"), ("sink", "hivemind_sink_"),
                         ("codifier", "hivemind_codifier_"), ("agentd", "hivemind_spool_"),
                         ("measure", "hivemind_measure_")):
        assert any(n.startswith(prefix) for n in served_names(scraped[name])), name
