"""Which skills make sessions succeed: the randomized comparison, per skill version.

Pure: reads pyarrow tables with the columns of the Delta tables (``sessions``,
``outcomes``, ``skills``, ``exposures``) and returns value objects. ``hivemind report``,
the auto-retirer, the metrics and the simulator eval share this one code path
(:class:`ScopeFrame` + :func:`estimate_effects`), vectorized so the eval can replay every
look the deployed job makes.

Design (intention to treat, switchback randomization, schemas.holdout):

* **Windows.** Every published version of a skill (a new version number or new text,
  ``content_hash``) opens its own window, from its publish time to the next version, its
  retirement (tombstone) or now: versions are estimated separately and a change in the
  text restarts the clock.
* **Scope and cohort.** A window's scope is every session of its workspace that started
  inside it. A session's cohort for the skill is what its agent recorded at session start
  (exposure rows with a cohort: the sync's ``skills-in-scope.json`` through the hook, or
  the SDK). A session that recorded a scope without this skill, or recorded another
  version as present, is in neither cohort (not randomized to this version). A session
  that recorded no scope at all (an old client) falls back to the hash of
  (skill, agent, period of its start). Recorded cohorts the hash contradicts are counted
  as assignment mismatches, never re-labelled.
* **Unit of analysis = unit randomized.** The switchback draws each agent-period
  (agent, UTC day by default); those are the clusters. The effect is
  ``rate(present) - rate(held_out)`` post-stratified by agent with cluster-robust
  small-sample variance (analytics.clusters): agents with enough days in both arms are
  compared with themselves.
* **Anytime-valid.** The interval is a confidence sequence and the verdicts come from
  mixture e-values (analytics.sequential): the measure job may look every ten minutes
  without raising the error rate. A verdict needs ``min_clusters`` agent-periods with a
  known outcome in *each* cohort, a passing sample-ratio check (agent-periods per cohort
  against the designed share, anytime-valid), the sequence excluding 0, and e-BH across
  the workspace's skills at ``fdr`` (false-discovery control over the library).
* **Outcomes.** A session's result is its latest *signal* outcome with a known result,
  else its latest *detected* one, else unknown. Outcomes join by (workspace, session id)
  whenever they arrive; sessions with an unknown result leave the denominators and each
  cohort's outcome coverage is shown (differential missingness is visible).
* Secondary, *non-randomized*: among present sessions, invoked vs not invoked (agents
  choose when to load a skill, so this difference is confounded by the task).
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from enum import StrEnum

import numpy as np
import pyarrow as pa
from msgspec import Struct

from hivemind_kafka.analytics import sequential
from hivemind_kafka.analytics.clusters import estimate_groups
from hivemind_kafka.analytics.scope import (
    EPOCH,
    HELD,
    NO_END,
    PRESENT,
    SOURCE_HASH,
    SOURCE_MISMATCH,
    SOURCE_RECORDED,
    US,
    ScopeFrame,
    SkillWindow,
    as_utc,
    from_micros,
    micros,
    switch_counts,
)
from hivemind_kafka.analytics.stats import (
    DEFAULT_CONFIDENCE,
    MIN_SAMPLE_PER_COHORT,
    Interval,
    SrmResult,
    effective_counts,
    wilson,
)
from hivemind_kafka.schemas.holdout import HoldoutDesign, holdout_bucket
from hivemind_kafka.schemas.outcomes import (
    DEFAULT_OUTCOME_HORIZON_S,
    OutcomeResult,
    OutcomeSource,
    is_within_horizon,
    result_of,
)

__all__ = [
    "EPOCH", "NO_END", "US", "CohortCounts", "RatePoint", "ScopeFrame", "SessionResult",
    "SkillEffect", "SkillWindow", "Verdict", "cohort_disagreements", "cohort_series",
    "estimate_effects", "from_micros", "invoked_sessions", "micros", "period_start",
    "rate_series", "recorded_cohorts", "session_results", "skill_effects", "skill_windows",
    "verdict_counts",
]

FAR_FUTURE = datetime.max.replace(tzinfo=UTC)
FAR_PAST = datetime.min.replace(tzinfo=UTC)
DEFAULT_MIN_CLUSTERS = 10
DEFAULT_FDR = 0.10
DEFAULT_PLANNING_EFFECT = 0.05


class Verdict(StrEnum):
    EFFECTIVE = "effective"  # the sequence is above 0 and the skill passes e-BH
    HARMFUL = "harmful"  # the sequence is below 0 and the skill passes e-BH
    NO_DETECTABLE_EFFECT = "no_detectable_effect"
    INSUFFICIENT_DATA = "insufficient_data"
    SAMPLE_RATIO_MISMATCH = "sample_ratio_mismatch"


class SessionResult(Struct, frozen=True):
    workspace_id: str
    session_id: str
    agent_id: str
    started_at: datetime
    result: OutcomeResult


class CohortCounts(Struct, frozen=True):
    sessions: int  # in scope, any result
    known: int  # with a known result (the denominator)
    successes: int
    agents: int = 0  # agents with a known result
    # Variance of the effect over its variance if sessions were independent (the same
    # for both cohorts: it is a property of the comparison).
    design_effect: float = 1.0
    clusters: int = 0  # randomized agent-periods with a known result

    def effective(self) -> tuple[float, float]:
        return effective_counts(self.successes, self.known, max(1.0, self.design_effect))

    def rate(self, confidence: float = DEFAULT_CONFIDENCE) -> Interval:
        """Wilson interval on the effective counts (the estimate is the raw rate)."""
        return wilson(*self.effective(), confidence)

    @property
    def coverage(self) -> float:
        return self.known / self.sessions if self.sessions else 0.0


class SkillEffect(Struct, frozen=True, kw_only=True):
    workspace_id: str
    skill_name: str
    version: int
    present: CohortCounts
    held_out: CohortCounts
    effect: Interval  # present - held_out, anytime-valid; (nan, -1, 1) when unknown
    verdict: Verdict
    srm: SrmResult  # agent-periods per cohort against the design (p: anytime-valid)
    # Secondary, non-randomized: invoked vs not invoked among present sessions.
    invoked: CohortCounts
    not_invoked: CohortCounts
    invoked_effect: Interval
    # Where the cohorts came from: session-skill pairs with a recorded cohort, those
    # assigned by the hash (nothing recorded), recorded ones the hash contradicts, and
    # sessions in scope but in neither cohort (recorded scope without this version).
    recorded_sessions: int = 0
    hash_sessions: int = 0
    assignment_mismatches: int = 0
    excluded_sessions: int = 0
    reason: str = ""
    published_at: datetime = FAR_PAST
    retired_at: datetime | None = None
    superseded: bool = False  # a newer version replaced this one
    content_hash: str | None = None
    standard_error: float = math.nan
    df: float = math.nan
    design_effect: float = 1.0
    strata: int = 0  # agents compared with themselves
    e_effective: float = 1.0  # evidence the effect is > 0 (anytime-valid e-value)
    e_harmful: float = 1.0  # evidence the effect is < 0
    fdr_family: int = 0  # skills of the workspace in the e-BH family at this look
    days_observed: float = 0.0
    days_to_verdict: float = math.nan  # planned total days for the planning effect
    holdout_share: float = math.nan  # the design's share for this workspace

    @property
    def p_value(self) -> float:
        """Anytime-valid two-sided p-value for no effect (Bonferroni over both sides)."""
        return min(1.0, 2.0 / max(self.e_effective, self.e_harmful, 1e-300))


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


def session_results(sessions: pa.Table, outcomes: pa.Table | None, *,
                    horizon_s: float = DEFAULT_OUTCOME_HORIZON_S) -> list[SessionResult]:
    """One row per (workspace, session id) with its resolved result (see module doc).

    Re-opened sessions (several generations) count once, from their earliest start.
    Outcomes are deduplicated on ``outcome_id``; they join up to ``horizon_s`` after the
    session's last ``ended_at`` (schemas.outcomes.is_within_horizon, equal is within);
    later ones are left out. Sessions without ``ended_at`` keep every outcome.
    """
    ends: dict[tuple[str, str], datetime] = {}
    ended_col = _col(sessions, "ended_at")
    if ended_col is not None:
        for ws, sid, end in zip(sessions.column("workspace_id").to_pylist(),
                                sessions.column("session_id").to_pylist(), ended_col,
                                strict=True):
            if end is not None:
                end = as_utc(end)
                ends[(ws, sid)] = max(end, ends.get((ws, sid), end))
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
            end = ends.get(key)
            if ts is not None and end is not None and \
                    not is_within_horizon(as_utc(ts), end, horizon_s):
                continue
            ts = as_utc(ts or FAR_PAST)
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
        started = as_utc(started)
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
    """One window per published version of each (workspace, skill name).

    A row with a new ``version`` or new ``content_hash`` closes the open window at its
    publish time and opens the next; a re-sent identical version changes nothing; a
    ``retired`` row (tombstone) closes it; a skill republished after a retirement opens
    a new window. Reads ``name``/``skill_name``, ``version``, ``content_hash`` (optional),
    a publish time (``published_at``, ``created_at``, ``provenance_created_at`` or the
    ``provenance`` JSON) and ``retired`` (its time from ``retired_at`` or the same).
    """
    names = _col(skills, "name", "skill_name")
    if names is None or skills.num_rows == 0:
        return []
    n = skills.num_rows
    versions = _col(skills, "version") or [1] * n
    hashes = _col(skills, "content_hash") or [None] * n
    retired = _col(skills, "retired") or [False] * n
    times = _col(skills, "published_at", "created_at", "provenance_created_at", "retired_at", "ts")
    if times is None and "provenance" in skills.column_names:
        times = [_provenance_time(p) for p in skills.column("provenance").to_pylist()]
    if times is None:
        raise ValueError("skills table has no publish time column (created_at / published_at)")
    retired_times = _col(skills, "retired_at") or times
    events = sorted(
        ((ws, name, as_utc(rt if r else t), bool(r), v or 0, h)
         for ws, name, t, rt, r, v, h in zip(skills.column("workspace_id").to_pylist(), names,
                                             times, retired_times, retired, versions, hashes,
                                             strict=True)
         if (rt if r else t) is not None),
        key=lambda e: (e[0], e[1], e[2], e[3]),
    )
    windows: list[SkillWindow] = []
    open_: dict[tuple[str, str], SkillWindow] = {}
    for ws, name, ts, is_retired, version, content in events:
        key = (ws, name)
        current = open_.get(key)
        if is_retired:
            if current is not None:
                windows.append(SkillWindow(ws, name, current.version, current.published_at, ts,
                                           current.content_hash))
                del open_[key]
            continue
        if current is not None:
            same = version == current.version and (content is None or current.content_hash is None
                                                   or content == current.content_hash)
            if same or version < current.version:
                continue  # a re-send, or an older version arriving late
            windows.append(SkillWindow(ws, name, current.version, current.published_at, ts,
                                       current.content_hash, superseded=True))
        open_[key] = SkillWindow(ws, name, version, ts, None, content)
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


def cohort_disagreements(exposures: pa.Table | None, *,
                         design: HoldoutDesign | None = None,
                         shares: Mapping[str, float] | None = None
                         ) -> dict[tuple[str, str], int]:
    """Per (workspace, skill): exposure rows (the sync's local ``exposures.jsonl``) whose
    recorded cohort differs from the switchback assignment of the period of their ``ts``.
    Non-zero means the sync and the report disagree on the design (another share or
    period, an old client): the comparison still follows what was recorded, but the skill
    was not withheld as designed."""
    if exposures is None or exposures.num_rows == 0 or "cohort" not in exposures.column_names:
        return {}
    design = design or HoldoutDesign()
    agents = _col(exposures, "agent_id")
    times = _col(exposures, "ts")
    if agents is None or times is None:
        return {}
    out: dict[tuple[str, str], int] = defaultdict(int)
    for ws, name, agent, cohort, ts in zip(
        exposures.column("workspace_id").to_pylist(), exposures.column("skill_name").to_pylist(),
        agents, exposures.column("cohort").to_pylist(), times, strict=True,
    ):
        if cohort is None or not agent or ts is None:
            continue
        share = (shares or {}).get(ws, design.share)
        bucket = holdout_bucket(name, agent, design.period_of(as_utc(ts)))
        assigned = "held_out" if bucket < share else "present"
        if cohort != assigned:
            out[(ws, name)] += 1
    return dict(out)


# ---------------------------------------------------------------- the estimates


def estimate_effects(frame: ScopeFrame, *, as_of: datetime | None = None,
                     ends: np.ndarray | None = None,
                     confidence: float = DEFAULT_CONFIDENCE,
                     min_clusters: int = DEFAULT_MIN_CLUSTERS,
                     fdr: float = DEFAULT_FDR,
                     planning_effect: float = DEFAULT_PLANNING_EFFECT,
                     now: datetime | None = None,
                     stratify: bool = True, plan: bool = True,
                     secondary: bool = True,
                     only: Verdict | None = None) -> list[SkillEffect]:
    """Every window's effect as of ``as_of`` (sessions started before it, outcomes that
    arrived by it; None: everything). ``ends`` (microseconds, per window) closes windows
    earlier than the tables say (the eval's retirements). ``now`` (default ``as_of``, else
    the latest session start) dates the plan's "days observed". Verdicts as in the module
    doc; ``stratify`` False pools all agents (the eval's comparison); ``plan`` and
    ``secondary`` False skip the days-to-verdict plan and the invoked comparison (the
    eval's intermediate looks, which only need the verdicts); ``only`` returns just the
    effects with that verdict (the eval's looks ask for the harmful ones)."""
    n_windows = len(frame.windows)
    if n_windows == 0:
        return []
    as_of_us = micros(as_of) if as_of is not None else None
    end = frame.window_end if ends is None else np.minimum(frame.window_end, ends)
    results = frame.results_as_of(as_of_us)
    limit = end[frame.pair_window]
    if as_of_us is not None:
        limit = np.minimum(limit, as_of_us)
    live = (frame.pair_started < limit)
    res = results[frame.pair_session] if frame.pair_session.size else np.zeros(0, np.int8)
    in_arm = live & (frame.pair_arm >= 0)
    known = in_arm & (res >= 0)
    win = known & (res == 1)

    def arm_counts(cell: np.ndarray, cell_window: np.ndarray, cell_agent: np.ndarray,
                   cell_arm: np.ndarray, mask_live: np.ndarray):
        size = cell_window.size
        ok = mask_live & (cell >= 0)
        sessions_c = np.bincount(cell[ok], minlength=size)[:size]
        n_c = np.bincount(cell[ok & known], minlength=size)[:size]
        s_c = np.bincount(cell[ok & win], minlength=size)[:size]
        est = estimate_groups(cell_window, cell_agent, cell_arm, n_c, s_c, n_windows,
                              stratify=stratify, sessions=sessions_c)
        sess = np.bincount(cell_window * 2 + cell_arm, weights=sessions_c,
                           minlength=n_windows * 2)[:n_windows * 2].reshape(-1, 2)
        units = np.bincount(cell_window * 2 + cell_arm, weights=(sessions_c > 0),
                            minlength=n_windows * 2)[:n_windows * 2].reshape(-1, 2)
        return est, sess, units, sessions_c

    est, sessions, units, cell_sessions = arm_counts(
        frame.pair_cell, frame.cell_window, frame.cell_agent, frame.cell_arm, in_arm)
    if secondary:
        inv_est, inv_sessions, _, _ = arm_counts(frame.pair_inv_cell, frame.inv_cell_window,
                                                 frame.inv_cell_agent, frame.inv_cell_arm,
                                                 in_arm & (frame.pair_arm == PRESENT))
    else:
        empty = np.zeros(0, np.int64)
        inv_est = estimate_groups(empty, empty, empty, empty, empty, n_windows)
        inv_sessions = np.zeros((n_windows, 2))
    src = np.bincount(frame.pair_window[in_arm] * 3 + frame.pair_source[in_arm],
                      minlength=n_windows * 3)[:n_windows * 3].reshape(-1, 3)
    excluded = np.bincount(frame.pair_window[live & (frame.pair_arm < 0)],
                           minlength=n_windows)[:n_windows]

    # Anytime-valid inference.
    df = np.where(np.isfinite(est.df), est.df, np.inf)
    low, high = sequential.confidence_sequence(est.estimate, est.variance, df,
                                               confidence=confidence)
    e_up, e_down = sequential.e_values(est.estimate, est.variance, df)
    inv_df = np.where(np.isfinite(inv_est.df), inv_est.df, np.inf)
    inv_low, inv_high = sequential.confidence_sequence(inv_est.estimate, inv_est.variance,
                                                       inv_df, confidence=confidence)
    held_units, all_units = units[:, HELD], units.sum(axis=1)
    srm_e = sequential.srm_e_value(held_units, all_units, frame.window_share)
    transitions, kept, expected_kept = switch_counts(
        frame.cell_window, frame.cell_agent, frame.cell_period, frame.cell_arm, cell_sessions,
        n_windows, frame.window_share)
    switch_e = sequential.srm_e_value(kept, transitions, expected_kept)
    srm_flag = (srm_e >= 1.0 / sequential.SRM_ALPHA) | (switch_e >= 1.0 / sequential.SRM_ALPHA)
    enough = (est.clusters.min(axis=1) >= min_clusters) & np.isfinite(est.estimate)
    family = enough & ~srm_flag
    pass_up = np.zeros(n_windows, bool)
    pass_down = np.zeros(n_windows, bool)
    family_size = np.zeros(n_windows, np.int64)
    for code in np.unique(frame.window_ws):
        members = np.nonzero(family & (frame.window_ws == code))[0]
        if members.size:
            pass_up[members] = sequential.e_bh(e_up[members], fdr)
            pass_down[members] = sequential.e_bh(e_down[members], fdr)
            family_size[members] = members.size

    # Plan: days until a +-planning_effect effect would be declared (80 % power).
    now_us = micros(now) if now is not None else (
        as_of_us if as_of_us is not None else int(frame.session_started.max(initial=0)))
    observed_days = np.maximum((np.minimum(end, now_us) - frame.window_start) / (86_400 * US), 0.0)
    plan_var, plan_df = _planning_variance(est, frame.window_share)
    planned = (sequential.days_to_detect(planning_effect, plan_var, plan_df, observed_days,
                                         confidence=confidence)
               if plan else np.full(n_windows, np.nan))
    with np.errstate(divide="ignore", invalid="ignore"):
        cluster_days = np.where(est.clusters.min(axis=1) > 0,
                                observed_days * min_clusters / est.clusters.min(axis=1), np.nan)
    planned = np.fmax(planned, np.where(est.clusters.min(axis=1) >= min_clusters, 0.0,
                                        cluster_days))

    build: list[int]
    if only is None:
        build = list(range(n_windows))
    else:
        code = np.full(n_windows, Verdict.NO_DETECTABLE_EFFECT.value, dtype=object)
        code[(low > 0) & pass_up] = Verdict.EFFECTIVE.value
        code[(high < 0) & pass_down] = Verdict.HARMFUL.value
        code[srm_flag] = Verdict.SAMPLE_RATIO_MISMATCH.value
        code[~enough] = Verdict.INSUFFICIENT_DATA.value
        build = np.nonzero(code == only.value)[0].tolist()
    effects = []
    for w in build:
        window = frame.windows[w]
        with np.errstate(divide="ignore", invalid="ignore"):
            deff = float(est.variance[w] / est.naive_variance[w]) \
                if est.naive_variance[w] > 0 else 1.0
        deff = deff if math.isfinite(deff) else 1.0
        counts = [CohortCounts(int(sessions[w, a]), int(est.known[w, a]),
                               int(est.successes[w, a]), int(est.agents[w, a]), deff,
                               int(est.clusters[w, a])) for a in (HELD, PRESENT)]
        inv_counts = [CohortCounts(int(inv_sessions[w, a]), int(inv_est.known[w, a]),
                                   int(inv_est.successes[w, a]), int(inv_est.agents[w, a]), 1.0,
                                   int(inv_est.clusters[w, a])) for a in (0, 1)]
        effect = Interval(float(est.estimate[w]), float(low[w]), float(high[w]))
        share = float(frame.window_share[w])
        srm = SrmResult(chi2=_chi2(held_units[w], all_units[w], share),
                        p_value=float(min(1.0, 1.0 / srm_e[w], 1.0 / switch_e[w])),
                        expected_held_out=float(all_units[w] * share),
                        observed_held_out=int(held_units[w]), total=int(all_units[w]),
                        mismatch=bool(srm_flag[w]))
        switch = (int(kept[w]), int(transitions[w]), float(expected_kept[w]),
                  float(min(1.0, 1.0 / switch_e[w])))
        verdict, reason = _verdict(
            effect, counts, srm, switch, bool(enough[w]), bool(pass_up[w]), bool(pass_down[w]),
            float(e_up[w]), float(e_down[w]), int(family_size[w]), min_clusters=min_clusters,
            confidence=confidence, fdr=fdr)
        effects.append(SkillEffect(
            workspace_id=window.workspace_id, skill_name=window.skill_name,
            version=window.version, present=counts[1], held_out=counts[0], effect=effect,
            verdict=verdict, reason=reason, srm=srm,
            invoked=inv_counts[1], not_invoked=inv_counts[0],
            invoked_effect=Interval(float(inv_est.estimate[w]), float(inv_low[w]),
                                    float(inv_high[w])),
            recorded_sessions=int(src[w, SOURCE_RECORDED] + src[w, SOURCE_MISMATCH]),
            hash_sessions=int(src[w, SOURCE_HASH]),
            assignment_mismatches=int(src[w, SOURCE_MISMATCH]),
            excluded_sessions=int(excluded[w]),
            published_at=window.published_at,
            retired_at=from_micros(int(end[w])) if end[w] != NO_END else None,
            superseded=window.superseded, content_hash=window.content_hash,
            standard_error=float(math.sqrt(est.variance[w])) if est.variance[w] >= 0 else math.nan,
            df=float(est.df[w]), design_effect=deff, strata=int(est.strata[w]),
            e_effective=float(e_up[w]), e_harmful=float(e_down[w]),
            fdr_family=int(family_size[w]), days_observed=float(observed_days[w]),
            days_to_verdict=float(planned[w]), holdout_share=share,
        ))
    return effects


def _planning_variance(est, share: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The variance to plan from: the estimate's own where it exists, else the one
    independent sessions at the current traffic and designed share would give."""
    known = est.known.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(known > 0, est.successes.sum(axis=1) / known, 0.5)
        p = np.clip(p, 0.05, 0.95)
        naive = np.where(known > 0, p * (1 - p) / (known * share * (1 - share)), np.nan)
    has = np.isfinite(est.variance) & (est.variance > 0)
    return np.where(has, est.variance, naive), np.where(has & np.isfinite(est.df), est.df, np.inf)


def _chi2(held: float, total: float, share: float) -> float:
    if total <= 0:
        return 0.0
    exp_h = total * share
    exp_p = total - exp_h
    return float((held - exp_h) ** 2 / exp_h + ((total - held) - exp_p) ** 2 / exp_p)


def _pp(v: float) -> str:
    return f"{v * 100:+.1f}pp"


def _verdict(effect: Interval, counts: list[CohortCounts], srm: SrmResult,
             switch: tuple[int, int, float, float], enough: bool,
             pass_up: bool, pass_down: bool, e_up: float, e_down: float, family: int, *,
             min_clusters: int, confidence: float, fdr: float) -> tuple[Verdict, str]:
    held, present = counts
    if not enough:
        return Verdict.INSUFFICIENT_DATA, (
            f"{held.clusters} held-out and {present.clusters} present agent-periods with a "
            f"known outcome; {min_clusters} in each cohort are needed")
    if srm.mismatch:
        kept, transitions, expected, switch_p = switch
        if switch_p <= srm.p_value and transitions:
            return Verdict.SAMPLE_RATIO_MISMATCH, (
                f"agents kept their cohort in {kept} of {transitions} consecutive periods, "
                f"designed {expected:.0%} (anytime p={switch_p:.2g}): the holdout does not "
                "switch per period (an old client or another period setting?), so "
                "agent-periods are not independent units; no effect is claimed")
        return Verdict.SAMPLE_RATIO_MISMATCH, (
            f"{srm.observed_held_out} of {srm.total} agent-periods held out, designed "
            f"{srm.expected_held_out / max(srm.total, 1):.0%} (anytime p={srm.p_value:.2g}): "
            "the assignment is broken, no effect is claimed")
    ci = f"{confidence:.0%} sequence [{_pp(effect.low)}, {_pp(effect.high)}]"
    if effect.low > 0 and pass_up:
        return Verdict.EFFECTIVE, f"{ci} above 0; passes e-BH at {fdr:.0%} over {family} skills"
    if effect.high < 0 and pass_down:
        return Verdict.HARMFUL, f"{ci} below 0; passes e-BH at {fdr:.0%} over {family} skills"
    if effect.low > 0 or effect.high < 0:
        e = e_up if effect.low > 0 else e_down
        return Verdict.NO_DETECTABLE_EFFECT, (
            f"{ci} excludes 0 but not after false-discovery control over {family} skills "
            f"(e={e:.3g}, e-BH at {fdr:.0%})")
    return Verdict.NO_DETECTABLE_EFFECT, f"{ci} holds 0"


def skill_effects(results: Iterable[SessionResult], windows: Iterable[SkillWindow], *,
                  invoked: set[tuple[str, str, str]] | None = None,
                  recorded: RecordedCohorts | None = None,
                  design: HoldoutDesign | None = None,
                  shares: Mapping[str, float] | None = None,
                  confidence: float = DEFAULT_CONFIDENCE,
                  min_clusters: int = DEFAULT_MIN_CLUSTERS,
                  fdr: float = DEFAULT_FDR,
                  until: datetime | None = None) -> list[SkillEffect]:
    """:func:`estimate_effects` over already resolved session results (a convenience for
    callers holding :class:`SessionResult` objects; the report uses the tables)."""
    results = list(results)
    sessions = pa.table({
        "workspace_id": pa.array([r.workspace_id for r in results], pa.string()),
        "session_id": pa.array([r.session_id for r in results], pa.string()),
        "agent_id": pa.array([r.agent_id for r in results], pa.string()),
        "started_at": pa.array([r.started_at for r in results], pa.timestamp("us", tz="UTC")),
        "outcome": pa.array([r.result.value for r in results], pa.string()),
    })
    rows: list[tuple[str, str, str, str | None, bool]] = []
    for (ws, sid), skills in (recorded or {}).items():
        rows += [(ws, sid, name, cohort, False) for name, cohort in skills.items()]
    rows += [(ws, sid, name, None, True) for ws, sid, name in (invoked or set())]
    exposures = pa.table({
        "workspace_id": pa.array([r[0] for r in rows], pa.string()),
        "session_id": pa.array([r[1] for r in rows], pa.string()),
        "skill_name": pa.array([r[2] for r in rows], pa.string()),
        "cohort": pa.array([r[3] for r in rows], pa.string()),
        "invoked": pa.array([r[4] for r in rows], pa.bool_()),
    })
    frame = ScopeFrame.from_tables(sessions, None, list(windows), exposures, design=design,
                                   shares=shares)
    return estimate_effects(frame, as_of=until, confidence=confidence,
                            min_clusters=min_clusters, fdr=fdr)


# ---------------------------------------------------------------- rates over time


def period_start(ts: datetime, period: str) -> datetime:
    """Start (UTC midnight) of the ``day`` or ISO ``week`` (Monday) holding ``ts``."""
    day = ts.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        return day
    if period == "week":
        return day - timedelta(days=day.weekday())
    raise ValueError(f"period must be 'day' or 'week', got {period!r}")


class _Tally:
    __slots__ = ("known", "sessions", "successes")

    def __init__(self) -> None:
        self.sessions = self.known = self.successes = 0

    def add(self, result: OutcomeResult) -> None:
        self.sessions += 1
        if result != OutcomeResult.UNKNOWN:
            self.known += 1
            self.successes += result == OutcomeResult.SUCCESS


def rate_series(results: Iterable[SessionResult], *, period: str = "day",
                group_of: Callable[[SessionResult], str | None] = lambda r: r.workspace_id,
                confidence: float = DEFAULT_CONFIDENCE,
                min_sample: int = MIN_SAMPLE_PER_COHORT) -> list[RatePoint]:
    """Success rate per (group, period) with Wilson intervals, unsmoothed: descriptive
    (one period's sessions, as if independent), not a test.

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
                  design: HoldoutDesign | None = None,
                  confidence: float = DEFAULT_CONFIDENCE,
                  min_sample: int = MIN_SAMPLE_PER_COHORT,
                  recorded: RecordedCohorts | None = None) -> list[RatePoint]:
    """Rate over time of one skill's present and held-out cohorts (groups
    ``"<skill>/present"`` and ``"<skill>/held_out"``): the recorded cohort, else the
    switchback hash of the session's period (descriptive, like :func:`rate_series`)."""
    end = window.retired_at or FAR_FUTURE
    design = design or HoldoutDesign()
    recorded = recorded or {}

    def group(r: SessionResult) -> str | None:
        if r.workspace_id != window.workspace_id or not (window.published_at <= r.started_at < end):
            return None
        scope = recorded.get((r.workspace_id, r.session_id))
        if scope is not None:
            cohort = scope.get(window.skill_name)
            if cohort is None:
                return None
            held = cohort == "held_out"
        else:
            held = design.is_held_out(window.skill_name, r.agent_id, r.started_at)
        return f"{window.skill_name}/{'held_out' if held else 'present'}"

    return rate_series(results, period=period, group_of=group, confidence=confidence,
                       min_sample=min_sample)


def verdict_counts(effects: Iterable[SkillEffect]) -> dict[str, int]:
    """Skills per verdict (every verdict present, zeros included): the metrics' source."""
    counts = {v.value: 0 for v in Verdict}
    for e in effects:
        counts[e.verdict.value] += 1
    return counts
