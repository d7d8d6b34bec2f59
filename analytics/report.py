"""The measure report: per-skill evidence and success rates over time, as text, HTML, PNG.

``build_report(tables, ...)`` runs the attribution (analytics.attribution) over the four
tables and returns a :class:`MeasureReport`; the renderers only format it:

* :func:`render_text` — terminal tables: per skill version the sessions, randomized
  agent-periods and outcome coverage of each cohort, the anytime-valid interval, the
  verdict and why, and the planned time to a verdict at current traffic; rates per period;
* :func:`render_html` — one self-contained page (inline SVG, no external asset);
* :func:`write_pngs` — the same charts as PNG files;
* :func:`publish_metrics` — the low-cardinality gauges of analytics.metrics.

Every interval of an effect is a confidence sequence and every verdict comes from
anytime-valid evidence with false-discovery control across the workspace's skills: the
report may be recomputed every ten minutes. The rate-over-time charts are descriptive
(each period's Wilson interval, sessions treated as independent) and say so.
"insufficient data" is printed wherever a cohort has too few agent-periods; nothing is
smoothed; the invoked-vs-not comparison is always labelled non-randomized.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from html import escape
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from msgspec import Struct

from hivemind_kafka.analytics import plots
from hivemind_kafka.analytics.attribution import (
    DEFAULT_FDR,
    DEFAULT_MIN_CLUSTERS,
    DEFAULT_PLANNING_EFFECT,
    US,
    RatePoint,
    ScopeFrame,
    SkillEffect,
    Verdict,
    cohort_disagreements,
    estimate_effects,
    micros,
    period_start,
    skill_windows,
    verdict_counts,
)
from hivemind_kafka.analytics.headline import (
    PERIODS,
    Change,
    HeadlineReport,
    change_between,
    first_to_last,
    headline_metrics,
)
from hivemind_kafka.analytics.lake import MeasureTables
from hivemind_kafka.analytics.stats import DEFAULT_CONFIDENCE, MIN_SAMPLE_PER_COHORT, wilson
from hivemind_kafka.schemas.holdout import HoldoutDesign
from hivemind_kafka.schemas.outcomes import DEFAULT_OUTCOME_HORIZON_S

MAX_COHORT_CHARTS = 8
ORDER = {Verdict.HARMFUL: 0, Verdict.SAMPLE_RATIO_MISMATCH: 1, Verdict.EFFECTIVE: 2,
         Verdict.NO_DETECTABLE_EFFECT: 3, Verdict.INSUFFICIENT_DATA: 4}


class MeasureReport(Struct, frozen=True, kw_only=True):
    generated_at: datetime
    workspace: str | None
    period: str
    confidence: float
    held_out_share: float
    min_sample: int  # known sessions per period for a rate point to be drawn
    sessions: int
    sessions_with_outcome: int
    effects: list[SkillEffect]
    workspace_series: dict[str, list[RatePoint]]
    cohort_series: dict[str, dict[str, list[RatePoint]]]  # "<ws>/<skill> v<n>" -> group -> points
    missing_tables: list[str]
    # "<ws>/<skill>" -> rows of the sync's local exposures.jsonl whose cohort contradicts
    # the switchback assignment.
    cohort_disagreements: dict[str, int] = {}
    # Session x skill pairs in scope whose cohort came from a recorded exposure / the hash.
    recorded_assignments: int = 0
    hash_assignments: int = 0
    # "<ws>/<skill>" -> sessions whose recorded cohort the hash contradicts (they stay in
    # their recorded cohort).
    assignment_mismatches: dict[str, int] = {}
    period_s: int = 86_400  # the switchback period
    share_overrides: dict[str, float] = {}  # workspaces whose share differs
    min_clusters: int = DEFAULT_MIN_CLUSTERS
    fdr: float = DEFAULT_FDR
    planning_effect: float = DEFAULT_PLANNING_EFFECT
    # The headline: each vertical's metric per period (analytics.headline), and the first
    # period against the last for the fleet's success ("all"), each workspace's success
    # and each headline metric. None / empty when the sessions lack the columns.
    headline: HeadlineReport | None = None
    changes: list[Change] = []
    outcomes_beyond_horizon: int = 0  # left out of the join (schemas.outcomes)

    def verdicts(self) -> dict[str, int]:
        return verdict_counts(self.effects)


AUTO_WEEK_AFTER = timedelta(days=21)


def auto_period(sessions: pa.Table | None) -> str:
    """The rate period when none is asked for: ``"week"`` when the sessions span more
    than :data:`AUTO_WEEK_AFTER` (three weeks: daily points would be a noisy line of 20+
    dots), else ``"day"`` (also with no sessions)."""
    if sessions is None or "started_at" not in sessions.column_names or not sessions.num_rows:
        return "day"
    lo, hi = pc.min_max(sessions["started_at"]).values()
    if not lo.is_valid or not hi.is_valid:
        return "day"
    return "week" if hi.as_py() - lo.as_py() > AUTO_WEEK_AFTER else "day"


def build_report(tables: MeasureTables, *, workspace: str | None = None, period: str = "day",
                 design: HoldoutDesign | None = None,
                 shares: Mapping[str, float] | None = None,
                 held_out_share: float | None = None,
                 confidence: float = DEFAULT_CONFIDENCE,
                 min_clusters: int = DEFAULT_MIN_CLUSTERS,
                 fdr: float = DEFAULT_FDR,
                 planning_effect: float = DEFAULT_PLANNING_EFFECT,
                 min_sample: int = MIN_SAMPLE_PER_COHORT,
                 now: datetime | None = None,
                 as_of: datetime | None = None,
                 recorded_exposures: pa.Table | None = None,
                 horizon_s: float = DEFAULT_OUTCOME_HORIZON_S) -> MeasureReport:
    """The report over ``tables``: ``design`` is the switchback the sync applies
    (``held_out_share`` overrides its share, ``shares`` per workspace); ``as_of`` ignores sessions started and
    outcomes arrived after it (None: everything); ``now`` dates the report and the
    plans. ``recorded_exposures``: the sync's local rows (``<home>/exposures.jsonl``),
    only checked against the assignment. ``horizon_s``: outcomes later than this after
    their session's end are left out (counted in ``outcomes_beyond_horizon``)."""
    now = now or datetime.now(UTC)
    design = design or HoldoutDesign()
    if held_out_share is not None:
        design = HoldoutDesign(share=held_out_share, period_s=design.period_s)
    sessions = tables.sessions if tables.sessions is not None else _empty_sessions()
    if workspace and sessions.num_rows:
        sessions = sessions.filter(pc.equal(sessions["workspace_id"], workspace))
    windows = skill_windows(tables.skills) if tables.skills is not None else []
    if workspace:
        windows = [w for w in windows if w.workspace_id == workspace]
    frame = ScopeFrame.from_tables(sessions, tables.outcomes, windows, tables.exposures,
                                   design=design, shares=shares, horizon_s=horizon_s)
    effects = estimate_effects(frame, as_of=as_of, confidence=confidence,
                               min_clusters=min_clusters, fdr=fdr,
                               planning_effect=planning_effect, now=as_of or now)
    results = frame.results_as_of(micros(as_of) if as_of is not None else None)
    started_ok = (frame.session_started < micros(as_of)) if as_of is not None else \
        np.ones(frame.sessions, bool)
    ws_series = _workspace_series(frame, results, started_ok, period, confidence, min_sample)
    order = sorted(range(len(effects)), key=lambda i: (
        ORDER[effects[i].verdict], _sort_effect(effects[i]), effects[i].workspace_id,
        effects[i].skill_name, effects[i].published_at))
    charted = sorted((i for i in order if effects[i].verdict != Verdict.INSUFFICIENT_DATA),
                     key=lambda i: -(effects[i].present.known + effects[i].held_out.known)
                     )[:MAX_COHORT_CHARTS]
    cohorts = {_label(effects[i]): _cohort_series(frame, results, i, period, confidence,
                                                  min_sample) for i in charted}
    disagreements: dict[str, int] = {}
    for (ws, name), n in cohort_disagreements(recorded_exposures, design=design,
                                              shares=shares).items():
        if workspace in (None, ws):
            disagreements[f"{ws}/{name}"] = disagreements.get(f"{ws}/{name}", 0) + n
    mismatches: dict[str, int] = {}
    for e in effects:
        if e.assignment_mismatches:
            key = f"{e.workspace_id}/{e.skill_name}"
            mismatches[key] = mismatches.get(key, 0) + e.assignment_mismatches
    headline = None
    if period in PERIODS and sessions.num_rows:
        try:
            headline = headline_metrics(sessions, tables.outcomes, period=period,
                                        confidence=confidence, horizon_s=horizon_s,
                                        workspace=workspace)
        except ValueError:
            headline = None  # an old sessions table without the columns it needs
    changes = _success_changes(ws_series, confidence)
    if headline is not None:
        changes += [c for c in map(first_to_last, headline.headlines) if c is not None]
    return MeasureReport(
        headline=headline, changes=changes,
        outcomes_beyond_horizon=frame.outcomes_beyond_horizon,
        cohort_disagreements=disagreements,
        recorded_assignments=sum(e.recorded_sessions for e in effects),
        hash_assignments=sum(e.hash_sessions for e in effects),
        assignment_mismatches=mismatches,
        generated_at=now, workspace=workspace, period=period, confidence=confidence,
        held_out_share=design.share, period_s=design.period_s, min_clusters=min_clusters,
        share_overrides=dict(shares or {}),
        fdr=fdr, planning_effect=planning_effect, min_sample=min_sample,
        sessions=int(started_ok.sum()),
        sessions_with_outcome=int(((results >= 0) & started_ok).sum()),
        effects=[effects[i] for i in order], workspace_series=ws_series,
        cohort_series=cohorts, missing_tables=tables.missing(),
    )


def _success_changes(series: dict[str, list[RatePoint]], confidence: float) -> list[Change]:
    """Success in the first period against the last: the pooled fleet ("all", periods
    every workspace shares the calendar of), then each workspace."""
    out: list[Change] = []
    pooled: dict[datetime, list[int]] = {}
    for points in series.values():
        for p in points:
            cell = pooled.setdefault(p.period_start, [0, 0])
            cell[0] += p.successes
            cell[1] += p.known
    groups = [("all", [(start, s, k) for start, (s, k) in sorted(pooled.items())])]
    groups += [(ws, [(p.period_start, p.successes, p.known) for p in pts])
               for ws, pts in series.items()]
    for ws, pts in groups:
        if len(pts) < 2:
            continue
        (a_start, a_s, a_k), (b_start, b_s, b_k) = pts[0], pts[-1]
        out.append(change_between(ws, "success", a_start, wilson(a_s, a_k, confidence), a_k,
                                  b_start, wilson(b_s, b_k, confidence), b_k))
    return out


def headline_lines(report: MeasureReport) -> list[str]:
    """The first figures of the report: before/after per workspace, then the vertical
    metrics per period."""
    if not report.changes:
        return []
    lines = [f"Headline: first {report.period} against the last ({report.confidence:.0%} "
             "interval of the difference, one fixed-sample comparison; descriptive: only time "
             "separates the two)"]
    for c in report.changes:
        name = f"{c.workspace_id} {c.metric}"
        lines.append(
            f"  {name:<28} {c.before_period:%Y-%m-%d} {_pct(c.before.estimate)} (n={c.before_trials})"
            f"  ->  {c.after_period:%Y-%m-%d} {_pct(c.after.estimate)} (n={c.after_trials})"
            f"   {_pp(c.difference.estimate)} [{_pp(c.difference.low)}, "
            f"{_pp(c.difference.high)}]  {c.verdict.value}")
    if report.headline is not None and report.headline.headlines:
        lines.append(f"  per {report.period} (Wilson on effective counts):")
        for h in report.headline.headlines:
            cells = "  ".join(f"{p.period_start:%m-%d} {_pct(p.rate.estimate).strip()}"
                              f" [{p.rate.low:.0%},{p.rate.high:.0%}]" for p in h.points)
            lines.append(f"    {h.workspace_id + ' ' + h.metric.value:<26} {cells}")
    if report.outcomes_beyond_horizon:
        lines.append(f"  outcomes beyond the horizon, left out: {report.outcomes_beyond_horizon}")
    return [*lines, ""]


def _label(e: SkillEffect) -> str:
    return f"{e.workspace_id}/{e.skill_name} v{e.version}"


def _period_index(started_us: np.ndarray, period: str) -> tuple[np.ndarray, int]:
    """Day number (or Monday-aligned week number) of each start, and the unit in days."""
    day = started_us // (86_400 * US)
    if period == "day":
        return day, 1
    if period == "week":
        return (day + 3) // 7, 7  # 1970-01-01 was a Thursday: shift to Mondays
    raise ValueError(f"period must be 'day' or 'week', got {period!r}")


def _point_start(index: int, unit: int) -> datetime:
    from hivemind_kafka.analytics.attribution import from_micros

    days = index * unit - (3 if unit == 7 else 0)
    return from_micros(days * 86_400 * US)


def _points(group: str, idx: np.ndarray, known: np.ndarray, win: np.ndarray, unit: int,
            confidence: float, min_sample: int) -> list[RatePoint]:
    out: list[RatePoint] = []
    if idx.size == 0:
        return out
    uniq, inverse = np.unique(idx, return_inverse=True)
    k = np.bincount(inverse, weights=known, minlength=uniq.size).astype(int)
    s = np.bincount(inverse, weights=win, minlength=uniq.size).astype(int)
    for p, kk, ss in zip(uniq.tolist(), k.tolist(), s.tolist(), strict=True):
        start = _point_start(p, unit)
        out.append(RatePoint(group, start, kk, ss, wilson(ss, kk, confidence), kk >= min_sample))
    return out


def _workspace_series(frame: ScopeFrame, results: np.ndarray, started_ok: np.ndarray,
                      period: str, confidence: float, min_sample: int
                      ) -> dict[str, list[RatePoint]]:
    idx, unit = _period_index(frame.session_started, period)
    out: dict[str, list[RatePoint]] = {}
    for code, ws in enumerate(frame.workspaces):
        m = (frame.session_ws == code) & started_ok
        out[ws] = _points(ws, idx[m], (results[m] >= 0).astype(float),
                          (results[m] == 1).astype(float), unit, confidence, min_sample)
    return out


def _cohort_series(frame: ScopeFrame, results: np.ndarray, window: int, period: str,
                   confidence: float, min_sample: int) -> dict[str, list[RatePoint]]:
    e_end = frame.window_end[window]
    m = (frame.pair_window == window) & (frame.pair_arm >= 0) & (frame.pair_started < e_end)
    idx, unit = _period_index(frame.pair_started[m], period)
    res = results[frame.pair_session[m]]
    arm = frame.pair_arm[m]
    name = frame.windows[window].skill_name
    out = {}
    for label, code in (("present", 1), ("held_out", 0)):
        sel = arm == code
        if sel.any():
            out[label] = _points(f"{name}/{label}", idx[sel], (res[sel] >= 0).astype(float),
                                 (res[sel] == 1).astype(float), unit, confidence, min_sample)
    return out


def _sort_effect(e: SkillEffect) -> float:
    return 0.0 if math.isnan(e.effect.estimate) else e.effect.estimate


def _empty_sessions() -> pa.Table:
    return pa.table({"workspace_id": pa.array([], pa.string()),
                     "session_id": pa.array([], pa.string()),
                     "agent_id": pa.array([], pa.string()),
                     "started_at": pa.array([], pa.timestamp("us", tz="UTC"))})


# ---------------------------------------------------------------- cells


def assignment_note(report: MeasureReport) -> str:
    """One line saying where the cohorts came from."""
    rec, by_hash = report.recorded_assignments, report.hash_assignments
    if rec == 0:
        return ("cohorts: assigned from the switchback hash (no exposure with a recorded "
                "cohort in the lake)")
    mismatched = sum(report.assignment_mismatches.values())
    return (f"cohorts: {rec} session-skill pairs from recorded exposures "
            f"({mismatched} contradict the switchback hash), {by_hash} from the switchback "
            "hash (nothing recorded for them)")


def design_note(report: MeasureReport) -> str:
    days = report.period_s / 86_400
    period = "day" if days == 1 else f"{days:g} days" if days >= 1 else f"{report.period_s} s"
    overrides = "".join(f", {ws} {share:.0%}" for ws, share in sorted(
        report.share_overrides.items()))
    return (f"design: switchback holdout, each agent re-drawn every {period}, "
            f"{report.held_out_share:.0%} of agent-periods held out per skill{overrides}; "
            f"{report.confidence:.0%} anytime-valid confidence sequences; a verdict needs "
            f"{report.min_clusters} agent-periods with an outcome per cohort and e-BH at "
            f"{report.fdr:.0%} across the workspace's skills")


def _pct(v: float) -> str:
    return "   n/a" if math.isnan(v) else f"{v:6.1%}"


def _pp(v: float) -> str:
    return "n/a" if math.isnan(v) else f"{v * 100:+.1f}pp"


def effect_cell(e: SkillEffect) -> str:
    if e.verdict == Verdict.INSUFFICIENT_DATA and not math.isfinite(e.effect.estimate):
        return "insufficient data"
    shown = f"{_pp(e.effect.estimate)} [{_pp(e.effect.low)}, {_pp(e.effect.high)}]"
    return shown if e.verdict != Verdict.INSUFFICIENT_DATA else f"({shown})"


def invoked_cell(e: SkillEffect, min_clusters: int) -> str:
    if min(e.invoked.clusters, e.not_invoked.clusters) < min_clusters \
            or not math.isfinite(e.invoked_effect.estimate):
        return "insufficient data"
    return (f"{_pp(e.invoked_effect.estimate)} [{_pp(e.invoked_effect.low)}, "
            f"{_pp(e.invoked_effect.high)}]")


def plan_cell(e: SkillEffect, planning_effect: float) -> str:
    """Days still needed until a +-planning_effect effect would be declared (80 %)."""
    if e.verdict in (Verdict.EFFECTIVE, Verdict.HARMFUL):
        return "decided"
    if e.retired_at is not None:
        return "closed"
    total = e.days_to_verdict
    if not math.isfinite(total):
        return "unknown" if math.isnan(total) else "> 10 y"
    left = max(0.0, total - e.days_observed)
    return f"~{left:.0f} d" if left >= 1 else "< 1 d"


def _rate_of(c) -> float:
    return c.successes / c.known if c.known else math.nan


def render_text(report: MeasureReport, *, max_periods: int = 14) -> str:
    lines = [
        f"Hivemind measure report  {report.generated_at:%Y-%m-%d %H:%M} UTC"
        f"  workspace={report.workspace or 'all'}",
        design_note(report),
        f"sessions: {report.sessions}  with a known outcome: {report.sessions_with_outcome}",
    ]
    if report.missing_tables:
        lines.append(f"missing tables (not written yet): {', '.join(report.missing_tables)}")
    counts = report.verdicts()
    lines.append("skills: " + "  ".join(f"{k}={v}" for k, v in counts.items()))
    lines.append(assignment_note(report))
    lines.append("")
    lines += headline_lines(report)
    header = (f"{'workspace/skill':<40} {'v':>3} {'present':>16} {'held out':>16} "
              f"{'agent-periods':>13} {'outcomes':>11} {'effect [sequence]':<30} "
              f"{'verdict':<21} plan ({report.planning_effect * 100:.0f}pp)")
    lines += [f"Skill effects: intention to treat, present minus held out "
              f"({report.confidence:.0%} anytime-valid sequences); plan = days until a "
              f"+-{report.planning_effect * 100:.0f}pp effect would be declared at current "
              "traffic", header, "-" * len(header)]
    if not report.effects:
        lines.append("no skills in scope")
    for e in report.effects:
        name = f"{e.workspace_id}/{e.skill_name}"[-40:]
        coverage = f"{e.present.coverage:.0%}/{e.held_out.coverage:.0%}"
        lines.append(
            f"{name:<40} {e.version:>3} "
            f"{e.present.successes:>5}/{e.present.known:<5}{_pct(_rate_of(e.present))} "
            f"{e.held_out.successes:>5}/{e.held_out.known:<5}{_pct(_rate_of(e.held_out))} "
            f"{e.present.clusters:>6}/{e.held_out.clusters:<6} {coverage:>11} "
            f"{effect_cell(e):<30} {e.verdict.value:<21} {plan_cell(e, report.planning_effect)}")
        extra = [f"why: {e.reason}"]
        if e.retired_at is not None:
            extra.append(("superseded " if e.superseded else "retired ")
                         + f"{e.retired_at:%Y-%m-%d %H:%M}")
        extra.append(f"SRM p {e.srm.p_value:.3g}")
        extra.append(f"invoked vs not (non-randomized) {invoked_cell(e, report.min_clusters)}")
        lines.append("    " + " · ".join(extra))
    if report.assignment_mismatches:
        lines += ["", "Assignment mismatches (recorded cohort differs from the switchback hash; "
                      "counted in the recorded cohort):"]
        lines += [f"  {k}: {n} sessions" for k, n in sorted(report.assignment_mismatches.items())]
    if report.cohort_disagreements:
        lines += ["", "Holdout disagreements (recorded cohort differs from the assignment):"]
        lines += [f"  {k}: {n} exposure rows" for k, n in sorted(report.cohort_disagreements.items())]
    lines += ["", f"Success rate per {report.period} (Wilson {report.confidence:.0%} interval "
                  "of each period; descriptive)"]
    for ws, points in report.workspace_series.items():
        lines.append(f"  {ws}")
        for p in points[-max_periods:]:
            shown = (f"{p.successes:>6}/{p.known:<6} {p.rate.estimate:6.1%} "
                     f"[{p.rate.low:.1%}, {p.rate.high:.1%}]" if p.sufficient
                     else f"{p.successes:>6}/{p.known:<6} insufficient data")
            lines.append(f"    {p.period_start:%Y-%m-%d}  {shown}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- HTML


_CSS = ("body{font-family:system-ui,sans-serif;margin:24px;color:#222}"
        "table{border-collapse:collapse;font-size:12px}td,th{padding:3px 8px;"
        "border-bottom:1px solid #eee;text-align:right}td:first-child,th:first-child"
        "{text-align:left}td.why{text-align:left;color:#555;max-width:360px}"
        ".harmful{color:#d62728}.effective{color:#2ca02c}"
        ".insufficient_data{color:#999}.sample_ratio_mismatch{color:#ff7f0e}"
        ".note{color:#666;font-size:12px;max-width:900px}")


def render_html(report: MeasureReport) -> str:
    """One self-contained page: inline CSS and SVG, no script, no external asset."""
    counts = report.verdicts()
    rows = []
    for e in report.effects:
        rows.append(
            f"<tr class='{e.verdict.value}'><td>{escape(e.workspace_id)}/{escape(e.skill_name)}</td>"
            f"<td>{e.version}</td><td>{e.present.successes}/{e.present.known} "
            f"({_pct(_rate_of(e.present)).strip()})</td>"
            f"<td>{e.held_out.successes}/{e.held_out.known} "
            f"({_pct(_rate_of(e.held_out)).strip()})</td>"
            f"<td>{e.present.clusters}/{e.held_out.clusters}</td>"
            f"<td>{e.present.agents}/{e.held_out.agents}</td>"
            f"<td>{e.present.coverage:.0%}/{e.held_out.coverage:.0%}</td>"
            f"<td>{escape(effect_cell(e))}</td><td>{e.verdict.value}</td>"
            f"<td class='why'>{escape(e.reason)}</td>"
            f"<td>{escape(plan_cell(e, report.planning_effect))}</td>"
            f"<td>{e.srm.p_value:.3g}</td>"
            f"<td>{escape(invoked_cell(e, report.min_clusters))}</td></tr>")
    charts = [plots.svg_rate_chart({ws: pts}, f"Success rate per {report.period}: {ws}")
              for ws, pts in report.workspace_series.items()]
    if not charts:
        charts.append(plots.svg_rate_chart({}, "Success rate: no sessions"))
    cohort_charts = [plots.svg_rate_chart(groups, f"{key}: present vs held out")
                     for key, groups in report.cohort_series.items()]
    missing = (f"<p class='note'>Missing tables (not written yet): "
               f"{escape(', '.join(report.missing_tables))}</p>" if report.missing_tables else "")
    return "".join([
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Hivemind measure report {report.generated_at:%Y-%m-%d}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Hivemind measure report</h1><p>{report.generated_at:%Y-%m-%d %H:%M} UTC · "
        f"workspace {escape(report.workspace or 'all')} · {report.sessions} sessions, "
        f"{report.sessions_with_outcome} with a known outcome</p>", missing,
        f"<p class='note'>{escape(design_note(report))}</p>",
        "<p>Skills: " + " · ".join(f"{escape(k)} {v}" for k, v in counts.items()) + "</p>",
        f"<p class='note'>{escape(assignment_note(report))}</p>",
        _headline_html(report),
        "<h2>Effect per skill version (intention to treat)</h2>",
        "<p class='note'>Effect = success rate of sessions whose agent had the skill minus "
        "that of sessions whose agent was held out of it that period (switchback: every "
        "agent is re-drawn each period, so agents are compared with themselves). Intervals "
        "are anytime-valid confidence sequences over agent-periods (cluster-robust, "
        "small-sample corrected): they stay valid however often this page is recomputed. "
        "A verdict also needs enough agent-periods per cohort and false-discovery control "
        "across the workspace's skills. Plan: days until an effect of "
        f"±{report.planning_effect * 100:.0f}pp would be declared (80 %) at current "
        "traffic. Invoked vs not is <b>non-randomized</b>: agents choose when to load a "
        "skill, so that difference mixes the skill's effect with the kind of task.</p>",
        plots.svg_forest(report.effects, "Effect on success rate, present minus held out"),
        "<table><tr><th>skill</th><th>v</th><th>present</th><th>held out</th>"
        "<th>agent-periods (p/h)</th><th>agents (p/h)</th><th>outcome coverage (p/h)</th>"
        "<th>effect [sequence]</th><th>verdict</th><th>why</th><th>plan</th><th>SRM p</th>"
        "<th>invoked vs not (non-randomized)</th></tr>", *rows, "</table>",
        _disagreements_html(report),
        f"<h2>Success rate per {report.period}</h2><p class='note'>Descriptive: each "
        "period's Wilson interval, sessions treated as independent.</p>", *charts,
        "<h2>Cohorts over time</h2>" if cohort_charts else "", *cohort_charts,
        "</body></html>\n",
    ])


def _headline_html(report: MeasureReport) -> str:
    """The before/after table (the text report's headline) with its honest verdicts."""
    if not report.changes:
        return ""
    rows = "".join(
        f"<tr><td>{escape(c.workspace_id)}</td><td>{escape(c.metric)}</td>"
        f"<td>{c.before_period:%Y-%m-%d}: {_pct(c.before.estimate).strip()} (n={c.before_trials})</td>"
        f"<td>{c.after_period:%Y-%m-%d}: {_pct(c.after.estimate).strip()} (n={c.after_trials})</td>"
        f"<td>{_pp(c.difference.estimate)} [{_pp(c.difference.low)}, {_pp(c.difference.high)}]</td>"
        f"<td>{escape(c.verdict.value)}</td></tr>" for c in report.changes)
    return (f"<h2>Headline: first {report.period} against the last</h2><p class='note'>One "
            f"fixed-sample {report.confidence:.0%} interval of the difference (Newcombe); "
            "descriptive: only time separates the two periods. An interval that covers 0 "
            "reads <i>no detectable change</i>.</p><table><tr><th>workspace</th><th>metric</th>"
            f"<th>first</th><th>last</th><th>difference</th><th>verdict</th></tr>{rows}</table>")


def _disagreements_html(report: MeasureReport) -> str:
    return _mismatches_html(report) + _jsonl_disagreements_html(report)


def _mismatches_html(report: MeasureReport) -> str:
    if not report.assignment_mismatches:
        return ""
    items = "".join(f"<li>{escape(k)}: {n} sessions</li>"
                    for k, n in sorted(report.assignment_mismatches.items()))
    return ("<h3>Assignment mismatches</h3><p class='note'>These sessions recorded a cohort "
            "the switchback hash did not give them for their period (a machine whose files "
            "were last synced in an earlier period); they are counted in the recorded cohort:"
            f"</p><ul>{items}</ul>")


def _jsonl_disagreements_html(report: MeasureReport) -> str:
    if not report.cohort_disagreements:
        return ""
    items = "".join(f"<li>{escape(k)}: {n} exposure rows</li>"
                    for k, n in sorted(report.cohort_disagreements.items()))
    return ("<h3>Holdout disagreements</h3><p class='note'>The sync recorded these sessions "
            f"in the cohort the assignment did not give them:</p><ul>{items}</ul>")


def write_pngs(report: MeasureReport, directory: Path) -> list[Path]:
    """forest.png, rate-<workspace>.png and cohorts-<workspace>-<skill>.png in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    out = [plots.png_forest(report.effects, "Effect on success rate, present minus held out",
                            directory / "forest.png")]
    for ws, pts in report.workspace_series.items():
        out.append(plots.png_rate_chart({ws: pts}, f"Success rate per {report.period}: {ws}",
                                        directory / f"rate-{_safe(ws)}.png"))
    for key, groups in report.cohort_series.items():
        out.append(plots.png_rate_chart(groups, f"{key}: present vs held out",
                                        directory / f"cohorts-{_safe(key)}.png"))
    return out


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in name)


# ---------------------------------------------------------------- metrics


def publish_metrics(report: MeasureReport, duration_s: float) -> None:
    from hivemind_kafka.analytics import metrics

    metrics.initialise()
    for verdict, n in report.verdicts().items():
        metrics.SKILLS.labels(verdict=verdict).set(n)
    live = [e for e in report.effects if e.retired_at is None]
    for cohort in metrics.COHORTS:
        counts = [getattr(e, cohort) for e in live]
        known = sum(c.known for c in counts)
        total = sum(c.sessions for c in counts)
        metrics.KNOWN_SESSIONS.labels(cohort=cohort).set(known)
        metrics.CLUSTERS.labels(cohort=cohort).set(sum(c.clusters for c in counts))
        metrics.SUCCESS_RATE.labels(cohort=cohort).set(
            sum(c.successes for c in counts) / known if known else math.nan)
        metrics.OUTCOME_COVERAGE.labels(cohort=cohort).set(known / total if total else math.nan)
    metrics.HOLDOUT_SHARE.set(report.held_out_share)
    metrics.LAST_RUN.set(report.generated_at.timestamp())
    metrics.RUN_SECONDS.set(duration_s)


__all__ = ["MeasureReport", "build_report", "period_start", "publish_metrics", "render_html",
           "render_text", "write_pngs"]
