"""The worker process's runtime: every event loop it makes (its own and the one Faust's
consumer thread makes for itself) is uvloop, and its collector settings."""

from __future__ import annotations

import asyncio
import gc
import threading
import weakref

import pytest

from hivemind_kafka.streams.sessionizer import worker


@pytest.fixture
def restore_runtime():
    policy = asyncio.get_event_loop_policy()
    threshold = gc.get_threshold()
    yield
    asyncio.set_event_loop_policy(policy)
    gc.set_threshold(*threshold)
    gc.unfreeze()


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


def test_tune_gc_freezes_what_is_alive_and_keeps_collecting_cycles(restore_runtime):
    alive = [object() for _ in range(10)]
    worker.tune_gc()
    assert gc.get_freeze_count() >= len(alive)
    assert gc.get_threshold()[0] == worker.GC_GEN0_THRESHOLD

    class Node:
        other: object

    a, b = Node(), Node()
    a.other, b.other = b, a  # a cycle made after the freeze
    gone = weakref.ref(a)
    del a, b
    gc.collect()
    assert gone() is None
