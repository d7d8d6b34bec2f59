"""Each vertical's headline metric, per workspace per period, with a Wilson interval (pure).

``headline_metrics(sessions, outcomes)`` reads pyarrow tables with the sink's columns
(other columns are ignored) and returns value objects; nothing here reads files or Kafka.

==================  ==========  ==============================================================
metric              vertical    definition (one period = the sessions that *started* in it)
==================  ==========  ==============================================================
edit_acceptance     coding      edits accepted / (accepted + rejected), from the sessions'
                                edit counts (schemas.sessions: native Claude Code signals).
                                Rows without counts (written before Session v2) are left out.
deflection          support     sessions resolved without a human (``resolved``,
                                ``deflected``) / sessions with a resolution, that one or a
                                human hand-off (``escalated``, ``handed_off``); a session
                                ever handed to a human is not deflected.
reply               sdr         sessions with a reply (``replied``, ``meeting_booked``) /
                                sessions whose outreach reached someone (any SDR label
                                except ``bounced``: ``bounced`` outreach is left out).
meeting             sdr         sessions with ``meeting_booked`` / the same denominator.
==================  ==========  ==============================================================

Joining outcomes: by (workspace, session id), deduplicated on ``outcome_id``, whenever they
arrived, up to the outcome horizon after the session's end (``horizon_s``, default 14
days; equal is within): later ones are counted in ``outcomes_beyond_horizon`` and left
out, outcomes of sessions not in ``sessions`` in ``outcomes_unmatched``. A session with
several generations (re-opened) counts once, from its first start to its last end.

Intervals: Wilson on *effective* counts (analytics.stats): edits cluster in sessions and
sessions in agents, so the design effect over sessions (edits) or agents (sessions)
divides the counts first, as the attribution does. ``total`` pools every period.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from enum import StrEnum

import pyarrow as pa
from msgspec import Struct

from hivemind_kafka.analytics.stats import (
    DEFAULT_CONFIDENCE,
    Interval,
    design_effect,
    effective_counts,
    wilson,
)
from hivemind_kafka.schemas.outcomes import (
    DEFAULT_OUTCOME_HORIZON_S,
    is_within_horizon,
    normalize_label,
)


class Metric(StrEnum):
    EDIT_ACCEPTANCE = "edit_acceptance"
    DEFLECTION = "deflection"
    REPLY = "reply"
    MEETING = "meeting"


VERTICAL_METRICS: dict[str, tuple[Metric, ...]] = {
    "coding": (Metric.EDIT_ACCEPTANCE,),
    "support": (Metric.DEFLECTION,),
    "sdr": (Metric.REPLY, Metric.MEETING),
}
PERIODS = ("day", "week")
RESOLVED_WITHOUT_HUMAN = frozenset({"resolved", "deflected"})
HANDED_TO_HUMAN = frozenset({"escalated", "handed_off"})
SDR_LABELS = frozenset({"replied", "meeting_booked", "qualified", "no_reply", "unsubscribed",
                        "disqualified", "bounced"})
REPLIED = frozenset({"replied", "meeting_booked"})
REQUIRED_SESSION_COLUMNS = ("workspace_id", "session_id", "agent_id", "agent_kind",
                            "started_at", "ended_at")


class HeadlinePoint(Struct, frozen=True):
    period_start: datetime
    successes: int  # accepted edits, deflected sessions, replied / meeting sessions
    trials: int  # the denominator (edits or sessions)
    sessions: int  # sessions contributing to it
    rate: Interval  # Wilson, on effective counts
    design_effect: float = 1.0


class Headline(Struct, frozen=True):
    workspace_id: str
    metric: Metric
    points: list[HeadlinePoint]  # one per period with data, oldest first
    total: HeadlinePoint  # every period pooled (period_start: the first period)


class HeadlineReport(Struct, frozen=True):
    period: str
    confidence: float
    headlines: list[Headline]  # by workspace, then in VERTICAL_METRICS order
    outcomes_beyond_horizon: int = 0
    outcomes_unmatched: int = 0

    def for_workspace(self, workspace_id: str) -> list[Headline]:
        return [h for h in self.headlines if h.workspace_id == workspace_id]

    def get(self, workspace_id: str, metric: Metric | str) -> Headline | None:
        return next((h for h in self.headlines
                     if h.workspace_id == workspace_id and h.metric == metric), None)


def period_start(ts: datetime, period: str) -> datetime:
    """The UTC day, or the week starting Monday 00:00 UTC, that holds ``ts``."""
    if period not in PERIODS:
        raise ValueError(f"period={period!r}: expected one of {', '.join(PERIODS)}")
    ts = ts.astimezone(UTC) if ts.tzinfo else ts.replace(tzinfo=UTC)
    day = ts.replace(hour=0, minute=0, second=0, microsecond=0)
    return day if period == "day" else day - timedelta(days=day.weekday())


def headline_metrics(sessions: pa.Table, outcomes: pa.Table | None = None, *,
                     period: str = "week", confidence: float = DEFAULT_CONFIDENCE,
                     horizon_s: float = DEFAULT_OUTCOME_HORIZON_S,
                     workspace: str | None = None) -> HeadlineReport:
    """The headline metrics of every workspace in ``sessions`` (or of ``workspace``).

    Raises ``ValueError`` naming the columns ``sessions`` lacks (see
    :data:`REQUIRED_SESSION_COLUMNS`), or for an unknown ``period``.
    """
    missing = [c for c in REQUIRED_SESSION_COLUMNS if c not in sessions.column_names]
    if missing:
        raise ValueError(f"sessions table lacks columns {missing}: read "
                         f"{', '.join(REQUIRED_SESSION_COLUMNS)} (and the edit counts)")
    if period not in PERIODS:
        raise ValueError(f"period={period!r}: expected one of {', '.join(PERIODS)}")
    rows = _session_rows(sessions, workspace)
    spans = _spans(rows)
    labels, beyond, unmatched = _joined_labels(outcomes, spans, horizon_s, workspace)
    # (workspace, metric) -> period -> [(cluster, session id, successes, trials)]
    cells: dict[tuple[str, Metric], dict[datetime, list[tuple[str, str, int, int]]]] = \
        defaultdict(lambda: defaultdict(list))
    for row in rows:  # edits: one row per generation
        if row["kind"] != "coding" or row["accepted"] is None or row["rejected"] is None:
            continue
        trials = row["accepted"] + row["rejected"]
        if trials:
            cells[(row["ws"], Metric.EDIT_ACCEPTANCE)][period_start(row["start"], period)] \
                .append((row["sid"], row["sid"], row["accepted"], trials))
    for key, span in spans.items():
        kind, found = span["kind"], labels.get(key, set())
        start = period_start(span["start"], period)
        if kind == "support":
            known = found & (RESOLVED_WITHOUT_HUMAN | HANDED_TO_HUMAN)
            if known:
                deflected = int(not found & HANDED_TO_HUMAN)
                cells[(key[0], Metric.DEFLECTION)][start].append(
                    (span["agent"], key[1], deflected, 1))
        elif kind == "sdr" and found & (SDR_LABELS - {"bounced"}):
            cells[(key[0], Metric.REPLY)][start].append(
                (span["agent"], key[1], int(bool(found & REPLIED)), 1))
            cells[(key[0], Metric.MEETING)][start].append(
                (span["agent"], key[1], int("meeting_booked" in found), 1))
    order = {m: i for i, m in enumerate(m for ms in VERTICAL_METRICS.values() for m in ms)}
    headlines = []
    for (ws, metric) in sorted(cells, key=lambda k: (k[0], order[k[1]])):
        by_period = cells[(ws, metric)]
        points = [_point(start, by_period[start], confidence) for start in sorted(by_period)]
        pooled = [entry for start in sorted(by_period) for entry in by_period[start]]
        headlines.append(Headline(ws, metric, points,
                                  _point(min(by_period), pooled, confidence)))
    return HeadlineReport(period=period, confidence=confidence, headlines=headlines,
                          outcomes_beyond_horizon=beyond, outcomes_unmatched=unmatched)


def _point(start: datetime, entries: list[tuple[str, str, int, int]],
           confidence: float) -> HeadlinePoint:
    """Successes over trials of ``entries`` (cluster, session, successes, trials), with a
    Wilson interval on the counts divided by the design effect over the clusters."""
    clusters: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for cluster, _, s, n in entries:
        clusters[cluster][0] += s
        clusters[cluster][1] += n
    successes = sum(s for s, _ in clusters.values())
    trials = sum(n for _, n in clusters.values())
    deff = design_effect((s, n) for s, n in clusters.values())
    rate = (wilson(*effective_counts(successes, trials, deff), confidence) if trials
            else Interval(math.nan, 0.0, 1.0))
    sessions = len({session for _, session, _, _ in entries})
    return HeadlinePoint(start, successes, trials, sessions, rate, deff)


def _col(table: pa.Table, name: str) -> list:
    return table.column(name).to_pylist() if name in table.column_names else \
        [None] * table.num_rows


def _aware(ts: datetime) -> datetime:
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)


def _session_rows(sessions: pa.Table, workspace: str | None) -> list[dict]:
    rows = []
    columns = zip(_col(sessions, "workspace_id"), _col(sessions, "session_id"),
                  _col(sessions, "generation"), _col(sessions, "agent_id"),
                  _col(sessions, "agent_kind"), _col(sessions, "started_at"),
                  _col(sessions, "ended_at"), _col(sessions, "edits_accepted"),
                  _col(sessions, "edits_rejected"), strict=True)
    for ws, sid, gen, agent, kind, start, end, accepted, rejected in columns:
        if workspace is not None and ws != workspace:
            continue
        rows.append({"ws": ws, "sid": sid, "gen": gen or 0, "agent": agent or "",
                     "kind": kind or "", "start": _aware(start), "end": _aware(end or start),
                     "accepted": accepted, "rejected": rejected})
    return rows


def _spans(rows: Iterable[dict]) -> dict[tuple[str, str], dict]:
    """One entry per (workspace, session id): first start, last end, its agent and kind."""
    spans: dict[tuple[str, str], dict] = {}
    for row in rows:
        key = (row["ws"], row["sid"])
        span = spans.get(key)
        if span is None:
            spans[key] = {"start": row["start"], "end": row["end"], "agent": row["agent"],
                          "kind": row["kind"]}
        else:
            if row["start"] < span["start"]:
                span.update(start=row["start"], agent=row["agent"], kind=row["kind"])
            span["end"] = max(span["end"], row["end"])
    return spans


def _joined_labels(outcomes: pa.Table | None, spans: dict[tuple[str, str], dict],
                   horizon_s: float, workspace: str | None
                   ) -> tuple[dict[tuple[str, str], set[str]], int, int]:
    """Labels per session within the horizon, and the counts of outcomes left out."""
    labels: dict[tuple[str, str], set[str]] = defaultdict(set)
    beyond = unmatched = 0
    if outcomes is None or outcomes.num_rows == 0:
        return labels, 0, 0
    seen: set[str] = set()
    for oid, ws, sid, label, ts in zip(_col(outcomes, "outcome_id"),
                                       _col(outcomes, "workspace_id"),
                                       _col(outcomes, "session_id"), _col(outcomes, "label"),
                                       _col(outcomes, "ts"), strict=True):
        if workspace is not None and ws != workspace:
            continue
        if oid is not None:
            if oid in seen:
                continue
            seen.add(oid)
        span = spans.get((ws, sid))
        if span is None:
            unmatched += 1
            continue
        if ts is not None and not is_within_horizon(_aware(ts), span["end"], horizon_s):
            beyond += 1
            continue
        norm = normalize_label(label)
        if norm:
            labels[(ws, sid)].add(norm)
    return labels, beyond, unmatched


# ---------------------------------------------------------------- before / after


class ChangeVerdict(StrEnum):
    IMPROVED = "improved"
    WORSE = "worse"
    NO_DETECTABLE_CHANGE = "no detectable change"
    INSUFFICIENT_DATA = "insufficient data"


class Change(Struct, frozen=True):
    """One rate in its first period against its last: a single, fixed-sample comparison
    (``after - before`` with Newcombe's hybrid score interval from the two Wilson
    intervals). It is descriptive: nothing but time separates the two periods."""

    workspace_id: str  # "all" for the pooled fleet
    metric: str  # "success" or a Metric
    before_period: datetime
    after_period: datetime
    before: Interval
    after: Interval
    before_trials: int
    after_trials: int
    difference: Interval
    verdict: ChangeVerdict


def newcombe_difference(before: Interval, after: Interval) -> Interval:
    """``after - before`` with Newcombe's (1998, method 10) interval built from the two
    Wilson intervals; (nan, -1, 1) when either rate is unknown."""
    if math.isnan(before.estimate) or math.isnan(after.estimate):
        return Interval(math.nan, -1.0, 1.0)
    d = after.estimate - before.estimate
    low = d - math.sqrt((after.estimate - after.low) ** 2 + (before.high - before.estimate) ** 2)
    high = d + math.sqrt((after.high - after.estimate) ** 2 + (before.estimate - before.low) ** 2)
    return Interval(d, max(-1.0, low), min(1.0, high))


def change_between(workspace_id: str, metric: str, before_period: datetime, before: Interval,
                   before_trials: int, after_period: datetime, after: Interval,
                   after_trials: int) -> Change:
    """The verdict says "no detectable change" whenever the interval covers 0."""
    diff = newcombe_difference(before, after)
    if not before_trials or not after_trials or math.isnan(diff.estimate):
        verdict = ChangeVerdict.INSUFFICIENT_DATA
    elif diff.low > 0:
        verdict = ChangeVerdict.IMPROVED
    elif diff.high < 0:
        verdict = ChangeVerdict.WORSE
    else:
        verdict = ChangeVerdict.NO_DETECTABLE_CHANGE
    return Change(workspace_id, metric, before_period, after_period, before, after,
                  before_trials, after_trials, diff, verdict)


def first_to_last(headline: Headline) -> Change | None:
    """The headline metric's first period against its last (None with one period)."""
    if len(headline.points) < 2:
        return None
    a, b = headline.points[0], headline.points[-1]
    return change_between(headline.workspace_id, headline.metric.value, a.period_start, a.rate,
                          a.trials, b.period_start, b.rate, b.trials)
