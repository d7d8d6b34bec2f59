"""CodifierJob reads one injected clock for everything that waits: held candidates come
due by it, not by the machine's time (no broker: confluent clients connect lazily)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hivemind_kafka.runtime.settings import Settings
from hivemind_kafka.schemas.sessions import encode
from hivemind_kafka.streams.codifier.app import CodifierJob, _Item
from tests.unit.streams.codifier.builders import candidate, recovery_session


class FakeClock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def job(tmp_path):
    clock = FakeClock(datetime(2001, 1, 1, tzinfo=UTC))  # far from the machine's time
    settings = Settings().replace(kafka={"bootstrap": "127.0.0.1:9"},
                                  edge={"home": str(tmp_path)})
    job = CodifierJob(settings, clock=clock)
    yield job, clock
    job.loop.close()


def item() -> _Item:
    cand = candidate(recovery_session())
    return _Item(topic="hivemind.candidates", partition=0, offset=7, key=b"ws-test",
                 raw=encode(cand), candidate=cand)


def test_a_held_candidate_comes_due_by_the_injected_clock(job):
    job, clock = job
    held = item()
    job._hold(held, clock().timestamp() + 10)
    assert job._due_items() == []
    clock.at += timedelta(seconds=9.999)
    assert job._due_items() == []
    clock.at += timedelta(seconds=0.001)
    assert job._due_items() == [held]

