"""One injected clock: real time in production, simulated time in the demo.

``Clock`` is anything with ``now() -> datetime`` (aware UTC). :class:`SystemClock` reads
the wall clock; :class:`SimClock` only moves when told to (``advance_to`` / ``advance``),
and never backwards: an earlier time is ignored, so several producers of event time can
feed one clock in any order. ``clock_for(settings)`` picks the implementation from
``HIVEMIND_CLOCK`` (``real`` | ``sim``).

In ``sim`` mode a worker's clock is *event time*: the codifier advances it to the end of
the latest session it codifies, so a skill learned from week-1 sessions is dated in week 1
of the simulation (its ``created_at`` and its Kafka record timestamp), not at the wall
clock of the laptop that replayed the weeks in a minute.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol

CLOCK_MODES = ("real", "sim")


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    """The wall clock, aware UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class SimClock:
    """A clock that moves only forward and only when advanced.

    Before the first advance ``now()`` returns ``start``, or the wall clock when no start
    was given (a worker that has seen nothing yet still dates things plausibly); the
    first ``advance_to`` of a clock without a start sets it, even to an earlier time.
    Naive datetimes are refused: simulated time is aware UTC like any other time here.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._now = _aware(start) if start is not None else None

    def now(self) -> datetime:
        return self._now if self._now is not None else datetime.now(UTC)

    def advance_to(self, ts: datetime) -> datetime:
        """Move to ``ts`` if it is later than now; returns the (possibly unchanged) now."""
        ts = _aware(ts)
        if self._now is None or ts > self._now:
            self._now = ts
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        if delta < timedelta(0):
            raise ValueError(f"a SimClock does not go back: advance({delta}) is negative")
        self._now = self.now() + delta
        return self._now


def _aware(ts: datetime) -> datetime:
    if ts.tzinfo is None:
        raise ValueError(f"{ts!r} is naive: give an aware UTC datetime")
    return ts.astimezone(UTC)


def clock_for(mode: str) -> SystemClock | SimClock:
    """The clock of ``HIVEMIND_CLOCK`` (``settings.clock``)."""
    if mode == "real":
        return SystemClock()
    if mode == "sim":
        return SimClock()
    raise ValueError(f"clock {mode!r} is not one of {', '.join(CLOCK_MODES)}")
