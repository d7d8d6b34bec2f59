"""Switchback holdout: for which periods an agent does *not* receive a skill.

Deterministic and documented so the sync (which removes the skill's file for a held-out
period and restores it for a present one) and the report (which compares the two
cohorts) agree without talking to each other:

    period = floor(unix_seconds(at) / period_s)            # default period_s 86400: a UTC day
    bucket = int(sha256(f"{skill_name}\\x00{agent_id}\\x00{period}").hexdigest()[:8], 16) / 2**32
    held_out = bucket < share                              # default share 0.5

The unit randomized is the *agent-period*: each agent is re-drawn every period, so a
small team still produces many randomized units (5 agents over 4 weeks: ~140 agent-days,
half of them held out), and every agent serves as its own comparison, which takes the
differences in ability between agents out of the comparison. A share of 0.5 gives the
most information per session (the variance of the comparison goes with
1 / (share (1 - share))); it also withholds each skill on half the days, so a large fleet,
which has information to spare, can set a smaller share for its workspace
(``HIVEMIND_MEASURE_HOLDOUT_SHARES``, e.g. ``big-team=0.2``; the edge and the report read
the same setting). Keyed by skill *name*
(not version): cohorts of different skills are independent; versions of one skill are
live at different times, so their experiments use different periods anyway.

Assumptions the analysis relies on (README, "Measure"):

* **No carry-over across a period boundary**: a skill removed today does not act
  through what it did yesterday (notes, scripts or habits it left behind). Carry-over
  makes the held-out cohort look more like the present one: the measured effect shrinks
  toward zero (``analytics.eval`` plants it and reports by how much). It never flips the
  sign, so it costs power, not false retirements.
* **The skill does not change which agents work on a given day** (the number of
  agent-periods per cohort is checked against ``share``: the sample-ratio check).

A session's cohort is what its agent had on disk when the session started (the sync's
``skills-in-scope.json``, recorded on the session_start event); the hash is only the
report's fallback for sessions that recorded nothing.
"""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, datetime, timedelta

from msgspec import Struct

DEFAULT_HOLDOUT_SHARE = 0.5
DEFAULT_PERIOD_S = 86_400
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _check_share(share: float) -> None:
    if not 0.0 <= share < 1.0 or math.isnan(share):
        raise ValueError(f"holdout share must be in [0, 1), got {share}: set "
                         "HIVEMIND_MEASURE_HOLDOUT_SHARE to a value such as 0.5")


def _check_period(period_s: int) -> None:
    if period_s < 60:
        raise ValueError(f"holdout period must be at least 60 seconds, got {period_s}: set "
                         "HIVEMIND_MEASURE_PERIOD_S (86400 = one UTC day)")


def period_index(at: datetime, period_s: int = DEFAULT_PERIOD_S) -> int:
    """The period holding ``at`` (aware): whole ``period_s`` since the Unix epoch."""
    if at.tzinfo is None:
        raise ValueError("period_index needs an aware datetime (UTC)")
    return int((at - EPOCH).total_seconds() // period_s)


def holdout_bucket(skill_name: str, agent_id: str, period: int) -> float:
    """The documented uniform draw in [0, 1) of one (skill, agent, period)."""
    digest = hashlib.sha256(f"{skill_name}\x00{agent_id}\x00{period}".encode()).hexdigest()
    return int(digest[:8], 16) / 2**32


class HoldoutDesign(Struct, frozen=True, kw_only=True):
    """The assignment's two parameters (``HIVEMIND_MEASURE_HOLDOUT_SHARE``,
    ``HIVEMIND_MEASURE_PERIOD_S``); the sync and the report must use the same ones."""

    share: float = DEFAULT_HOLDOUT_SHARE
    period_s: int = DEFAULT_PERIOD_S

    def __post_init__(self) -> None:
        _check_share(self.share)
        _check_period(self.period_s)

    def period_of(self, at: datetime) -> int:
        return period_index(at, self.period_s)

    def period_start(self, period: int) -> datetime:
        return EPOCH + timedelta(seconds=period * self.period_s)

    def is_held_out(self, skill_name: str, agent_id: str, at: datetime) -> bool:
        return holdout_bucket(skill_name, agent_id, self.period_of(at)) < self.share

    def at(self, when: datetime) -> PeriodAssignment:
        """The assignment of the period holding ``when`` (one sync pass uses one)."""
        return PeriodAssignment(design=self, period=self.period_of(when))


class PeriodAssignment(Struct, frozen=True, kw_only=True):
    """The holdout of one period: what a sync pass applies to every skill it writes."""

    design: HoldoutDesign
    period: int

    def held_out(self, skill_name: str, agent_id: str) -> bool:
        return holdout_bucket(skill_name, agent_id, self.period) < self.design.share

    def ends_at(self) -> datetime:
        """When this period's draws stop holding (the next period's start)."""
        return self.design.period_start(self.period + 1)


def current_assignment(design: HoldoutDesign | None = None) -> PeriodAssignment:
    return (design or HoldoutDesign()).at(datetime.now(UTC))


def is_held_out(skill_name: str, agent_id: str, share: float = DEFAULT_HOLDOUT_SHARE, *,
                at: datetime | None = None, period_s: int = DEFAULT_PERIOD_S) -> bool:
    """True when ``agent_id`` is held out of ``skill_name`` in the period holding ``at``
    (default: now)."""
    _check_share(share)
    _check_period(period_s)
    when = at or datetime.now(UTC)
    return holdout_bucket(skill_name, agent_id, period_index(when, period_s)) < share
