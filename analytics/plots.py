"""Plots of the measure report: inline SVG (no dependency) and PNG (matplotlib, Agg).

Honest by construction: rates are drawn on a fixed 0..1 axis (a flat rate stays a flat
line; noise is not magnified), points are joined as measured (no smoothing), the band is
the Wilson interval of each point, and points below the minimum sample are drawn hollow
and grey, labelled "insufficient data", and left out of the line and band. A chart with
no sufficient point says "insufficient data" instead of drawing a line. The forest plot
shows every skill version's anytime-valid interval on an axis symmetric around 0 (its
tooltip says the verdict and why) and writes "insufficient data" with the agent-periods
per cohort where a skill has too few for a verdict.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from html import escape
from pathlib import Path

from hivemind_kafka.analytics.attribution import RatePoint, SkillEffect, Verdict

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf"]
VERDICT_COLOURS = {
    Verdict.EFFECTIVE: "#2ca02c",
    Verdict.HARMFUL: "#d62728",
    Verdict.NO_DETECTABLE_EFFECT: "#555555",
    Verdict.SAMPLE_RATIO_MISMATCH: "#ff7f0e",
    Verdict.INSUFFICIENT_DATA: "#aaaaaa",
}
INSUFFICIENT = "#bbbbbb"


def sufficient_runs(points: Sequence[RatePoint]) -> list[list[RatePoint]]:
    """Consecutive sufficient points: a line never bridges an insufficient period."""
    runs: list[list[RatePoint]] = [[]]
    for p in points:
        if p.sufficient:
            runs[-1].append(p)
        elif runs[-1]:
            runs.append([])
    return [r for r in runs if r]


def _x_scale(points: Sequence[RatePoint], left: float, right: float):
    times = sorted({p.period_start for p in points})
    t0, t1 = times[0].timestamp(), times[-1].timestamp()
    span = (t1 - t0) or 1.0

    def x(ts: datetime) -> float:
        if t1 == t0:
            return (left + right) / 2
        return left + (ts.timestamp() - t0) / span * (right - left)

    return x, times


def svg_rate_chart(series: dict[str, list[RatePoint]], title: str, *, width: int = 760,
                   height: int = 260) -> str:
    """Success rate over time with CI bands, one colour per group."""
    left, right, top, bottom = 48, width - 150, 28, height - 34
    all_points = [p for pts in series.values() for p in pts]
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
             f'<text x="{left}" y="18" font-size="13" font-weight="bold">{escape(title)}</text>']

    def y(v: float) -> float:
        return bottom - v * (bottom - top)

    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        parts.append(f'<line x1="{left}" x2="{right}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
                     f'stroke="#e5e5e5"/><text x="{left - 6}" y="{y(tick) + 4:.1f}" '
                     f'font-size="10" text-anchor="end">{tick:.0%}</text>')
    if not any(p.sufficient for p in all_points):
        parts.append(f'<text x="{(left + right) / 2}" y="{(top + bottom) / 2}" font-size="14" '
                     f'text-anchor="middle" fill="#888">insufficient data</text></svg>')
        return "".join(parts)
    x, times = _x_scale(all_points, left, right)
    for ts in (times[0], times[len(times) // 2], times[-1]):
        parts.append(f'<text x="{x(ts):.1f}" y="{bottom + 16}" font-size="10" '
                     f'text-anchor="middle">{ts:%Y-%m-%d}</text>')
    for i, (group, points) in enumerate(series.items()):
        colour = PALETTE[i % len(PALETTE)]
        for good in sufficient_runs(points):
            upper = " ".join(f"{x(p.period_start):.1f},{y(p.rate.high):.1f}" for p in good)
            lower = " ".join(f"{x(p.period_start):.1f},{y(p.rate.low):.1f}" for p in reversed(good))
            parts.append(f'<polygon points="{upper} {lower}" fill="{colour}" fill-opacity="0.15" '
                         'stroke="none"/>')
            line = " ".join(f"{x(p.period_start):.1f},{y(p.rate.estimate):.1f}" for p in good)
            parts.append(f'<polyline points="{line}" fill="none" stroke="{colour}" '
                         'stroke-width="1.8"/>')
        for p in points:
            cx, cy = x(p.period_start), y(0.0 if math.isnan(p.rate.estimate) else p.rate.estimate)
            label = (f"{group} {p.period_start:%Y-%m-%d}: {p.successes}/{p.known} = "
                     f"{p.rate.estimate:.1%} [{p.rate.low:.1%}, {p.rate.high:.1%}]"
                     if p.sufficient else
                     f"{group} {p.period_start:%Y-%m-%d}: insufficient data ({p.known} sessions)")
            fill, stroke = (colour, colour) if p.sufficient else ("white", INSUFFICIENT)
            parts.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="2.6" fill="{fill}" '
                         f'stroke="{stroke}"><title>{escape(label)}</title></circle>')
        parts.append(f'<rect x="{right + 12}" y="{top + 16 * i}" width="10" height="10" '
                     f'fill="{colour}"/><text x="{right + 26}" y="{top + 16 * i + 9}" '
                     f'font-size="11">{escape(group)}</text>')
    if any(not p.sufficient for p in all_points):
        n = len(series)
        parts.append(f'<circle cx="{right + 17}" cy="{top + 16 * n + 5}" r="3" fill="white" '
                     f'stroke="{INSUFFICIENT}"/><text x="{right + 26}" y="{top + 16 * n + 9}" '
                     'font-size="11" fill="#888">insufficient data</text>')
    parts.append("</svg>")
    return "".join(parts)


def _forest_limit(effects: Sequence[SkillEffect]) -> float:
    ends = [abs(v) for e in effects if e.verdict != Verdict.INSUFFICIENT_DATA
            for v in (e.effect.low, e.effect.high) if not math.isnan(v)]
    return max([0.05, *ends]) * 1.1


def svg_forest(effects: Sequence[SkillEffect], title: str, *, width: int = 760) -> str:
    """Effect (present - held out) with its interval, one row per skill."""
    row, top, label_w = 18, 30, 260
    height = top + row * max(1, len(effects)) + 34
    left, right = label_w, width - 120
    limit = _forest_limit(effects)

    def x(v: float) -> float:
        return left + (v + limit) / (2 * limit) * (right - left)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
             f'<text x="8" y="18" font-size="13" font-weight="bold">{escape(title)}</text>',
             f'<line x1="{x(0):.1f}" x2="{x(0):.1f}" y1="{top - 6}" y2="{height - 28}" '
             'stroke="#444" stroke-dasharray="3,3"/>']
    for tick in (-limit, -limit / 2, 0.0, limit / 2, limit):
        parts.append(f'<text x="{x(tick):.1f}" y="{height - 12}" font-size="10" '
                     f'text-anchor="middle">{tick * 100:+.0f}pp</text>')
    if not effects:
        parts.append(f'<text x="{x(0):.1f}" y="{top + 10}" font-size="13" fill="#888" '
                     'text-anchor="middle">no skills in scope</text>')
    for i, e in enumerate(effects):
        cy = top + row * i + row / 2
        name = f"{e.workspace_id}/{e.skill_name}"
        parts.append(f'<text x="{left - 8}" y="{cy + 4:.1f}" font-size="11" '
                     f'text-anchor="end">{escape(name[-40:])}</text>')
        colour = VERDICT_COLOURS[e.verdict]
        if e.verdict == Verdict.INSUFFICIENT_DATA:
            parts.append(f'<text x="{x(0) + 6:.1f}" y="{cy + 4:.1f}" font-size="11" '
                         f'fill="{colour}">insufficient data ({e.present.clusters} vs '
                         f'{e.held_out.clusters} agent-periods)</text>')
            continue
        tip = (f"{name} v{e.version}: {e.effect.estimate * 100:+.1f}pp "
               f"[{e.effect.low * 100:+.1f}, {e.effect.high * 100:+.1f}] {e.verdict.value}: "
               f"{e.reason}")
        parts.append(f'<g><title>{escape(tip)}</title>'
                     f'<line x1="{x(e.effect.low):.1f}" x2="{x(e.effect.high):.1f}" '
                     f'y1="{cy:.1f}" y2="{cy:.1f}" stroke="{colour}" stroke-width="2"/>'
                     f'<circle cx="{x(e.effect.estimate):.1f}" cy="{cy:.1f}" r="3.5" '
                     f'fill="{colour}"/></g>'
                     f'<text x="{right + 8}" y="{cy + 4:.1f}" font-size="10" fill="{colour}">'
                     f'{escape(e.verdict.value)}</text>')
    parts.append("</svg>")
    return "".join(parts)


# ---------------------------------------------------------------- PNG (matplotlib)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def png_rate_chart(series: dict[str, list[RatePoint]], title: str, path: Path) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 3.2))
    all_points = [p for pts in series.values() for p in pts]
    if not any(p.sufficient for p in all_points):
        ax.text(0.5, 0.5, "insufficient data", ha="center", va="center", color="grey",
                transform=ax.transAxes)
    for i, (group, points) in enumerate(series.items()):
        colour = PALETTE[i % len(PALETTE)]
        for n, good in enumerate(sufficient_runs(points)):
            xs = [p.period_start for p in good]
            ax.fill_between(xs, [p.rate.low for p in good], [p.rate.high for p in good],
                            color=colour, alpha=0.15, linewidth=0)
            ax.plot(xs, [p.rate.estimate for p in good], color=colour, marker="o",
                    markersize=3, label=group if n == 0 else None)
            # A band needs two periods; every point also carries its own interval bar, so a
            # lone period still shows its uncertainty.
            ax.vlines(xs, [p.rate.low for p in good], [p.rate.high for p in good],
                      color=colour, linewidth=1.2)
        thin = [p for p in points if not p.sufficient]
        if thin:
            ax.scatter([p.period_start for p in thin],
                       [0.0 if math.isnan(p.rate.estimate) else p.rate.estimate for p in thin],
                       facecolors="white", edgecolors=INSUFFICIENT, s=14,
                       label=f"{group}: insufficient data")
    ax.set_ylim(0, 1)
    if all_points:
        # Pad the time axis by a period: one period alone otherwise spans years.
        starts = [p.period_start for p in all_points]
        pad = timedelta(days=1) if len(set(starts)) == 1 else (max(starts) - min(starts)) / 20
        ax.set_xlim(min(starts) - pad, max(starts) + pad)
    ax.set_ylabel("success rate")
    ax.set_title(title, fontsize=10)
    if all_points:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def png_forest(effects: Sequence[SkillEffect], title: str, path: Path) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 0.8 + 0.24 * max(1, len(effects))))
    limit = _forest_limit(effects)
    for i, e in enumerate(effects):
        colour = VERDICT_COLOURS[e.verdict]
        if e.verdict == Verdict.INSUFFICIENT_DATA:
            ax.text(0, i, " insufficient data", va="center", fontsize=7, color=colour)
            continue
        ax.plot([e.effect.low, e.effect.high], [i, i], color=colour, linewidth=2)
        ax.plot([e.effect.estimate], [i], "o", color=colour, markersize=4)
    ax.axvline(0, color="#444", linestyle="--", linewidth=1)
    ax.set_xlim(-limit, limit)
    ax.set_yticks(range(len(effects)))
    ax.set_yticklabels([f"{e.workspace_id}/{e.skill_name}"[-40:] for e in effects], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("effect on success rate (present - held out)")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
