"""A stage process's collector settings (:mod:`hivemind_kafka.runtime.memory`)."""

from __future__ import annotations

import gc
import weakref

import pytest

from hivemind_kafka.runtime import memory


@pytest.fixture
def restore_gc():
    threshold = gc.get_threshold()
    yield
    gc.set_threshold(*threshold)
    gc.unfreeze()


def test_tune_gc_freezes_what_is_alive_and_keeps_collecting_cycles(restore_gc):
    alive = [object() for _ in range(10)]
    memory.tune_gc()
    assert gc.get_freeze_count() >= len(alive)
    assert gc.get_threshold()[0] == memory.GC_GEN0_THRESHOLD

    class Node:
        other: object

    a, b = Node(), Node()
    a.other, b.other = b, a  # a cycle made after the freeze
    gone = weakref.ref(a)
    del a, b
    gc.collect()
    assert gone() is None
