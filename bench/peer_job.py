"""The sessionizer's job for the benchmark's peers: one turns record in, the sessions and
candidates it closes out, over any key-value state.

It is the same job the Faust worker runs (the same :mod:`hivemind_kafka.streams.sessionizer.logic`,
the same state bytes, chunk keys and output encodings), so the peers differ from the worker only in
the framework around it: how records are consumed, how state is kept and written, how
outputs are produced. Idle closing (ticks) is left out: the benchmark's sessions all end
on a session_end.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime

from hivemind_kafka.runtime.settings import SessionizerSettings
from hivemind_kafka.schemas.events import decode_turn_record
from hivemind_kafka.schemas.sessions import encode
from hivemind_kafka.streams.sessionizer import logic

Output = tuple[str, bytes, bytes]  # ("sessions" | "candidates", key, value)


class SessionJob:
    def __init__(self, settings: SessionizerSettings | None = None) -> None:
        self.settings = settings or SessionizerSettings()
        self.records = 0
        self.first_record_at: float | None = None

    def process(self, value: bytes, partition: int, get: Callable[[bytes], bytes | None],
                put: Callable[[bytes, bytes | None], None]) -> list[Output]:
        if self.first_record_at is None:
            self.first_record_at = time.time()
            announce(first_record_at=self.first_record_at)
        self.records += 1
        events = decode_turn_record(value)
        key = logic.state_key(events[0].workspace_id, events[0].session_id)
        raw = get(key)
        state = logic.join_state(key, raw, get) if raw is not None else None
        new, emitted = logic.on_events(state, events, partition=partition,
                                       now=datetime.now(UTC), settings=self.settings,
                                       owned=True)
        if new is None:
            if raw is not None:
                put(key, None)
        else:
            _, head, writes, _ = logic.store_state(key, new, self.settings.max_record_bytes)
            for chunk, value in writes.items():
                put(chunk, value)
            put(key, head)
        out: list[Output] = []
        for session in emitted:
            ws = session.workspace_id.encode()
            out.append(("sessions", ws, encode(session)))
            candidate = logic.candidate_for(session)
            if candidate is not None:
                out.append(("candidates", ws, encode(candidate)))
        return out


def announce(**fields: float | str) -> None:
    """One JSON line on stdout for the benchmark that started this peer."""
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()
