"""The stop deadline: armed by a stop signal, it ends the process after its grace, once."""

from __future__ import annotations

import threading

from hivemind_kafka.runtime.stopping import FORCED_EXIT_CODE, StopDeadline, worker_grace_s


def test_unarmed_deadline_never_exits():
    exits: list[int] = []
    deadline = StopDeadline(0.01, "test", exit=exits.append)
    assert not deadline.fired.wait(0.1)
    assert exits == []


def test_armed_deadline_exits_with_the_forced_code_once_even_if_armed_twice():
    exits: list[int] = []
    done = threading.Event()

    def record(code: int) -> None:
        exits.append(code)
        done.set()

    deadline = StopDeadline(0.01, "test", exit=record)
    deadline.arm()
    deadline.arm()
    assert done.wait(10)
    assert exits == [FORCED_EXIT_CODE]


def test_worker_grace_is_inside_the_supervisor_grace_and_positive():
    for grace in (0.001, 0.5, 1, 5, 30, 3600):
        own = worker_grace_s(grace)
        assert 0 < own < grace
