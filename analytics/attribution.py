"""Which skills make sessions succeed: cohorts per skill, effect estimates, rates over time.

Pure: reads pyarrow tables with the columns of the Delta tables (``sessions``, ``outcomes``,
``skills``, ``exposures``) and returns value objects; the report and the simulator eval
share this one code path.

Design (intention to treat, the randomized comparison):

* A skill's *scope* is every session of its workspace that started while the skill was
  live (published_at <= started_at < retired_at).
* Its *cohort* is the randomized assignment, not what the agent did: ``present`` vs
  ``held_out``. Where the session has exposure rows with a cohort (the assignment the
  agent recorded at session start: the sync's scope via the Claude Code hook, or the
  SDK), the recorded cohort of that skill is the assignment; a session without a
  recorded cohort for the skill falls back to ``schemas.holdout.is_held_out(skill,
  agent)``. A recorded cohort that differs from the hash is counted as an *assignment
  mismatch* (the sync ran with another share, an old client...) and reported, never
  re-labelled to the hash's answer. Each effect says how many sessions took their
  cohort from a record and how many from the hash. The headline effect is
  ``rate(present) - rate(held_out)`` with a Newcombe interval. Assignment is by agent and
  the unit of analysis is the session: sessions of one agent are correlated, so each
  cohort's counts are divided by its design effect (``1 + (m - 1) * icc`` over agents,
  analytics.stats.design_effect) before the interval is computed. Without it, a fleet
  whose agents differ in skill gets intervals that are too narrow.
* A session's result is its latest *signal* outcome with a known result, else its latest
  *detected* one (streams.outcomes), else unknown. Outcomes join by (workspace, session id)
  whenever they arrive; sessions with an unknown result leave the denominators (the
  per-cohort coverage is reported, so differential missingness is visible).
* Below ``min_sample`` sessions with a known result in either cohort the verdict is
  ``insufficient_data``; a sample ratio mismatch of the agents in scope (p < 0.001) makes
  it ``sample_ratio_mismatch``: no effect is claimed from broken randomization.
* Secondary, *non-randomized*: among present sessions, invoked vs not invoked (the agent
  chose when to load the skill, so this difference is confounded by task type).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from enum import StrEnum

import pyarrow as pa
from msgspec import Struct

from analytics.stats import (
    DEFAULT_CONFIDENCE,
    MIN_SAMPLE_PER_COHORT,
    Interval,
    SrmResult,
    design_effect,
    effective_counts,
    has_minimum_sample,
    newcombe_diff,
    srm_check,
    wilson,
)
from schemas.holdout import DEFAULT_HOLDOUT_SHARE, holdout_bucket
from schemas.outcomes import OutcomeResult, OutcomeSource, result_of

FAR_FUTURE = datetime.max.replace(tzinfo=UTC)
FAR_PAST = datetime.min.replace(tzinfo=UTC)


class Verdict(StrEnum):
    EFFECTIVE = "effective"  # effect interval entirely above 0
    HARMFUL = "harmful"  # effect interval entirely below 0
    NO_DETECTABLE_EFFECT = "no_detectable_effect"
    INSUFFICIENT_DATA = "insufficient_data"
    SAMPLE_RATIO_MISMATCH = "sample_ratio_mismatch"


class SessionResult(Struct, frozen=True):
    workspace_id: str
    session_id: str
    agent_id: str
    started_at: datetime
    result: OutcomeResult


class SkillWindow(Struct, frozen=True):
    workspace_id: str
    skill_name: str
    version: int
    published_at: datetime
    retired_at: datetime | None = None


class CohortCounts(Struct, frozen=True):
    sessions: int  # in scope, any result
    known: int  # with a known result (the denominator)
    successes: int
    agents: int = 0  # agents with a known result
    # Variance inflation from sessions clustering by agent (analytics.stats.design_effect).
    design_effect: float = 1.0

    def effective(self) -> tuple[float, float]:
        return effective_counts(self.successes, self.known, self.design_effect)

    def rate(self, confidence: float = DEFAULT_CONFIDENCE) -> Interval:
        """Wilson interval on the effective counts (the estimate is the raw rate)."""
        return wilson(*self.effective(), confidence)

    @property
    def coverage(self) -> float:
        return self.known / self.sessions if self.sessions else 0.0


class SkillEffect(Struct, frozen=True):
    workspace_id: str
    skill_name: str
    version: int
    present: CohortCounts
    held_out: CohortCounts
    effect: Interval  # present - held_out (nan, -1, 1 when a cohort is empty)
    verdict: Verdict
    srm: SrmResult  # on agents in scope
    # Secondary, non-randomized: invoked vs not invoked among present sessions.
    invoked: CohortCounts
    not_invoked: CohortCounts
    invoked_effect: Interval
    # Where the cohorts came from: sessions with a recorded cohort for this skill, those
    # assigned by the holdout hash (nothing recorded), and recorded ones the hash contradicts.
    recorded_sessions: int = 0
    hash_sessions: int = 0
    assignment_mismatches: int = 0


class RatePoint(Struct, frozen=True):
    group: str  # workspace id, or "<skill>/<cohort>"
    period_start: datetime
    known: int
    successes: int
    rate: Interval
    sufficient: bool


# ---------------------------------------------------------------- reading the tables


def _col(table: pa.Table, *names: str) -> list | None:
    for name in names:
        if name in table.column_names:
            return table.column(name).to_pylist()
    return None


def _aware(ts: datetime) -> datetime:
    """Delta hands back aware UTC timestamps; a naive one (another writer) is read as UTC."""
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)


def session_results(sessions: pa.Table, outcomes: pa.Table | None) -> list[SessionResult]:
    """One row per (workspace, session id) with its resolved result (see module doc).

    Re-opened sessions (several generations) count once, from their earliest start.
    Outcomes are deduplicated on ``outcome_id``; they may arrive at any time.
    """
    best: dict[tuple[str, str], tuple[int, datetime, OutcomeResult]] = {}
    if outcomes is not None and outcomes.num_rows:
        seen: set[str] = set()
        ids = _col(outcomes, "outcome_id") or [None] * outcomes.num_rows
        sources = _col(outcomes, "source") or [OutcomeSource.SIGNAL.value] * outcomes.num_rows
        results = _col(outcomes, "result") or [None] * outcomes.num_rows
        labels = _col(outcomes, "label", "outcome") or [None] * outcomes.num_rows
        rows = zip(ids, outcomes.column("workspace_id").to_pylist(),
                   outcomes.column("session_id").to_pylist(), sources, results, labels,
                   outcomes.column("ts").to_pylist(), strict=True)
        for oid, ws, sid, source, result, label, ts in rows:
            if oid is not None:
                if oid in seen:
                    continue
                seen.add(oid)
            res = OutcomeResult(result) if result else result_of(label)
            if res == OutcomeResult.UNKNOWN:
                continue
            rank = 1 if source == OutcomeSource.SIGNAL.value else 0
            key = (ws, sid)
            ts = _aware(ts or FAR_PAST)
            current = best.get(key)
            if current is None or (rank, ts) > (current[0], current[1]):
                best[key] = (rank, ts, res)
    starts: dict[tuple[str, str], tuple[datetime, str, str | None]] = {}
    fallback = _col(sessions, "outcome") or [None] * sessions.num_rows
    for ws, sid, agent, started, label in zip(
        sessions.column("workspace_id").to_pylist(), sessions.column("session_id").to_pylist(),
        sessions.column("agent_id").to_pylist(), sessions.column("started_at").to_pylist(),
        fallback, strict=True,
    ):
        started = _aware(started)
        key = (ws, sid)
        if key not in starts or started < starts[key][0]:
            starts[key] = (started, agent, label or (starts[key][2] if key in starts else None))
    out = []
    for (ws, sid), (started, agent, label) in starts.items():
        found = best.get((ws, sid))
        result = found[2] if found else result_of(label)
        out.append(SessionResult(ws, sid, agent, started, result))
    return out


def skill_windows(skills: pa.Table) -> list[SkillWindow]:
    """Live windows per (workspace, skill name): first publish to retirement (tombstone).

    Reads ``name``/``skill_name``, ``version``, a publish time (``created_at``,
    ``published_at``, ``provenance_created_at`` or ``provenance`` JSON) and ``retired``
    rows (their time from ``retired_at``/``created_at``/``ts``). A skill republished after
    a retirement opens a new window.
    """
    names = _col(skills, "name", "skill_name")
    if names is None or skills.num_rows == 0:
        return []
    n = skills.num_rows
    versions = _col(skills, "version") or [1] * n
    retired = _col(skills, "retired") or [False] * n
    times = _col(skills, "published_at", "created_at", "provenance_created_at", "retired_at", "ts")
    if times is None and "provenance" in skills.column_names:
        times = [_provenance_time(p) for p in skills.column("provenance").to_pylist()]
    if times is None:
        raise ValueError("skills table has no publish time column (created_at / published_at)")
    retired_times = _col(skills, "retired_at") or times
    events = sorted(
        ((ws, name, _aware(rt if r else t), bool(r), v or 0)
         for ws, name, t, rt, r, v in zip(skills.column("workspace_id").to_pylist(), names,
                                          times, retired_times, retired, versions, strict=True)
         if (rt if r else t) is not None),
        key=lambda e: (e[0], e[1], e[2]),
    )
    windows: list[SkillWindow] = []
    open_: dict[tuple[str, str], SkillWindow] = {}
    for ws, name, ts, is_retired, version in events:
        key = (ws, name)
        if is_retired:
            if key in open_:
                w = open_.pop(key)
                windows.append(SkillWindow(ws, name, w.version, w.published_at, ts))
        elif key in open_:
            open_[key] = SkillWindow(ws, name, max(version, open_[key].version), open_[key].published_at)
        else:
            open_[key] = SkillWindow(ws, name, version, ts)
    windows.extend(open_.values())
    return windows


def _provenance_time(provenance: str | None) -> datetime | None:
    if not provenance:
        return None
    created = json.loads(provenance).get("created_at")
    return datetime.fromisoformat(created.replace("Z", "+00:00")) if created else None


def invoked_sessions(exposures: pa.Table | None) -> set[tuple[str, str, str]]:
    """(workspace, session id, skill name) of every session that invoked a skill."""
    if exposures is None or exposures.num_rows == 0:
        return set()
    invoked = _col(exposures, "invoked") or [False] * exposures.num_rows
    return {
        (ws, sid, name)
        for ws, sid, name, inv in zip(
            exposures.column("workspace_id").to_pylist(), exposures.column("session_id").to_pylist(),
            exposures.column("skill_name").to_pylist(), invoked, strict=True)
        if inv
    }


RecordedCohorts = dict[tuple[str, str], dict[str, str]]


def recorded_cohorts(exposures: pa.Table | None) -> RecordedCohorts:
    """(workspace, session id) -> {skill name: recorded cohort} from exposure rows that
    carry a cohort (invoked rows carry none). A (session, skill) recorded twice keeps its
    first row's cohort."""
    if exposures is None or exposures.num_rows == 0 or "cohort" not in exposures.column_names:
        return {}
    out: RecordedCohorts = {}
    for ws, sid, name, cohort in zip(
        exposures.column("workspace_id").to_pylist(), exposures.column("session_id").to_pylist(),
        exposures.column("skill_name").to_pylist(), exposures.column("cohort").to_pylist(),
        strict=True,
    ):
        if cohort in ("present", "held_out"):
            out.setdefault((ws, sid), {}).setdefault(name, cohort)
    return out


def assigned_held_out(r: SessionResult, skill_name: str, recorded: RecordedCohorts,
                      held_by_hash: bool) -> tuple[bool, str]:
    """``(held_out, source)`` of one session for one skill: the recorded cohort when there
    is one (``source`` ``"recorded"``, or ``"mismatch"`` when the hash says otherwise),
    else the hash (``"hash"``)."""
    cohort = recorded.get((r.workspace_id, r.session_id), {}).get(skill_name)
    if cohort is None:
        return held_by_hash, "hash"
    held = cohort == "held_out"
    return held, "recorded" if held == held_by_hash else "mismatch"


def cohort_disagreements(exposures: pa.Table | None, *,
                         held_out_share: float = DEFAULT_HOLDOUT_SHARE) -> dict[tuple[str, str], int]:
    """Per (workspace, skill): exposure rows whose *recorded* cohort (what the sync did)
    differs from the randomized assignment. Non-zero means the sync and the report do not
    agree on the holdout (another share, an old client): the ITT comparison still follows
    the assignment, but the skill was not withheld as designed."""
    if exposures is None or exposures.num_rows == 0 or "cohort" not in exposures.column_names:
        return {}
    agents = _col(exposures, "agent_id")
    if agents is None:
        return {}
    out: dict[tuple[str, str], int] = defaultdict(int)
    for ws, name, agent, cohort in zip(
        exposures.column("workspace_id").to_pylist(), exposures.column("skill_name").to_pylist(),
        agents, exposures.column("cohort").to_pylist(), strict=True,
    ):
        if cohort is None or not agent:
            continue
        assigned = "held_out" if holdout_bucket(name, agent) < held_out_share else "present"
        if cohort != assigned:
            out[(ws, name)] += 1
    return dict(out)


# ---------------------------------------------------------------- the estimates


class _Tally:
    __slots__ = ("by_agent", "known", "sessions", "successes")

    def __init__(self) -> None:
        self.sessions = self.known = self.successes = 0
        self.by_agent: dict[str, list[int]] = defaultdict(lambda: [0, 0])

    def add(self, result: OutcomeResult, agent_id: str = "") -> None:
        self.sessions += 1
        if result != OutcomeResult.UNKNOWN:
            win = result == OutcomeResult.SUCCESS
            self.known += 1
            self.successes += win
            cell = self.by_agent[agent_id]
            cell[0] += win
            cell[1] += 1

    def counts(self, adjust: bool = True) -> CohortCounts:
        deff = design_effect((s, n) for s, n in self.by_agent.values()) if adjust else 1.0
        return CohortCounts(self.sessions, self.known, self.successes,
                            len(self.by_agent), deff)


def skill_effects(results: Iterable[SessionResult], windows: Iterable[SkillWindow], *,
                  invoked: set[tuple[str, str, str]] | None = None,
                  recorded: RecordedCohorts | None = None,
                  held_out_share: float = DEFAULT_HOLDOUT_SHARE,
                  confidence: float = DEFAULT_CONFIDENCE,
                  min_sample: int = MIN_SAMPLE_PER_COHORT,
                  until: datetime | None = None,
                  adjust_for_agents: bool = True) -> list[SkillEffect]:
    """The intention-to-treat effect of every skill window (see module doc).

    ``until`` ignores sessions that started at or after it (a report "as of" a date).
    ``adjust_for_agents=False`` treats sessions as independent (the eval uses it to show
    what the design effect protects against). ``recorded``: :func:`recorded_cohorts`
    (see the module doc); without it every cohort comes from the holdout hash.
    """
    invoked = invoked or set()
    recorded = recorded or {}
    by_ws: dict[str, list[SessionResult]] = defaultdict(list)
    for r in results:
        if until is None or r.started_at < until:
            by_ws[r.workspace_id].append(r)
    effects = []
    for w in windows:
        end = w.retired_at or FAR_FUTURE
        tallies = {k: _Tally() for k in ("present", "held_out", "invoked", "not_invoked")}
        agents: dict[str, bool] = {}
        held_cache: dict[str, bool] = {}
        sources = {"recorded": 0, "hash": 0, "mismatch": 0}
        for r in by_ws.get(w.workspace_id, ()):
            if not (w.published_at <= r.started_at < end):
                continue
            held = held_cache.get(r.agent_id)
            if held is None:
                held = held_cache[r.agent_id] = holdout_bucket(w.skill_name, r.agent_id) < held_out_share
            if recorded:
                held, source = assigned_held_out(r, w.skill_name, recorded, held)
                sources[source] += 1
            else:
                sources["hash"] += 1
            agents[r.agent_id] = held
            if held:
                tallies["held_out"].add(r.result, r.agent_id)
            else:
                tallies["present"].add(r.result, r.agent_id)
                inv = (r.workspace_id, r.session_id, w.skill_name) in invoked
                tallies["invoked" if inv else "not_invoked"].add(r.result, r.agent_id)
        c = {k: t.counts(adjust_for_agents) for k, t in tallies.items()}
        n_held_agents = sum(agents.values())
        srm = srm_check(len(agents) - n_held_agents, n_held_agents, held_out_share)
        effect = _difference(c["present"], c["held_out"], confidence)
        effects.append(SkillEffect(
            workspace_id=w.workspace_id, skill_name=w.skill_name, version=w.version,
            present=c["present"], held_out=c["held_out"], effect=effect,
            verdict=verdict_of(effect, c["present"], c["held_out"], srm, min_sample),
            srm=srm, invoked=c["invoked"], not_invoked=c["not_invoked"],
            invoked_effect=_difference(c["invoked"], c["not_invoked"], confidence),
            recorded_sessions=sources["recorded"] + sources["mismatch"],
            hash_sessions=sources["hash"], assignment_mismatches=sources["mismatch"],
        ))
    return effects


def _difference(a: CohortCounts, b: CohortCounts, confidence: float) -> Interval:
    """Newcombe interval on effective counts; the estimate stays the raw difference."""
    ci = newcombe_diff(*a.effective(), *b.effective(), confidence)
    if a.known == 0 or b.known == 0:
        return ci
    d = a.successes / a.known - b.successes / b.known
    return Interval(d, ci.low, ci.high)


def verdict_of(effect: Interval, present: CohortCounts, held_out: CohortCounts,
               srm: SrmResult, min_sample: int) -> Verdict:
    if not has_minimum_sample(present.known, held_out.known, minimum=min_sample):
        return Verdict.INSUFFICIENT_DATA
    if srm.mismatch:
        return Verdict.SAMPLE_RATIO_MISMATCH
    if effect.low > 0:
        return Verdict.EFFECTIVE
    if effect.high < 0:
        return Verdict.HARMFUL
    return Verdict.NO_DETECTABLE_EFFECT


# ---------------------------------------------------------------- rates over time


def period_start(ts: datetime, period: str) -> datetime:
    """Start (UTC midnight) of the ``day`` or ISO ``week`` (Monday) holding ``ts``."""
    day = ts.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        return day
    if period == "week":
        return day - timedelta(days=day.weekday())
    raise ValueError(f"period must be 'day' or 'week', got {period!r}")


def rate_series(results: Iterable[SessionResult], *, period: str = "day",
                group_of=lambda r: r.workspace_id,
                confidence: float = DEFAULT_CONFIDENCE,
                min_sample: int = MIN_SAMPLE_PER_COHORT) -> list[RatePoint]:
    """Success rate per (group, period) with Wilson intervals, unsmoothed.

    ``group_of(result)`` returns the group name or None to leave the session out (the
    default groups by workspace). Points below ``min_sample`` are kept with
    ``sufficient=False`` so a report can show them as insufficient rather than drop them.
    """
    tallies: dict[tuple[str, datetime], _Tally] = defaultdict(_Tally)
    for r in results:
        group = group_of(r)
        if group is not None:
            tallies[(group, period_start(r.started_at, period))].add(r.result)
    return [
        RatePoint(group, start, t.known, t.successes, wilson(t.successes, t.known, confidence),
                  t.known >= min_sample)
        for (group, start), t in sorted(tallies.items())
    ]


def cohort_series(results: Iterable[SessionResult], window: SkillWindow, *, period: str = "day",
                  held_out_share: float = DEFAULT_HOLDOUT_SHARE,
                  confidence: float = DEFAULT_CONFIDENCE,
                  min_sample: int = MIN_SAMPLE_PER_COHORT,
                  recorded: RecordedCohorts | None = None) -> list[RatePoint]:
    """Rate over time of one skill's present and held-out cohorts (groups
    ``"<skill>/present"`` and ``"<skill>/held_out"``), cohorts as in :func:`skill_effects`."""
    end = window.retired_at or FAR_FUTURE
    recorded = recorded or {}

    def group(r: SessionResult) -> str | None:
        if r.workspace_id != window.workspace_id or not (window.published_at <= r.started_at < end):
            return None
        held = holdout_bucket(window.skill_name, r.agent_id) < held_out_share
        if recorded:
            held, _ = assigned_held_out(r, window.skill_name, recorded, held)
        return f"{window.skill_name}/{'held_out' if held else 'present'}"

    return rate_series(results, period=period, group_of=group, confidence=confidence,
                       min_sample=min_sample)


def verdict_counts(effects: Iterable[SkillEffect]) -> dict[str, int]:
    """Skills per verdict (every verdict present, zeros included): the metrics' source."""
    counts = {v.value: 0 for v in Verdict}
    for e in effects:
        counts[e.verdict.value] += 1
    return counts
