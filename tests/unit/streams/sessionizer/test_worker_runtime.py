"""The worker process's runtime: every event loop it makes (its own and the one Faust's
consumer thread makes for itself) is uvloop."""

from __future__ import annotations

import asyncio
import threading

import pytest

from hivemind_kafka.streams.sessionizer import worker


@pytest.fixture
def restore_runtime():
    policy = asyncio.get_event_loop_policy()
    yield
    asyncio.set_event_loop_policy(policy)


def test_a_loop_made_later_in_another_thread_is_uvloop_too(restore_runtime):
    uvloop = pytest.importorskip("uvloop")
    main = worker.new_event_loop()
    made: list[asyncio.AbstractEventLoop] = []
    # What mode's ServiceThread does for Faust's consumer thread.
    thread = threading.Thread(target=lambda: made.append(asyncio.new_event_loop()))
    thread.start()
    thread.join()
    try:
        assert isinstance(main, uvloop.Loop)
        assert isinstance(made[0], uvloop.Loop)
    finally:
        main.close()
        made[0].close()
