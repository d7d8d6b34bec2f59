"""Fixtures shared by every test layer.

``broker``: the real embedded tansu broker on a free loopback port, one per test session,
always stopped. ``settings``: a Settings object for one test: its own topic names (so tests
sharing the broker never see each other's records), its own lake and Hivemind home under
tmp_path, and the short group timeouts tansu needs.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

# pyarrow before deltalake: the other order can abort the interpreter at exit
# (delta-rs #2184: native thread pools torn down in the wrong order).
import pyarrow  # noqa: F401
import pytest

from hivemind_kafka.runtime import broker as embedded
from hivemind_kafka.runtime.settings import Settings

_counter = itertools.count()


@pytest.fixture(scope="session")
def broker(tmp_path_factory):
    log_path = tmp_path_factory.mktemp("tansu") / "tansu.log"
    b = embedded.start(log_path=log_path)
    try:
        yield b
    finally:
        embedded.stop(b)


def make_settings(bootstrap: str, root: Path, *, partitions: int = 3, **sections) -> Settings:
    """Settings isolated under ``root`` with unique topic names."""
    tag = f"t{os.getpid()}x{next(_counter)}"
    base = Settings.from_env({})
    s = base.replace(
        kafka={"bootstrap": bootstrap, "partitions": partitions,
               "session_timeout_ms": 6000, "heartbeat_interval_ms": 500},
        topics={
            "turns": f"{tag}.turns", "sessions": f"{tag}.sessions",
            "candidates": f"{tag}.candidates", "skills": f"{tag}.skills",
            "dlq": f"{tag}.dlq", "ticks": f"{tag}.ticks",
        },
        lake={"uri": str(root / "lake"), "flush_seconds": 0.5},
        edge={"home": str(root / "home"), "workspace_id": "ws-test"},
        sessionizer={"tick_interval_s": 1.0},
    )
    if sections:
        s = s.replace(**sections)
    return s


@pytest.fixture
def settings(broker, tmp_path) -> Settings:
    from hivemind_kafka.runtime.kafka import ensure_topics

    s = make_settings(broker.bootstrap, tmp_path)
    ensure_topics(s)
    return s
