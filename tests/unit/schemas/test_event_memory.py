"""TurnEvent instances are left out of the cyclic garbage collector (``gc=False``): a
worker holds a batch's events (100k at 2,000 records of 50) while it allocates, and
tracked events made collections take about a fifth of the sessionizer's processing CPU
(``python -m bench.sessionizer`` prints the processor's GC share). That is only safe
while an event cannot be part of a reference cycle: no field may hold a container."""

from __future__ import annotations

import gc
import types
import typing
from datetime import datetime
from enum import Enum

import msgspec

from hivemind_kafka.schemas.events import TurnBatch, TurnEvent, decode_turn_record, encode_batch


def _scalar(tp: object) -> bool:
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _scalar(typing.get_args(tp)[0])
    if origin in (typing.Union, types.UnionType):
        return all(_scalar(arg) for arg in typing.get_args(tp))
    if isinstance(tp, type):
        return issubclass(tp, (str, int, float, bool, bytes, datetime, Enum, type(None)))
    return tp is None


def test_every_turn_event_field_is_a_scalar_so_an_untracked_event_cannot_close_a_cycle():
    hints = typing.get_type_hints(TurnEvent, include_extras=True)
    containers = [f.name for f in msgspec.structs.fields(TurnEvent) if not _scalar(hints[f.name])]
    assert containers == [], (
        f"TurnEvent fields {containers} can hold containers: an event could then be part "
        "of a reference cycle, which gc=False would leak; drop gc=False or the field")


def test_decoded_events_are_not_tracked_by_the_collector():
    raw = encode_batch([TurnEvent(event_id=f"e{i}", workspace_id="ws", session_id="s",
                                  agent_id="a", agent_kind="coding", project="p", seq=i,
                                  ts=datetime.fromisoformat("2026-01-01T00:00:00+00:00"),
                                  kind="prompt", text="hi") for i in range(3)])
    events = decode_turn_record(raw)
    assert len(events) == 3
    assert not any(gc.is_tracked(e) for e in events)
    # The batch envelope holds a list, so it stays tracked.
    assert TurnBatch.__struct_config__.gc
