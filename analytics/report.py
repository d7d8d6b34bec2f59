"""The measure report: per-skill effects and success rates over time, as text, HTML, PNG.

``build_report(tables, ...)`` runs the attribution (analytics.attribution) over the four
tables and returns a :class:`MeasureReport`; the renderers only format it:

* :func:`render_text` — terminal tables (skills by verdict and effect, rates per period);
* :func:`render_html` — one self-contained page (inline SVG, no external asset);
* :func:`write_pngs` — the same charts as PNG files;
* :func:`publish_metrics` — the low-cardinality gauges of analytics.metrics.

Cohorts: where the exposures table holds a session's recorded cohort for a skill, that is
its assignment; elsewhere the holdout hash is (the report says how many of each, and lists
sessions whose recorded cohort the hash contradicts as assignment mismatches).

"insufficient data" is printed wherever a cohort is below the minimum sample; nothing is
smoothed; the invoked-vs-not comparison is always labelled non-randomized.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from html import escape
from pathlib import Path

import pyarrow as pa
from msgspec import Struct

from analytics import plots
from analytics.attribution import (
    RatePoint,
    SkillEffect,
    Verdict,
    cohort_disagreements,
    cohort_series,
    invoked_sessions,
    rate_series,
    recorded_cohorts,
    session_results,
    skill_effects,
    skill_windows,
    verdict_counts,
)
from analytics.lake import MeasureTables
from analytics.stats import DEFAULT_CONFIDENCE, MIN_SAMPLE_PER_COHORT
from schemas.holdout import DEFAULT_HOLDOUT_SHARE

MAX_COHORT_CHARTS = 8
ORDER = {Verdict.HARMFUL: 0, Verdict.SAMPLE_RATIO_MISMATCH: 1, Verdict.EFFECTIVE: 2,
         Verdict.NO_DETECTABLE_EFFECT: 3, Verdict.INSUFFICIENT_DATA: 4}


class MeasureReport(Struct, frozen=True, kw_only=True):
    generated_at: datetime
    workspace: str | None
    period: str
    confidence: float
    held_out_share: float
    min_sample: int
    sessions: int
    sessions_with_outcome: int
    effects: list[SkillEffect]
    workspace_series: dict[str, list[RatePoint]]
    cohort_series: dict[str, dict[str, list[RatePoint]]]  # "<ws>/<skill>" -> group -> points
    missing_tables: list[str]
    # "<ws>/<skill>" -> rows of the sync's local exposures.jsonl whose cohort contradicts
    # the holdout hash.
    cohort_disagreements: dict[str, int] = {}
    # Session x skill pairs in scope whose cohort came from a recorded exposure / the hash.
    recorded_assignments: int = 0
    hash_assignments: int = 0
    # "<ws>/<skill>" -> sessions whose recorded cohort the holdout hash contradicts (they
    # stay in their recorded cohort).
    assignment_mismatches: dict[str, int] = {}

    def verdicts(self) -> dict[str, int]:
        return verdict_counts(self.effects)


def build_report(tables: MeasureTables, *, workspace: str | None = None, period: str = "day",
                 held_out_share: float = DEFAULT_HOLDOUT_SHARE,
                 confidence: float = DEFAULT_CONFIDENCE,
                 min_sample: int = MIN_SAMPLE_PER_COHORT,
                 now: datetime | None = None,
                 recorded_exposures: pa.Table | None = None) -> MeasureReport:
    """Cohorts from the exposures table's recorded cohorts, else the holdout hash (module
    doc). ``recorded_exposures``: the sync's local rows (``<home>/exposures.jsonl``), used
    only to check that their cohorts match the hash."""
    now = now or datetime.now(UTC)
    sessions = tables.sessions if tables.sessions is not None else _empty_sessions()
    results = session_results(sessions, tables.outcomes)
    if workspace:
        results = [r for r in results if r.workspace_id == workspace]
    windows = skill_windows(tables.skills) if tables.skills is not None else []
    if workspace:
        windows = [w for w in windows if w.workspace_id == workspace]
    recorded = recorded_cohorts(tables.exposures)
    effects = skill_effects(results, windows, invoked=invoked_sessions(tables.exposures),
                            recorded=recorded, held_out_share=held_out_share,
                            confidence=confidence, min_sample=min_sample)
    effects.sort(key=lambda e: (ORDER[e.verdict], _sort_effect(e), e.workspace_id, e.skill_name))
    ws_series: dict[str, list[RatePoint]] = {}
    for p in rate_series(results, period=period, confidence=confidence, min_sample=min_sample):
        ws_series.setdefault(p.group, []).append(p)
    by_key = {(w.workspace_id, w.skill_name): w for w in windows}
    charted = sorted((e for e in effects if e.verdict != Verdict.INSUFFICIENT_DATA),
                     key=lambda e: -(e.present.known + e.held_out.known))[:MAX_COHORT_CHARTS]
    cohorts: dict[str, dict[str, list[RatePoint]]] = {}
    for e in charted:
        groups: dict[str, list[RatePoint]] = {}
        for p in cohort_series(results, by_key[(e.workspace_id, e.skill_name)], period=period,
                               held_out_share=held_out_share, confidence=confidence,
                               min_sample=min_sample, recorded=recorded):
            groups.setdefault(p.group.rsplit("/", 1)[-1], []).append(p)
        cohorts[f"{e.workspace_id}/{e.skill_name}"] = {
            g: groups[g] for g in ("present", "held_out") if g in groups}
    disagreements: dict[str, int] = {}
    for (ws, name), n in cohort_disagreements(recorded_exposures,
                                              held_out_share=held_out_share).items():
        if workspace in (None, ws):
            disagreements[f"{ws}/{name}"] = disagreements.get(f"{ws}/{name}", 0) + n
    return MeasureReport(
        cohort_disagreements=disagreements,
        recorded_assignments=sum(e.recorded_sessions for e in effects),
        hash_assignments=sum(e.hash_sessions for e in effects),
        assignment_mismatches={f"{e.workspace_id}/{e.skill_name}": e.assignment_mismatches
                               for e in effects if e.assignment_mismatches},
        generated_at=now, workspace=workspace, period=period, confidence=confidence,
        held_out_share=held_out_share, min_sample=min_sample, sessions=len(results),
        sessions_with_outcome=sum(r.result.value != "unknown" for r in results),
        effects=effects, workspace_series=ws_series, cohort_series=cohorts,
        missing_tables=tables.missing(),
    )


def _sort_effect(e: SkillEffect) -> float:
    return 0.0 if math.isnan(e.effect.estimate) else e.effect.estimate


def _empty_sessions() -> pa.Table:
    return pa.table({"workspace_id": pa.array([], pa.string()),
                     "session_id": pa.array([], pa.string()),
                     "agent_id": pa.array([], pa.string()),
                     "started_at": pa.array([], pa.timestamp("us", tz="UTC"))})


# ---------------------------------------------------------------- text


def assignment_note(report: MeasureReport) -> str:
    """One line saying where the cohorts came from."""
    rec, by_hash = report.recorded_assignments, report.hash_assignments
    if rec == 0:
        return ("cohorts: assigned from the holdout hash (no exposure with a recorded cohort "
                "in the lake)")
    mismatched = sum(report.assignment_mismatches.values())
    return (f"cohorts: {rec} session-skill pairs from recorded exposures "
            f"({mismatched} contradict the holdout hash), {by_hash} from the holdout hash "
            "(nothing recorded for them)")


def _pct(v: float) -> str:
    return "   n/a" if math.isnan(v) else f"{v:6.1%}"


def _pp(v: float) -> str:
    return "n/a" if math.isnan(v) else f"{v * 100:+.1f}pp"


def effect_cell(e: SkillEffect) -> str:
    if e.verdict == Verdict.INSUFFICIENT_DATA:
        return "insufficient data"
    return f"{_pp(e.effect.estimate)} [{_pp(e.effect.low)}, {_pp(e.effect.high)}]"


def invoked_cell(e: SkillEffect, min_sample: int) -> str:
    if min(e.invoked.known, e.not_invoked.known) < min_sample:
        return "insufficient data"
    return f"{_pp(e.invoked_effect.estimate)} [{_pp(e.invoked_effect.low)}, {_pp(e.invoked_effect.high)}]"


def render_text(report: MeasureReport, *, max_periods: int = 14) -> str:
    lines = [
        f"Hivemind measure report  {report.generated_at:%Y-%m-%d %H:%M} UTC"
        f"  workspace={report.workspace or 'all'}  holdout={report.held_out_share:.0%}"
        f"  confidence={report.confidence:.0%}  min sample={report.min_sample}/cohort",
        f"sessions: {report.sessions}  with a known outcome: {report.sessions_with_outcome}",
    ]
    if report.missing_tables:
        lines.append(f"missing tables (not written yet): {', '.join(report.missing_tables)}")
    counts = report.verdicts()
    lines.append("skills: " + "  ".join(f"{k}={v}" for k, v in counts.items()))
    lines.append(assignment_note(report))
    lines.append("")
    header = (f"{'workspace/skill':<40} {'v':>3} {'present':>16} {'held out':>16} "
              f"{'agents':>9} {'deff':>9} {'effect (ITT) [CI]':<30} {'verdict':<22} {'SRM p':>7}  "
              "invoked vs not (non-randomized)")
    lines += ["Skill effects: intention to treat, present minus held out", header, "-" * len(header)]
    if not report.effects:
        lines.append("no skills in scope")
    for e in report.effects:
        name = f"{e.workspace_id}/{e.skill_name}"[-40:]
        lines.append(
            f"{name:<40} {e.version:>3} "
            f"{e.present.successes:>5}/{e.present.known:<5}{_pct(e.present.rate().estimate)} "
            f"{e.held_out.successes:>5}/{e.held_out.known:<5}{_pct(e.held_out.rate().estimate)} "
            f"{e.present.agents:>4}/{e.held_out.agents:<4} "
            f"{e.present.design_effect:>4.1f}/{e.held_out.design_effect:<4.1f} "
            f"{effect_cell(e):<30} {e.verdict.value:<22} {e.srm.p_value:>7.3g}  "
            f"{invoked_cell(e, report.min_sample)}")
    if report.assignment_mismatches:
        lines += ["", "Assignment mismatches (recorded cohort differs from the holdout hash; "
                      "counted in the recorded cohort):"]
        lines += [f"  {k}: {n} sessions" for k, n in sorted(report.assignment_mismatches.items())]
    if report.cohort_disagreements:
        lines += ["", "Holdout disagreements (recorded cohort differs from the assignment):"]
        lines += [f"  {k}: {n} exposure rows" for k, n in sorted(report.cohort_disagreements.items())]
    lines += ["", f"Success rate per {report.period} (Wilson {report.confidence:.0%} CI)"]
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
        "{text-align:left}.harmful{color:#d62728}.effective{color:#2ca02c}"
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
            f"({_pct(e.present.rate().estimate).strip()})</td>"
            f"<td>{e.held_out.successes}/{e.held_out.known} "
            f"({_pct(e.held_out.rate().estimate).strip()})</td>"
            f"<td>{e.present.agents}/{e.held_out.agents}</td>"
            f"<td>{e.present.design_effect:.1f}/{e.held_out.design_effect:.1f}</td>"
            f"<td>{escape(effect_cell(e))}</td><td>{e.verdict.value}</td>"
            f"<td>{e.srm.p_value:.3g}</td><td>{escape(invoked_cell(e, report.min_sample))}</td></tr>")
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
        f"{report.sessions_with_outcome} with a known outcome · holdout "
        f"{report.held_out_share:.0%} · {report.confidence:.0%} intervals · minimum "
        f"{report.min_sample} sessions per cohort</p>", missing,
        "<p>Skills: " + " · ".join(f"{escape(k)} {v}" for k, v in counts.items()) + "</p>",
        f"<p class='note'>{escape(assignment_note(report))}</p>",
        "<h2>Effect per skill (intention to treat)</h2>",
        "<p class='note'>Effect = success rate of sessions whose agent has the skill minus "
        "that of agents randomly held out of it (Newcombe interval on counts divided by the "
        "per-agent design effect: sessions of one agent are not independent). Invoked vs not is "
        "<b>non-randomized</b>: agents choose when to load a skill, so that difference mixes "
        "the skill's effect with the kind of task.</p>",
        plots.svg_forest(report.effects, "Effect on success rate, present minus held out"),
        "<table><tr><th>skill</th><th>v</th><th>present</th><th>held out</th>"
        "<th>agents (p/h)</th><th>design effect (p/h)</th><th>effect [CI]</th><th>verdict</th><th>SRM p</th>"
        "<th>invoked vs not (non-randomized)</th></tr>", *rows, "</table>",
        _disagreements_html(report),
        f"<h2>Success rate per {report.period}</h2>", *charts,
        "<h2>Cohorts over time</h2>" if cohort_charts else "", *cohort_charts,
        "</body></html>\n",
    ])


def _disagreements_html(report: MeasureReport) -> str:
    return _mismatches_html(report) + _jsonl_disagreements_html(report)


def _mismatches_html(report: MeasureReport) -> str:
    if not report.assignment_mismatches:
        return ""
    items = "".join(f"<li>{escape(k)}: {n} sessions</li>"
                    for k, n in sorted(report.assignment_mismatches.items()))
    return ("<h3>Assignment mismatches</h3><p class='note'>These sessions recorded a cohort "
            "the holdout hash did not give them; they are counted in the recorded cohort:"
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
    from analytics import metrics

    metrics.initialise()
    for verdict, n in report.verdicts().items():
        metrics.SKILLS.labels(verdict=verdict).set(n)
    for cohort in metrics.COHORTS:
        counts = [getattr(e, cohort) for e in report.effects]
        known = sum(c.known for c in counts)
        total = sum(c.sessions for c in counts)
        metrics.KNOWN_SESSIONS.labels(cohort=cohort).set(known)
        metrics.SUCCESS_RATE.labels(cohort=cohort).set(
            sum(c.successes for c in counts) / known if known else math.nan)
        metrics.OUTCOME_COVERAGE.labels(cohort=cohort).set(known / total if total else math.nan)
    metrics.LAST_RUN.set(report.generated_at.timestamp())
    metrics.RUN_SECONDS.set(duration_s)
